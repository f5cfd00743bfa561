//! The pipeline of one sync: raw resources from the source thread in batches, mapped,
//! encoded and hashed (and sealed) on worker threads, handed back in their original order,
//! with the tally of what each batch rejected, warned about, ignored or dropped.

use super::*;

/// One batch travelling through the pipeline. Upserted resources are copied into one
/// buffer on the source thread (which frees its own per-resource allocation at once, a
/// cheap same-thread free) instead of travelling, and being freed, one by one.
pub(super) struct RawBatch {
    pub(super) seq: u64,
    pub(super) bytes: Vec<u8>,
    pub(super) entries: Vec<RawEntry>,
}

pub(super) enum RawEntry {
    /// `bytes[start..end]`.
    Upsert {
        start: usize,
        end: usize,
    },
    Delete {
        resource_type: String,
        id: String,
    },
}

impl RawBatch {
    pub(super) fn new(seq: u64) -> RawBatch {
        RawBatch {
            seq,
            bytes: Vec::with_capacity(BATCH_BYTES + 64 * 1024),
            entries: Vec::with_capacity(BATCH_CHANGES),
        }
    }

    pub(super) fn push(&mut self, c: Change) {
        match c {
            Change::Upsert(b) => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(&b);
                self.entries.push(RawEntry::Upsert {
                    start,
                    end: self.bytes.len(),
                });
            }
            Change::Delete { resource_type, id } => {
                self.entries.push(RawEntry::Delete { resource_type, id })
            }
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.entries.len() >= BATCH_CHANGES || self.bytes.len() >= BATCH_BYTES
    }
}

#[derive(Default)]
pub(super) struct Tally {
    pub(super) rejects: BTreeMap<RejectReason, u64>,
    pub(super) reject_types: BTreeMap<(RejectReason, String), u64>,
    pub(super) warnings: BTreeMap<(WarningReason, ResourceType), u64>,
    pub(super) warned: u64,
    pub(super) ignored: BTreeMap<String, u64>,
    pub(super) dropped: BTreeMap<String, u64>,
    pub(super) places: PlaceBook,
    pub(super) logged: u32,
    pub(super) warnings_logged: u32,
}

impl Tally {
    pub(super) fn merge(&mut self, other: Tally) {
        fn add<K: Ord>(into: &mut BTreeMap<K, u64>, from: BTreeMap<K, u64>) {
            for (k, v) in from {
                *into.entry(k).or_default() += v;
            }
        }
        add(&mut self.rejects, other.rejects);
        add(&mut self.reject_types, other.reject_types);
        add(&mut self.warnings, other.warnings);
        add(&mut self.ignored, other.ignored);
        add(&mut self.dropped, other.dropped);
        self.warned += other.warned;
        self.places.extend(other.places);
    }

    pub(super) fn warn(&mut self, rtype: ResourceType, warnings: &[Warning]) {
        if warnings.is_empty() {
            return;
        }
        self.warned += 1;
        for w in warnings {
            *self.warnings.entry((w.reason, rtype)).or_default() += 1;
            if self.warnings_logged < LOG_REJECTS {
                self.warnings_logged += 1;
                tracing::info!(
                    reason = w.reason.name(),
                    resource_type = rtype.name(),
                    detail = %w.detail,
                    "kept a resource with a data-quality warning"
                );
            }
        }
    }
}

pub(super) struct PreparedBatch {
    pub(super) seq: u64,
    pub(super) items: Vec<Prepared>,
    /// In-house encounters that name Location resources: resolved into ward, room and
    /// bed once the whole pull (and its Locations) is in, then prepared. Each with the
    /// number of `items` that came before it in the pull.
    pub(super) held: Vec<(usize, Mapped)>,
    pub(super) tally: Tally,
}

/// Encounter statuses that place a patient in a bed now (the census).
pub(super) fn in_house(status: &str) -> bool {
    matches!(status, "in-progress" | "arrived" | "onleave" | "triaged")
}

