//! Export: how entries leave the node (`akari audit export`). Three formats:
//!
//! - **NDJSON** (native, verifiable offline by [`super::verify()`]): one JSON object per line.
//!   1. `{"type":"header", "format":"akari-ledger-export", "version":2, "first_seq", "last_seq",
//!      "cover_seq", "prev_head", "exported_at", "node_key", "checkpoints", "signature"}` — a
//!      manifest signed with the node key over every other field (message: see
//!      [`Manifest::message`]), so a cut-off tail, a deleted checkpoint line and a changed
//!      `node_key` are all detected. `prev_head` is the chain head before `first_seq`; an
//!      empty range has `last_seq = first_seq - 1`; `checkpoints` lists the size of every
//!      checkpoint line the export holds, in order.
//!   2. `{"type":"entry","head":H,"entry":E}` for each entry in order, where `E` is the
//!      entry's canonical bytes *verbatim* and `H` the chain head after it.
//!   3. `{"type":"checkpoint","size","head","time","signature"}` right after the entry it
//!      covers (or right after the header, for a checkpoint at `first_seq - 1`).
//!   4. When the range ends before the next checkpoint, `{"type":"link","seq","leaf"}` lines
//!      carry the chain (leaf hashes only, no contents) from `last_seq` to the covering
//!      checkpoint at `cover_seq`, which follows them. Every exported entry is therefore
//!      covered by a signed checkpoint.
//!   5. `{"type":"end","entries":N}`.
//! - **FHIR**: a FHIR R4 `Bundle` (type `collection`) of `AuditEvent`s following IHE BALP,
//!   see [`super::fhir`].
//! - **CSV**: one row per entry with a header row, for spreadsheets (not verifiable). A
//!   cell that a spreadsheet would run as a formula gets a leading `'`, so it is shown, not run.
//!   `time` is RFC 3339 in UTC (exact, sorts and joins with other systems); `local_time`
//!   beside it is the same instant as a person reads it, on the hospital's clock with the
//!   zone's abbreviation (`2026-12-06 09:00:05 JST`). The other columns are values, not times.
//!
//! Exporting never removes anything from the ledger. The caller records an
//! `AuditExported` event first (through [`crate::event::AuditSink`]).

use std::io::Write;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::Signer;

use super::entry::{leaf_hash, Hash, LedgerEntry};
use super::{Ledger, LedgerError};
use crate::event::{Action, Actor};
use crate::Zone;

/// Output format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Ndjson,
    Fhir,
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ndjson" => Ok(ExportFormat::Ndjson),
            "fhir" => Ok(ExportFormat::Fhir),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!(
                "unknown export format `{other}`: use ndjson, fhir or csv"
            )),
        }
    }
}

/// Which entries to export: those from the first entry at or after `from` up to the last
/// entry before `to` (by recorded time), as one contiguous sequence range so the chain
/// still verifies. Entries in between whose clock went back are included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportRange {
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
}

impl ExportRange {
    pub fn all() -> Self {
        ExportRange::default()
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub first_seq: u64,
    /// `first_seq - 1` when nothing matched.
    pub last_seq: u64,
    pub entries: u64,
    /// Signed checkpoints included (NDJSON only).
    pub checkpoints: u64,
}

/// The export format version this build writes and reads.
pub const EXPORT_VERSION: u64 = 2;

/// What an NDJSON export's header states, all of it covered by the header's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub first_seq: u64,
    pub last_seq: u64,
    pub cover_seq: u64,
    pub prev_head: Hash,
    pub exported_at: DateTime<Utc>,
    /// The node's public key, as lowercase hex.
    pub node_key: String,
    /// The size of every checkpoint line in the export, in order.
    pub checkpoints: Vec<u64>,
}

impl Manifest {
    /// The bytes the header's signature covers: every field of the header but the
    /// signature itself.
    pub fn message(&self) -> String {
        let checkpoints: Vec<String> = self.checkpoints.iter().map(u64::to_string).collect();
        format!(
            "akari-ledger-export v{EXPORT_VERSION}\nnode_key {}\nfirst_seq {}\nlast_seq {}\ncover_seq {}\nprev_head {}\nexported_at {}\ncheckpoints {}\n",
            self.node_key,
            self.first_seq,
            self.last_seq,
            self.cover_seq,
            self.prev_head,
            self.exported_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            checkpoints.join(",")
        )
    }
}

