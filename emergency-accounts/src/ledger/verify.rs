//! Offline verification of an NDJSON export (`akari audit verify EXPORT --key KEY`): needs
//! only the export and the node's public key. Checks the signed manifest, every entry's
//! place and hash, the chain, and every checkpoint signature, and names the first problem.
//!
//! What it can name: an entry whose bytes were changed (its hash no longer matches);
//! a missing sequence number (deleted); entries out of order (reordered); an export that
//! ends before what its signed manifest or a checkpoint says it holds (truncated); a
//! checkpoint line deleted or added anywhere (the signed manifest lists them all); a header
//! whose `node_key` or any other field was changed (the manifest signature covers every
//! field). An entry changed by someone who also recomputed every following `head` field is
//! still caught, by the next signed checkpoint, which then no longer matches.

use std::io::BufRead;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::checkpoint::Checkpoint;
use super::entry::{chain, leaf_hash, Hash};
use super::export::{Manifest, EXPORT_VERSION};

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub first_seq: u64,
    pub last_seq: u64,
    /// Entries checked.
    pub entries: u64,
    /// Checkpoints whose signature and head were checked.
    pub checkpoints: u64,
    /// The newest checkpoint in the export (it covers every entry).
    pub last_checkpoint: Checkpoint,
    /// Entries whose recorded time was earlier than a previous entry's (clock went back).
    pub clock_back_entries: u64,
}

/// Why an export does not verify. The first problem found, in export order.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("reading the export failed: {0}")]
    Io(String),
    #[error("this is not an Akari ledger export: {0}")]
    NotAnExport(String),
    #[error("the export's manifest signature does not verify with this key: wrong key, or the header was altered")]
    BadManifestSignature,
    #[error("the export's header names node key {in_header}, but the key given is {given}: verify with the key of the node that made the export, or the header's node_key was altered")]
    NodeKeyMismatch { in_header: String, given: String },
    #[error("checkpoint {size} is missing (deleted): the signed manifest lists it right after entry {size}, but {found}")]
    CheckpointDeleted { size: u64, found: String },
    #[error("checkpoint {size} (line {line}) is not in the signed manifest's list of checkpoints: it was added to the export")]
    CheckpointNotListed { size: u64, line: u64 },
    #[error(
        "line {line} (where entry {expected_seq} was expected) is not a valid export line: {what}"
    )]
    Malformed {
        line: u64,
        expected_seq: u64,
        what: String,
    },
    #[error("entry {seq} was altered: its hash does not match (line {line})")]
    Altered { seq: u64, line: u64 },
    #[error("entry {seq} is missing (deleted): the export jumps from entry {} to entry {next} (line {line})", seq - 1)]
    Deleted { seq: u64, next: u64, line: u64 },
    #[error("entries are out of order: entry {seq} appears before entry {before} (line {line})")]
    Reordered { seq: u64, before: u64, line: u64 },
    #[error("entry {seq} appears again after entry {after} (line {line})")]
    Duplicated { seq: u64, after: u64, line: u64 },
    #[error("the export is truncated: {claim} says it holds entries up to {expected}, but it ends at entry {ends_at}")]
    Truncated {
        claim: String,
        expected: u64,
        ends_at: u64,
    },
    #[error("checkpoint {size} has an invalid signature (line {line})")]
    BadCheckpointSignature { size: u64, line: u64 },
    #[error("checkpoint {size} does not match the chain: an entry after the previous checkpoint was altered and the following hashes recomputed (line {line})")]
    CheckpointMismatch { size: u64, line: u64 },
    #[error("checkpoint {size} is out of place: it follows entry {after} (line {line})")]
    CheckpointMisplaced { size: u64, after: u64, line: u64 },
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    // entry / checkpoint
    head: Option<Hash>,
    #[serde(borrow)]
    entry: Option<&'a RawValue>,
    // link
    seq: Option<u64>,
    leaf: Option<Hash>,
    // checkpoint
    size: Option<u64>,
    time: Option<DateTime<Utc>>,
    signature: Option<String>,
    // header
    format: Option<&'a str>,
    version: Option<u64>,
    first_seq: Option<u64>,
    last_seq: Option<u64>,
    cover_seq: Option<u64>,
    prev_head: Option<Hash>,
    exported_at: Option<DateTime<Utc>>,
    node_key: Option<&'a str>,
    checkpoints: Option<Vec<u64>>,
    // end
    entries: Option<u64>,
}

