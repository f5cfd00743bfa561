//! Handing downtime records back after recovery: one directory, signed, with
//!
//! * `fhir-NNN.json` — per patient, a FHIR R4 transaction Bundle
//!   ([`akari_downtime::fhir::patient_bundle`]) for the EHR or its interface engine;
//! * `reconciliation.csv` — one row per entry, by ward and patient: what to enter back,
//!   who recorded it, whether a correction superseded it, and empty `entered_by` /
//!   `checked` columns for the person entering it; cells made safe for spreadsheets;
//! * `reconciliation.pdf` — the same list to print (a section per ward, a table per
//!   patient, a box to tick per entry), when the node has a print font;
//! * `manifest.json` — every file's hash, signed with the node's signing key
//!   ([`akari_downtime::sign`]), verifiable offline (`akari downtime verify`).
//!
//! The caller records the export in the audit ledger first.

use std::collections::BTreeMap;
use std::path::Path;

use akari_accounts::ledger::export::spreadsheet_safe;
use akari_downtime::fhir::{patient_bundle, PatientRef};
use akari_downtime::{DowntimeStore, Listed};
use akari_print::{Cell, Column, Document, Footer, HeaderLine, PageSize, Row, Shade, Table};
use chrono::Utc;

use crate::display::downtime_text;
use crate::i18n::{Lang, Tr};

pub const RECONCILIATION_CSV: &str = "reconciliation.csv";
pub const RECONCILIATION_PDF: &str = "reconciliation.pdf";

/// What to export and how.
pub struct ExportOptions<'a> {
    /// One episode, or every one.
    pub episode: Option<u64>,
    /// Names the node in the entries' FHIR identifiers (its signing key's fingerprint).
    pub node: String,
    pub zone: akari_accounts::Zone,
    pub lang: Lang,
    /// The PDF's font; `Err` says why there is none (the PDF is then left out).
    pub font: &'a Result<akari_print::PdfFont, String>,
    /// Signs the manifest: the key file at the console, the ledger on the admin pages.
    pub signer: &'a dyn akari_downtime::sign::ManifestSigner,
    /// Who exports (the PDF's footer).
    pub by: String,
}

/// The node's name in the export's FHIR identifiers: its signing key's fingerprint (the
/// first 8 bytes of the public key, hex).
pub fn node_fingerprint(key: &ed25519_dalek::VerifyingKey) -> String {
    key.as_bytes()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The audit ledger as the manifest's signer: it signs export manifests with the node's
/// key and nothing of its own kinds, so the admin pages never hold the key itself.
pub struct LedgerSigner<'a>(pub &'a akari_accounts::ledger::Ledger);

impl akari_downtime::sign::ManifestSigner for LedgerSigner<'_> {
    fn node_key(&self) -> ed25519_dalek::VerifyingKey {
        self.0.public_key()
    }
    fn sign_manifest(&self, message: &[u8]) -> Option<ed25519_dalek::Signature> {
        self.0.sign_export_manifest(message)
    }
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub files: Vec<String>,
    pub patients: usize,
    pub entries: usize,
    /// Why the PDF was left out, if it was.
    pub pdf_skipped: Option<String>,
}

/// One patient's entries with the ward they were recorded on (the first entry's).
struct PatientEntries<'a> {
    ward: &'a str,
    entries: Vec<&'a Listed>,
}

fn by_ward_and_patient(
    entries: &[Listed],
) -> BTreeMap<(String, String, String), PatientEntries<'_>> {
    let mut out: BTreeMap<(String, String, String), PatientEntries<'_>> = BTreeMap::new();
    for l in entries {
        let e = &l.entry;
        let key = (
            e.ward.clone(),
            e.subject.hospital_id.clone(),
            e.patient.clone(),
        );
        out.entry(key)
            .or_insert_with(|| PatientEntries {
                ward: &e.ward,
                entries: Vec::new(),
            })
            .entries
            .push(l);
    }
    out
}

fn say(tr: Tr, ja: &str, en: &str) -> String {
    match tr.lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
    .to_owned()
}

/// In force, superseded by a correction, or a correction itself.
fn state(tr: Tr, l: &Listed) -> String {
    let mut s = match l.superseded_by {
        Some(by) => format!(
            "{} #{by}（{}）",
            say(tr, "訂正済み", "corrected by"),
            say(tr, "入力しない", "do not enter")
        ),
        None => say(tr, "有効", "in force"),
    };
    if let Some(c) = &l.entry.supersedes {
        s.push_str(&format!(
            " · {} #{}: {}",
            say(tr, "訂正", "corrects"),
            c.entry,
            c.reason
        ));
    }
    s
}

