//! What the server holds: the current resources by type and id, the change history
//! (for `_history` and `$export?_since` deletions), Groups, paging cursors, export jobs,
//! faults and tokens; and the helpers every endpoint uses.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};

use super::export::BulkJob;
use super::guard::{FaultRule, RecordedRequest};
use super::{FhirServer, ServerOptions};
use crate::synth::{DeltaChange, Resource};

#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) last_updated: DateTime<FixedOffset>,
    pub(super) json: Arc<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub(super) struct History {
    pub(super) resource_type: String,
    pub(super) id: String,
    pub(super) at: DateTime<FixedOffset>,
    /// None: deleted.
    pub(super) json: Option<Arc<Vec<u8>>>,
}

#[derive(Default)]
pub(super) struct Data {
    pub(super) resources: BTreeMap<String, BTreeMap<String, Stored>>,
    pub(super) history: Vec<History>,
    pub(super) groups: HashMap<String, HashSet<String>>,
}

pub(super) struct Shared {
    pub(super) base: String,
    pub(super) opts: ServerOptions,
    pub(super) data: Mutex<Data>,
    pub(super) cursors: Mutex<HashMap<String, Arc<Vec<Vec<u8>>>>>,
    pub(super) jobs: Mutex<HashMap<String, BulkJob>>,
    pub(super) faults: Mutex<VecDeque<FaultRule>>,
    pub(super) malformed_lines: AtomicU32,
    pub(super) requests: Mutex<Vec<RecordedRequest>>,
    pub(super) tokens: Mutex<HashMap<String, DateTime<Utc>>>,
    pub(super) jtis: Mutex<HashSet<String>>,
    pub(super) tokens_issued: AtomicU64,
    pub(super) counter: AtomicU64,
}

impl Shared {
    pub(super) fn new(base: String, opts: ServerOptions) -> Shared {
        Shared {
            base,
            opts,
            data: Mutex::new(Data::default()),
            cursors: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
            faults: Mutex::new(VecDeque::new()),
            malformed_lines: AtomicU32::new(0),
            requests: Mutex::new(Vec::new()),
            tokens: Mutex::new(HashMap::new()),
            jtis: Mutex::new(HashSet::new()),
            tokens_issued: AtomicU64::new(0),
            counter: AtomicU64::new(0),
        }
    }
}

pub(super) fn now_jst() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::east_opt(9 * 3600).expect("offset"))
}

pub(super) fn instant(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

pub(super) fn outcome(status: StatusCode, text: &str) -> Response {
    let body = serde_json::json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": text}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

pub(super) fn new_id(shared: &Shared) -> String {
    let n = shared.counter.fetch_add(1, Ordering::SeqCst);
    format!("{n:x}{:x}", rand::random::<u32>())
}

impl FhirServer {
    /// Replace all data (no history).
    pub fn load(&self, resources: impl IntoIterator<Item = Resource>) {
        let mut d = self.shared.data.lock().unwrap_or_else(|e| e.into_inner());
        d.resources.clear();
        d.history.clear();
        for r in resources {
            d.resources
                .entry(r.resource_type.to_string())
                .or_default()
                .insert(
                    r.id,
                    Stored {
                        last_updated: r.last_updated,
                        json: Arc::new(r.json),
                    },
                );
        }
    }

    /// Apply a delta: upserts replace, deletes remove; both are recorded in `_history`.
    pub fn apply(&self, changes: &[DeltaChange]) {
        let mut d = self.shared.data.lock().unwrap_or_else(|e| e.into_inner());
        for c in changes {
            match c {
                DeltaChange::Upsert(r) => {
                    let json = Arc::new(r.json.clone());
                    d.resources
                        .entry(r.resource_type.to_string())
                        .or_default()
                        .insert(
                            r.id.clone(),
                            Stored {
                                last_updated: r.last_updated,
                                json: json.clone(),
                            },
                        );
                    d.history.push(History {
                        resource_type: r.resource_type.to_string(),
                        id: r.id.clone(),
                        at: r.last_updated,
                        json: Some(json),
                    });
                }
                DeltaChange::Delete { resource_type, id } => {
                    if let Some(m) = d.resources.get_mut(*resource_type) {
                        m.remove(id);
                    }
                    d.history.push(History {
                        resource_type: resource_type.to_string(),
                        id: id.clone(),
                        at: now_jst(),
                        json: None,
                    });
                }
            }
        }
    }
    pub fn resource_count(&self) -> usize {
        self.shared
            .data
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .resources
            .values()
            .map(|m| m.len())
            .sum()
    }
}