#[derive(Deserialize)]
struct EntryProbe {
    seq: u64,
    time: DateTime<Utc>,
    clock_back: bool,
}

/// One parsed line, kept small so a million entries fit in memory.
enum Item {
    Entry {
        seq: u64,
        leaf: Hash,
        head: Hash,
        clock_back: bool,
        line: u64,
    },
    Link {
        seq: u64,
        leaf: Hash,
        line: u64,
    },
    Checkpoint {
        cp: Checkpoint,
        line: u64,
    },
    End {
        entries: u64,
    },
    /// A line that could not be read as an entry, where an entry or link was expected.
    Bad {
        what: String,
        line: u64,
        /// The seq it claims, if any could be read.
        seq: Option<u64>,
    },
}

impl Item {
    fn seq(&self) -> Option<u64> {
        match self {
            Item::Entry { seq, .. } | Item::Link { seq, .. } => Some(*seq),
            Item::Bad { seq, .. } => *seq,
            _ => None,
        }
    }
}

struct Header {
    first_seq: u64,
    last_seq: u64,
    cover_seq: u64,
    prev_head: Hash,
    /// The sizes of the checkpoint lines the export holds, in order.
    checkpoints: Vec<u64>,
}

/// Verifies an NDJSON export against the node's public key.
pub fn verify(export: impl BufRead, key: &VerifyingKey) -> Result<VerifyReport, VerifyError> {
    let mut lines = export.lines();
    let header_line = lines
        .next()
        .ok_or_else(|| VerifyError::NotAnExport("it is empty".into()))?
        .map_err(|e| VerifyError::Io(e.to_string()))?;
    let header = parse_header(&header_line, key)?;

    let mut items = Vec::new();
    for (i, text) in lines.enumerate() {
        let line_no = i as u64 + 2;
        let text = text.map_err(|e| VerifyError::Io(e.to_string()))?;
        if text.trim().is_empty() {
            continue;
        }
        items.push(parse_item(&text, line_no));
    }
    check_items(&header, &items, key)
}

fn parse_header(text: &str, key: &VerifyingKey) -> Result<Header, VerifyError> {
    let line: Line = serde_json::from_str(text)
        .map_err(|e| VerifyError::NotAnExport(format!("the first line is not a header: {e}")))?;
    if line.kind != "header" || line.format != Some("akari-ledger-export") {
        return Err(VerifyError::NotAnExport(
            "the first line is not an akari-ledger-export header".into(),
        ));
    }
    if line.version != Some(EXPORT_VERSION) {
        return Err(VerifyError::NotAnExport(format!(
            "export format version {} is not supported (this build reads version {EXPORT_VERSION}, \
             whose signature also covers the node key and the list of checkpoints): export \
             the ledger again with this build",
            line.version.map_or("(none)".to_string(), |v| v.to_string())
        )));
    }
    let missing = |field: &str| VerifyError::NotAnExport(format!("the header lacks `{field}`"));
    let node_key = line.node_key.ok_or_else(|| missing("node_key"))?;
    let given = hex::encode(key.as_bytes());
    if !node_key.eq_ignore_ascii_case(&given) {
        return Err(VerifyError::NodeKeyMismatch {
            in_header: node_key
                .chars()
                .take(64)
                .collect::<String>()
                .escape_debug()
                .to_string(),
            given,
        });
    }
    let manifest = Manifest {
        first_seq: line.first_seq.ok_or_else(|| missing("first_seq"))?,
        last_seq: line.last_seq.ok_or_else(|| missing("last_seq"))?,
        cover_seq: line.cover_seq.ok_or_else(|| missing("cover_seq"))?,
        prev_head: line.prev_head.ok_or_else(|| missing("prev_head"))?,
        exported_at: line.exported_at.ok_or_else(|| missing("exported_at"))?,
        node_key: node_key.to_string(),
        checkpoints: line.checkpoints.ok_or_else(|| missing("checkpoints"))?,
    };
    let signature = line.signature.ok_or_else(|| missing("signature"))?;
    let valid = B64
        .decode(&signature)
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .is_some_and(|s| key.verify(manifest.message().as_bytes(), &s).is_ok());
    if !valid {
        return Err(VerifyError::BadManifestSignature);
    }
    let Manifest {
        first_seq,
        last_seq,
        cover_seq,
        prev_head,
        checkpoints,
        ..
    } = manifest;
    if first_seq == 0 || last_seq + 1 < first_seq || cover_seq < last_seq {
        return Err(VerifyError::NotAnExport(
            "the header's sequence range is inconsistent".into(),
        ));
    }
    Ok(Header {
        first_seq,
        last_seq,
        cover_seq,
        prev_head,
        checkpoints,
    })
}