const CSV_HEADER: [&str; 19] = [
    "ward",
    "hospital_id",
    "patient_name",
    "patient_source_id",
    "entry",
    "episode",
    "time",
    "kind",
    "content",
    "state",
    "recorded_by",
    "staff_number",
    "account_id",
    "recorded_at",
    "outside_ward",
    "drill",
    "reconciled",
    "entered_by",
    "checked",
];

fn reconciliation_csv(
    tr: Tr,
    groups: &BTreeMap<(String, String, String), PatientEntries<'_>>,
) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| e.to_string();
    w.write_record(CSV_HEADER).map_err(err)?;
    for p in groups.values() {
        for l in &p.entries {
            let e = &l.entry;
            let person = &e.recorder.person;
            let row = [
                e.ward.clone(),
                e.subject.hospital_id.clone(),
                e.subject.name.clone(),
                e.subject.source_id.clone(),
                e.id.to_string(),
                e.recorder.episode.to_string(),
                tr.zone.minute(&e.refers_to),
                crate::display::downtime_kind(tr, &e.record),
                downtime_text(tr, &e.record),
                state(tr, l),
                format!(
                    "{}（{}・{}）",
                    person.name, person.profession, person.department
                ),
                person.staff_number.clone(),
                e.recorder.account_id.clone(),
                tr.zone.minute(&e.recorded_at),
                e.outside_ward.to_string(),
                e.recorder.drill.to_string(),
                l.reconciled
                    .as_ref()
                    .map(|r| format!("{} {}", r.by, tr.zone.minute(&r.at)))
                    .unwrap_or_default(),
                String::new(),
                String::new(),
            ];
            w.write_record(row.map(spreadsheet_safe)).map_err(err)?;
        }
    }
    w.into_inner().map_err(|e| e.to_string())
}

fn reconciliation_pdf(
    tr: Tr,
    groups: &BTreeMap<(String, String, String), PatientEntries<'_>>,
    episode: Option<u64>,
    by: &str,
) -> Document {
    let title = say(
        tr,
        "停電中記録 照合リスト",
        "Downtime records: reconciliation list",
    );
    let now = tr.zone.minute(&Utc::now());
    let mut doc = Document::new(
        title.clone(),
        PageSize::A4Landscape,
        Footer {
            printed_by: by.to_owned(),
            declared_person: String::new(),
            printed_at: now,
        },
    );
    let mut wards: BTreeMap<&str, Vec<&PatientEntries<'_>>> = BTreeMap::new();
    for p in groups.values() {
        wards.entry(p.ward).or_default().push(p);
    }
    for (ward, patients) in wards {
        let episode = episode
            .map(|e| format!("{} {e}", say(tr, "エピソード", "Episode")))
            .unwrap_or_default();
        let ward_name = if ward.is_empty() {
            say(tr, "病棟なし", "no ward")
        } else {
            ward.to_owned()
        };
        let s = doc.section([
            HeaderLine::strong(format!("{title} {episode}")),
            HeaderLine::plain(format!("{}: {ward_name}", say(tr, "病棟", "Ward"))),
        ]);
        for p in patients {
            let first = &p.entries[0].entry.subject;
            s.heading(
                format!(
                    "{} {}  {} {}",
                    say(tr, "患者ID", "Hospital ID"),
                    first.hospital_id,
                    first.name,
                    ""
                )
                .trim()
                .to_owned(),
            );
            let mut t = Table::new([
                Column::new(say(tr, "実施・測定日時", "Time"), 1.3),
                Column::new(say(tr, "種類", "Kind"), 1.0),
                Column::new(say(tr, "内容", "Content"), 3.6),
                Column::new(say(tr, "状態", "State"), 1.6),
                Column::new(say(tr, "記録者", "Recorded by"), 2.0),
                Column::new(say(tr, "入力者", "Entered by"), 1.2),
                Column::new(say(tr, "確認", "Checked"), 0.7),
            ]);
            for l in &p.entries {
                let e = &l.entry;
                let person = &e.recorder.person;
                let superseded = l.superseded_by.is_some();
                let cell = |text: String| {
                    if superseded {
                        Cell::new(text).shaded(Shade::Light)
                    } else {
                        Cell::new(text)
                    }
                };
                t.row(
                    Row::new([
                        cell(tr.zone.minute(&e.refers_to)),
                        cell(format!(
                            "#{} {}",
                            e.id,
                            crate::display::downtime_kind(tr, &e.record)
                        )),
                        cell(downtime_text(tr, &e.record)),
                        cell(state(tr, l)),
                        cell(format!(
                            "{}（{}・{}）{}",
                            person.name,
                            person.profession,
                            person.department,
                            e.recorder.account_id
                        )),
                        Cell::blank(),
                        Cell::blank(),
                    ])
                    .min_height(9.0),
                );
            }
            s.table(t);
        }
    }
    doc
}