/// Does this mapped resource wait for the pull's Locations before it is stored?
pub(super) fn waits_for_places(m: &Mapped) -> bool {
    matches!(&m.body, Body::Item(Item::Encounter(e)) if in_house(&e.status) && !e.location_ids.is_empty())
}

/// At most this many reject reasons are logged per sync (without patient data).
pub(super) const LOG_REJECTS: u32 = 10;
pub(super) const BATCH_CHANGES: usize = 2048;
pub(super) const BATCH_BYTES: usize = 4 * 1024 * 1024;

/// Run the source's pull, handing its changes on in batches until the pull ends, the
/// engine stops it (`stop`) or the sync is cancelled.
pub(super) fn pull_in_batches(
    source: &dyn Source,
    kind: PullKind,
    stop: &AtomicBool,
    cancel: &CancellationToken,
    raw_tx: SyncSender<RawBatch>,
) -> Result<PullSummary, SourceError> {
    let mut seq = 0u64;
    let mut batch = RawBatch::new(seq);
    let result = {
        let mut sink = |c: Change| -> Result<(), SinkStopped> {
            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                return Err(SinkStopped);
            }
            batch.push(c);
            if batch.is_full() {
                seq += 1;
                let full = std::mem::replace(&mut batch, RawBatch::new(seq));
                raw_tx.send(full).map_err(|_| SinkStopped)?;
            }
            Ok(())
        };
        source.pull(kind, cancel, &mut sink)
    };
    if result.is_ok() && !batch.entries.is_empty() {
        let _ = raw_tx.send(batch);
    }
    drop(raw_tx);
    result
}

pub(super) fn map_batch(preparer: &Preparer, ctx: &MapContext, batch: RawBatch) -> PreparedBatch {
    let mut tally = Tally::default();
    let mut items = Vec::with_capacity(batch.entries.len());
    let mut held = Vec::new();
    let mut mapped = Vec::new();
    for entry in batch.entries {
        match entry {
            RawEntry::Upsert { start, end } => {
                mapped.clear();
                match map_resource(&batch.bytes[start..end], ctx, &mut mapped) {
                    Ok(Outcome::Mapped) => {
                        for mut m in mapped.drain(..) {
                            tally.warn(m.rtype, &m.warnings);
                            match m.body {
                                Body::Retract(why) => {
                                    *tally.dropped.entry(why.name().to_string()).or_default() += 1;
                                }
                                Body::Place(place) => {
                                    tally.places.insert(place);
                                    continue;
                                }
                                Body::Item(_) => {}
                            }
                            if waits_for_places(&m) {
                                m.warnings.clear();
                                held.push((items.len(), m));
                            } else {
                                items.push(preparer.prepare(m));
                            }
                        }
                    }
                    Ok(Outcome::Ignored(t)) => *tally.ignored.entry(t).or_default() += 1,
                    Err(r) => {
                        if tally.logged < LOG_REJECTS {
                            tally.logged += 1;
                            tracing::warn!(
                                reason = r.reason.name(),
                                resource_type = %r.resource_type,
                                detail = %r.detail,
                                "rejected a resource"
                            );
                        }
                        *tally.rejects.entry(r.reason).or_default() += 1;
                        *tally
                            .reject_types
                            .entry((r.reason, r.resource_type))
                            .or_default() += 1;
                    }
                }
            }
            RawEntry::Delete { resource_type, id } => {
                if let Some(rtype) = ResourceType::from_name(&resource_type) {
                    items.push(Prepared {
                        rtype,
                        idh: preparer.keyer().id_hash(rtype, &id),
                        target: Target::Missing,
                        payload: None::<Payload>,
                        identifiers: Vec::new(),
                        encounter: None,
                    });
                }
            }
        }
    }
    PreparedBatch {
        seq: batch.seq,
        items,
        held,
        tally,
    }
}