impl Ledger {
    /// Writes the entries in `range` to `out` in `format`. See the module documentation.
    /// `zone` is the hospital's clock for the CSV's `local_time` column; NDJSON and FHIR
    /// keep RFC 3339 only.
    pub fn export(
        &self,
        range: &ExportRange,
        format: ExportFormat,
        zone: &Zone,
        out: &mut dyn Write,
    ) -> Result<ExportSummary, LedgerError> {
        let (first, last) = self.select(range)?;
        match format {
            ExportFormat::Ndjson => self.export_ndjson(first, last, out),
            ExportFormat::Csv => self.export_csv(first, last, zone, out),
            ExportFormat::Fhir => super::fhir::export_bundle(self, first, last, out),
        }
    }

    /// The contiguous sequence range `range` selects; `(n+1, n)` when empty.
    fn select(&self, range: &ExportRange) -> Result<(u64, u64), LedgerError> {
        let tip = self.last_seq()?;
        if range.from.is_none() && range.to.is_none() {
            return Ok((1, tip));
        }
        let mut first = None;
        let mut last = None;
        self.scan(1..=tip, |entry, _| -> Result<(), LedgerError> {
            let after_from = range.from.is_none_or(|f| entry.time >= f);
            let before_to = range.to.is_none_or(|t| entry.time < t);
            if after_from && first.is_none() {
                first = Some(entry.seq);
            }
            if before_to {
                last = Some(entry.seq);
            }
            Ok(())
        })?;
        match (first, last) {
            (Some(f), Some(l)) if f <= l => Ok((f, l)),
            _ => Ok((tip + 1, tip)),
        }
    }

    /// The NDJSON export: the signed header, the entries (each followed by the checkpoint
    /// at its seq, if any), link lines up to the covering checkpoint, and the end line.
    fn export_ndjson(
        &self,
        first: u64,
        last: u64,
        out: &mut dyn Write,
    ) -> Result<ExportSummary, LedgerError> {
        let cover = match self.checkpoints(last..=u64::MAX)?.first() {
            Some(cp) => cp.size,
            None => self.checkpoint_now()?.size,
        };
        let checkpoints = self.checkpoints(first - 1..=cover)?;
        self.write_ndjson_header(first, last, cover, &checkpoints, out)?;
        let mut cps = CheckpointLines {
            pending: checkpoints.iter().peekable(),
            written: 0,
        };
        cps.write_at(first - 1, out)?;
        let mut entries = 0u64;
        self.scan_raw(
            first..=last,
            |seq, head, bytes| -> Result<(), LedgerError> {
                write!(out, "{{\"type\":\"entry\",\"head\":\"{head}\",\"entry\":")?;
                out.write_all(bytes)?;
                out.write_all(b"}\n")?;
                entries += 1;
                cps.write_at(seq, out)
            },
        )?;
        if cover > last {
            self.scan_raw(
                last + 1..=cover,
                |seq, _, bytes| -> Result<(), LedgerError> {
                    writeln!(
                        out,
                        "{{\"type\":\"link\",\"seq\":{seq},\"leaf\":\"{}\"}}",
                        leaf_hash(bytes)
                    )?;
                    cps.write_at(seq, out)
                },
            )?;
        }
        writeln!(out, "{{\"type\":\"end\",\"entries\":{entries}}}")?;
        out.flush()?;
        Ok(ExportSummary {
            first_seq: first,
            last_seq: last,
            entries,
            checkpoints: cps.written,
        })
    }

    /// Writes the header line: the range, the covering checkpoint `cover`, the chain head
    /// before the first entry, the node key and the sizes of the checkpoint lines that
    /// follow, signed together.
    fn write_ndjson_header(
        &self,
        first: u64,
        last: u64,
        cover: u64,
        checkpoints: &[super::Checkpoint],
        out: &mut dyn Write,
    ) -> Result<(), LedgerError> {
        let manifest = Manifest {
            first_seq: first,
            last_seq: last,
            cover_seq: cover,
            prev_head: self.head_at(first - 1)?,
            exported_at: super::checkpoint::to_micros(Utc::now()),
            node_key: hex::encode(self.public_key().as_bytes()),
            checkpoints: checkpoints.iter().map(|cp| cp.size).collect(),
        };
        let signature = B64.encode(
            self.signing_key
                .sign(manifest.message().as_bytes())
                .to_bytes(),
        );
        let header = serde_json::json!({
            "type": "header",
            "format": "akari-ledger-export",
            "version": EXPORT_VERSION,
            "first_seq": manifest.first_seq,
            "last_seq": manifest.last_seq,
            "cover_seq": manifest.cover_seq,
            "prev_head": manifest.prev_head,
            "exported_at": manifest.exported_at,
            "node_key": manifest.node_key,
            "checkpoints": manifest.checkpoints,
            "signature": signature,
        });
        writeln!(out, "{header}")?;
        Ok(())
    }