/// The reconciliation list of `episode` (every entry when `None`) as CSV, for the admin
/// page's download. Blocking.
pub fn reconciliation(
    store: &DowntimeStore,
    episode: Option<u64>,
    tr: Tr,
) -> Result<Vec<u8>, String> {
    let entries = store.entries(episode).map_err(|e| e.to_string())?;
    reconciliation_csv(tr, &by_ward_and_patient(&entries))
}

/// Writes the export of `store`'s entries (of `opts.episode`) into `out` (created if
/// missing; it must not hold an earlier export). Blocking.
pub fn export(
    store: &DowntimeStore,
    opts: &ExportOptions<'_>,
    out: &Path,
) -> Result<ExportReport, String> {
    let tr = Tr {
        lang: opts.lang,
        zone: opts.zone,
    };
    let entries = store.entries(opts.episode).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    if std::fs::read_dir(out)
        .map_err(|e| e.to_string())?
        .next()
        .is_some()
    {
        return Err(format!(
            "{} is not empty: export into a new, empty directory",
            out.display()
        ));
    }
    let write = |name: &str, bytes: &[u8]| {
        std::fs::write(out.join(name), bytes).map_err(|e| format!("cannot write {name}: {e}"))
    };
    let groups = by_ward_and_patient(&entries);
    let mut files = Vec::new();
    for (n, p) in groups.values().enumerate() {
        let subject = &p.entries[0].entry.subject;
        let patient = PatientRef {
            source_id: subject.source_id.clone(),
            hospital_id: Some(subject.hospital_id.clone()).filter(|h| !h.is_empty()),
        };
        let listed: Vec<Listed> = p.entries.iter().map(|l| (*l).clone()).collect();
        let bundle = patient_bundle(&opts.node, &patient, &listed);
        let name = format!("fhir-{:03}.json", n + 1);
        write(
            &name,
            &serde_json::to_vec_pretty(&bundle).map_err(|e| e.to_string())?,
        )?;
        files.push(name);
    }
    write(RECONCILIATION_CSV, &reconciliation_csv(tr, &groups)?)?;
    files.push(RECONCILIATION_CSV.to_owned());
    let pdf_skipped = match opts.font {
        Ok(font) => {
            let doc = reconciliation_pdf(tr, &groups, opts.episode, &opts.by);
            let rendered = doc.render(font).map_err(|e| e.to_string())?;
            write(RECONCILIATION_PDF, &rendered.pdf)?;
            files.push(RECONCILIATION_PDF.to_owned());
            None
        }
        Err(e) => Some(e.clone()),
    };
    akari_downtime::sign::sign_dir(out, &files, opts.episode, Utc::now(), opts.signer)
        .map_err(|e| format!("cannot write the signed manifest: {e}"))?;
    files.push(akari_downtime::sign::MANIFEST.to_owned());
    Ok(ExportReport {
        files,
        patients: groups.len(),
        entries: entries.len(),
        pdf_skipped,
    })
}

/// Marks `ids` reconciled by `by`, written to the ledger first: one `DowntimeReconciled`
/// entry per run of at most [`akari_accounts::ledger::bounds::MAX_RECONCILED_ENTRIES`]
/// numbers, every one in the same durable commit, before the store marks anything (a
/// ledger that cannot write marks nothing). Each run is marked with the sequence number
/// of the entry that lists it. `event` makes the ledger event for an action. Returns how
/// many were newly marked; an error from the ledger starts with `audit:`.
pub fn reconcile(
    ledger: &akari_accounts::ledger::Ledger,
    store: &DowntimeStore,
    ids: &[u64],
    by: &str,
    event: impl Fn(akari_accounts::event::Action) -> akari_accounts::event::AuditEvent,
) -> Result<usize, String> {
    let actions = akari_accounts::ledger::bounds::reconciled_actions(ids);
    let receipts = ledger
        .record_all(actions.into_iter().map(event).collect())
        .map_err(|e| format!("audit: {e}"))?;
    let mut marked = 0;
    for (chunk, receipt) in ids
        .chunks(akari_accounts::ledger::bounds::MAX_RECONCILED_ENTRIES)
        .zip(receipts)
    {
        marked += store
            .mark_reconciled(chunk, by, receipt.sequence())
            .map_err(|e| e.to_string())?;
    }
    Ok(marked)
}