fn parse_item(text: &str, line_no: u64) -> Item {
    let line: Line = match serde_json::from_str(text) {
        Ok(l) => l,
        Err(e) => {
            return Item::Bad {
                what: format!("not JSON of the expected shape ({e})"),
                line: line_no,
                seq: None,
            }
        }
    };
    let bad = |what: &str, seq: Option<u64>| Item::Bad {
        what: what.to_string(),
        line: line_no,
        seq,
    };
    match line.kind {
        "entry" => {
            let (Some(raw), Some(head)) = (line.entry, line.head) else {
                return bad("an entry line needs `entry` and `head`", None);
            };
            let bytes = raw.get().as_bytes();
            match serde_json::from_str::<EntryProbe>(raw.get()) {
                Ok(probe) => {
                    let _ = probe.time;
                    Item::Entry {
                        seq: probe.seq,
                        leaf: leaf_hash(bytes),
                        head,
                        clock_back: probe.clock_back,
                        line: line_no,
                    }
                }
                Err(e) => bad(&format!("the entry is not a ledger entry ({e})"), None),
            }
        }
        "link" => match (line.seq, line.leaf) {
            (Some(seq), Some(leaf)) => Item::Link {
                seq,
                leaf,
                line: line_no,
            },
            _ => bad("a link line needs `seq` and `leaf`", line.seq),
        },
        "checkpoint" => match (line.size, line.head, line.time, line.signature) {
            (Some(size), Some(head), Some(time), Some(signature)) => Item::Checkpoint {
                cp: Checkpoint {
                    size,
                    head,
                    time,
                    signature,
                },
                line: line_no,
            },
            _ => bad(
                "a checkpoint line needs `size`, `head`, `time` and `signature`",
                None,
            ),
        },
        "end" => Item::End {
            entries: line.entries.unwrap_or(u64::MAX),
        },
        other => bad(&format!("unknown line type `{other}`"), None),
    }
}

/// Walks the export's items in order: each entry and link must chain from the one before,
/// each checkpoint must be signed and sit where it says, and the walk must reach the
/// manifest's covering checkpoint and the end line.
fn check_items(
    header: &Header,
    items: &[Item],
    key: &VerifyingKey,
) -> Result<VerifyReport, VerifyError> {
    let mut walk = Walk::new(header);
    for i in 0..items.len() {
        if walk.ended {
            break;
        }
        walk.step(items, i, key)?;
    }
    walk.finish()
}

/// One pass over an export's items: the running chain head, the seq expected next, and
/// what has been counted so far.
struct Walk<'h> {
    header: &'h Header,
    head: Hash,
    expected: u64,
    entries: u64,
    checkpoints: u64,
    clock_back_entries: u64,
    last_checkpoint: Option<Checkpoint>,
    /// How many of the manifest's listed checkpoints have been met.
    listed_met: usize,
    ended: bool,
}