    fn export_csv(
        &self,
        first: u64,
        last: u64,
        zone: &Zone,
        out: &mut dyn Write,
    ) -> Result<ExportSummary, LedgerError> {
        let mut w = csv::Writer::from_writer(out);
        let csv_err = |e: csv::Error| LedgerError::Io(std::io::Error::other(e.to_string()));
        w.write_record(CSV_HEADER).map_err(csv_err)?;
        let mut entries = 0u64;
        self.scan(first..=last, |entry, head| -> Result<(), LedgerError> {
            w.write_record(csv_row(&entry, &head, zone))
                .map_err(csv_err)?;
            entries += 1;
            Ok(())
        })?;
        w.flush()?;
        Ok(ExportSummary {
            first_seq: first,
            last_seq: last,
            entries,
            checkpoints: 0,
        })
    }
}

const CSV_HEADER: [&str; 21] = [
    "seq",
    "time",
    "local_time",
    "clock_back",
    "mode",
    "drill",
    "actor_kind",
    "actor_id",
    "session_id",
    "declared_name",
    "declared_staff_number",
    "declared_profession",
    "declared_department",
    "action",
    "action_details",
    "patient",
    "details",
    "client_address",
    "user_agent",
    "chain_head",
    "format_version",
];

/// The action's tag (`patient_read`, `mode_changed`, ...).
pub(crate) fn action_kind(action: &Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// The action's fields other than its tag, as compact JSON (empty when none).
fn action_fields(action: &Action) -> String {
    match serde_json::to_value(action) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.remove("kind");
            if map.is_empty() {
                String::new()
            } else {
                serde_json::Value::Object(map).to_string()
            }
        }
        _ => String::new(),
    }
}

/// A cell as a spreadsheet shows it, never runs it: a value that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (or their full-width forms) would be read as a formula,
/// so it gets a leading `'`, as the OWASP guidance on CSV injection advises. Applies to
/// every cell, since names, reasons and user agents come from whoever typed them.
pub fn spreadsheet_safe(cell: String) -> String {
    const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];
    if cell.starts_with(FORMULA_STARTS) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn csv_row(e: &LedgerEntry, head: &Hash, zone: &Zone) -> Vec<String> {
    let (kind, id, session, declared) = match &e.actor {
        Actor::System => ("system", String::new(), String::new(), None),
        Actor::Console { os_user } => ("console", os_user.clone(), String::new(), None),
        Actor::Admin { admin_id } => ("admin", admin_id.clone(), String::new(), None),
        Actor::Emergency {
            account_id,
            session_id,
            declared,
        } => (
            "emergency",
            account_id.clone(),
            session_id.clone(),
            declared.as_ref(),
        ),
        Actor::Anonymous => ("anonymous", String::new(), String::new(), None),
    };
    let mode = serde_json::to_value(e.mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    vec![
        e.seq.to_string(),
        e.time.to_rfc3339_opts(SecondsFormat::Micros, true),
        zone.second(&e.time),
        e.clock_back.to_string(),
        mode,
        e.drill.to_string(),
        kind.to_string(),
        id,
        session,
        declared.map(|d| d.name.clone()).unwrap_or_default(),
        declared.map(|d| d.staff_number.clone()).unwrap_or_default(),
        declared.map(|d| d.profession.clone()).unwrap_or_default(),
        declared.map(|d| d.department.clone()).unwrap_or_default(),
        action_kind(&e.action),
        action_fields(&e.action),
        e.patient.clone().unwrap_or_default(),
        e.details.clone().unwrap_or_default(),
        e.client.address.map(|a| a.to_string()).unwrap_or_default(),
        e.client.user_agent.clone().unwrap_or_default(),
        head.to_hex(),
        "1".to_string(),
    ]
    .into_iter()
    .map(spreadsheet_safe)
    .collect()
}

/// The checkpoint lines of an NDJSON export, each written right after the line of the
/// entry (or link) it covers.
struct CheckpointLines<'a> {
    pending: std::iter::Peekable<std::slice::Iter<'a, super::Checkpoint>>,
    written: u64,
}

impl CheckpointLines<'_> {
    /// Writes the checkpoint of size `seq`, if there is one (earlier ones are passed over).
    fn write_at(&mut self, seq: u64, out: &mut dyn Write) -> Result<(), LedgerError> {
        while let Some(cp) = self.pending.next_if(|cp| cp.size <= seq) {
            if cp.size == seq {
                let line = serde_json::json!({
                    "type": "checkpoint",
                    "size": cp.size,
                    "head": cp.head,
                    "time": cp.time,
                    "signature": cp.signature,
                });
                writeln!(out, "{line}")?;
                self.written += 1;
            }
        }
        Ok(())
    }
}