impl<'h> Walk<'h> {
    fn new(header: &'h Header) -> Self {
        Self {
            header,
            head: header.prev_head,
            expected: header.first_seq,
            entries: 0,
            checkpoints: 0,
            clock_back_entries: 0,
            last_checkpoint: None,
            listed_met: 0,
            ended: false,
        }
    }

    /// Checks the item at `i` (the rest of `items` tells a deletion from a truncation).
    fn step(&mut self, items: &[Item], i: usize, key: &VerifyingKey) -> Result<(), VerifyError> {
        if let Item::Entry { line, .. } | Item::Link { line, .. } = &items[i] {
            self.no_listed_checkpoint_before(self.expected, &format!("line {line} follows"))?;
        }
        match &items[i] {
            Item::Entry { seq, line, .. } | Item::Link { seq, line, .. }
                if *seq != self.expected =>
            {
                Err(out_of_place(
                    items,
                    i,
                    *seq,
                    self.expected,
                    *line,
                    &self.head,
                ))
            }
            Item::Entry {
                seq,
                leaf,
                head: stated,
                clock_back,
                line,
            } => self.entry(*seq, leaf, stated, *clock_back, *line),
            Item::Link { leaf, line, .. } => self.link(leaf, *line),
            Item::Bad { what, line, .. } => Err(VerifyError::Malformed {
                line: *line,
                expected_seq: self.expected,
                what: what.clone(),
            }),
            Item::Checkpoint { cp, line } => {
                let more_follow = items[i + 1..].iter().any(|it| it.seq().is_some());
                self.checkpoint(cp, *line, key, more_follow)
            }
            Item::End { entries: n } => self.end(*n),
        }
    }

    /// An entry in its place: within the manifest's range and chaining to its stated head.
    fn entry(
        &mut self,
        seq: u64,
        leaf: &Hash,
        stated: &Hash,
        clock_back: bool,
        line: u64,
    ) -> Result<(), VerifyError> {
        if seq > self.header.last_seq {
            return Err(VerifyError::Malformed {
                line,
                expected_seq: self.expected,
                what: "an entry beyond the manifest's last_seq".into(),
            });
        }
        let computed = chain(&self.head, leaf);
        if computed != *stated {
            return Err(VerifyError::Altered { seq, line });
        }
        self.head = computed;
        self.expected += 1;
        self.entries += 1;
        self.clock_back_entries += u64::from(clock_back);
        Ok(())
    }

    /// A link (a leaf hash standing for an entry past the manifest's range) in its place.
    fn link(&mut self, leaf: &Hash, line: u64) -> Result<(), VerifyError> {
        if self.expected <= self.header.last_seq {
            return Err(VerifyError::Malformed {
                line,
                expected_seq: self.expected,
                what: "a link line where the entry itself belongs".into(),
            });
        }
        self.head = chain(&self.head, leaf);
        self.expected += 1;
        Ok(())
    }

    /// A checkpoint: signed by the key, placed right after the entry it covers (a later
    /// size means entries are missing: deleted if more follow, truncated if not) and
    /// matching the chain head computed so far.
    fn checkpoint(
        &mut self,
        cp: &Checkpoint,
        line: u64,
        key: &VerifyingKey,
        more_follow: bool,
    ) -> Result<(), VerifyError> {
        if !cp.verify(key) {
            return Err(VerifyError::BadCheckpointSignature {
                size: cp.size,
                line,
            });
        }
        let at = self.expected - 1;
        if cp.size > at {
            return Err(if more_follow {
                VerifyError::Deleted {
                    seq: self.expected,
                    next: cp.size + 1,
                    line,
                }
            } else {
                VerifyError::Truncated {
                    claim: format!("checkpoint {} (line {line})", cp.size),
                    expected: cp.size,
                    ends_at: at,
                }
            });
        }
        if cp.size < at {
            return Err(VerifyError::CheckpointMisplaced {
                size: cp.size,
                after: at,
                line,
            });
        }
        if cp.head != self.head {
            return Err(VerifyError::CheckpointMismatch {
                size: cp.size,
                line,
            });
        }
        self.no_listed_checkpoint_before(
            cp.size,
            &format!("checkpoint {} (line {line}) follows", cp.size),
        )?;
        if self.header.checkpoints.get(self.listed_met) != Some(&cp.size) {
            return Err(VerifyError::CheckpointNotListed {
                size: cp.size,
                line,
            });
        }
        self.listed_met += 1;
        self.checkpoints += 1;
        self.last_checkpoint = Some(cp.clone());
        Ok(())
    }

    /// Fails if the manifest lists a checkpoint smaller than `size` that has not been met:
    /// its line belonged before what comes now (`found`), so it was deleted.
    fn no_listed_checkpoint_before(&self, size: u64, found: &str) -> Result<(), VerifyError> {
        match self.header.checkpoints.get(self.listed_met) {
            Some(&listed) if listed < size => Err(VerifyError::CheckpointDeleted {
                size: listed,
                found: found.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The end line: its count must be the number of entries read.
    fn end(&mut self, n: u64) -> Result<(), VerifyError> {
        if n != self.entries {
            return Err(VerifyError::Malformed {
                line: 0,
                expected_seq: self.expected,
                what: format!(
                    "the end line says {n} entries but {} were read",
                    self.entries
                ),
            });
        }
        self.ended = true;
        Ok(())
    }

    /// After the last item: the walk must have reached the manifest's covering checkpoint
    /// and the end line.
    fn finish(self) -> Result<VerifyReport, VerifyError> {
        let header = self.header;
        let ends_at = self.expected - 1;
        if ends_at < header.cover_seq {
            let ends_entries = ends_at.min(header.last_seq);
            return Err(VerifyError::Truncated {
                claim: "the signed manifest".into(),
                expected: header.last_seq,
                ends_at: ends_entries,
            });
        }
        if let Some(&size) = self.header.checkpoints.get(self.listed_met) {
            return Err(VerifyError::CheckpointDeleted {
                size,
                found: "the export has no line for it".into(),
            });
        }
        let last_checkpoint = match self.last_checkpoint {
            Some(cp) if cp.size == header.cover_seq => cp,
            _ => {
                return Err(VerifyError::Truncated {
                    claim: format!(
                        "the signed manifest (covering checkpoint {})",
                        header.cover_seq
                    ),
                    expected: header.last_seq,
                    ends_at: ends_at.min(header.last_seq),
                })
            }
        };
        if !self.ended {
            return Err(VerifyError::Truncated {
                claim: "the export format (no end line)".into(),
                expected: header.last_seq,
                ends_at: ends_at.min(header.last_seq),
            });
        }
        Ok(VerifyReport {
            first_seq: header.first_seq,
            last_seq: header.last_seq,
            entries: self.entries,
            checkpoints: self.checkpoints,
            last_checkpoint,
            clock_back_entries: self.clock_back_entries,
        })
    }
}

/// Names what is wrong when the line at `i` carries `seq` where `expected` belongs.
fn out_of_place(
    items: &[Item],
    i: usize,
    seq: u64,
    expected: u64,
    line: u64,
    head: &Hash,
) -> VerifyError {
    // The entry's own seq field altered: the line doesn't chain from here, but the next
    // line chains from this line's stated head and carries the seq after `expected`.
    if let (
        Item::Entry { head: stated, .. },
        Some(Item::Entry {
            seq: next_seq,
            leaf: next_leaf,
            head: next_head,
            ..
        }),
    ) = (&items[i], items.get(i + 1))
    {
        if *next_seq == expected + 1 && chain(stated, next_leaf) == *next_head {
            let _ = head;
            return VerifyError::Altered {
                seq: expected,
                line,
            };
        }
    }
    if seq < expected {
        return VerifyError::Duplicated {
            seq,
            after: expected - 1,
            line,
        };
    }
    if items[i + 1..].iter().any(|it| it.seq() == Some(expected)) {
        VerifyError::Reordered {
            seq,
            before: expected,
            line,
        }
    } else {
        VerifyError::Deleted {
            seq: expected,
            next: seq,
            line,
        }
    }
}
