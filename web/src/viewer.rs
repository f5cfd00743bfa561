//! The audited path: the only way a handler obtains patient data.
//!
//! [`AuditedViewer`] writes the audit event through the [`AuditSink`] first and hands out
//! data only once the sink returned a receipt. The data comes wrapped in a [`Audited`]
//! value whose only constructor is private to this module and takes the receipt, so a
//! handler cannot show a patient without an audit record existing (fail closed).

use std::sync::Arc;

use akari_accounts::event::{
    Action, AuditEvent, AuditReceipt, AuditSink, Client, MAX_LOOKUP_KEY_CHARS,
};
use akari_accounts::ledger::details;
use akari_accounts::pseudonym::{family_name, PseudonymKind};
use akari_accounts::review::resolve::{DirectoryError, PatientDirectory, PatientIdentity};
use akari_accounts::{ClinicianCapability, ReviewCapability, SystemClock};
use akari_sync::model::{Patient, PatientKey, PatientRecord};
use chrono::{DateTime, Utc};

mod downtime;
pub use downtime::{NewEntry, RecordError};

/// One line of a search result or a ward census.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSummary {
    pub key: PatientKey,
    pub patient: Patient,
    pub ward: Option<String>,
    pub room: Option<String>,
    pub bed: Option<String>,
    pub has_allergy: bool,
    pub has_infection: bool,
}

/// What a snapshot search found: the patients a search shows, and whether more matched
/// than are shown (the user should narrow the search).
#[derive(Debug, Clone)]
pub struct Hits {
    /// How the query was read.
    pub kind: QueryKind,
    /// The first patients in list order, as many as were asked for.
    pub patients: Vec<PatientSummary>,
    /// More patients matched than are listed.
    pub more: bool,
}

/// How a search was understood, for the audit event (never the query text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    HospitalId,
    BirthDate,
    Name,
}

impl QueryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::HospitalId => "hospital_id",
            QueryKind::BirthDate => "birth_date",
            QueryKind::Name => "name",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no snapshot generation is available yet")]
    NoGeneration,
    #[error("the snapshot could not be read: {0}")]
    Read(String),
    /// The snapshot is encrypted and its key is not in memory (standby, or nobody has
    /// logged in yet): a sealed-account or admin login unlocks it.
    #[error("the snapshot is locked: log in with a sealed account or as an admin")]
    Locked,
}

/// The read API the viewer needs from the current snapshot generation. Blocking; the
/// viewer calls it from `spawn_blocking`. Implemented for the sync crate's reader by the
/// composition root's adapter (and by test doubles).
pub trait Snapshot: Send + Sync + 'static {
    /// When the current generation's data is from; `None` when there is no generation.
    fn as_of(&self) -> Option<DateTime<Utc>>;
    fn patient(&self, key: &PatientKey) -> Result<Option<PatientRecord>, SnapshotError>;
    /// Search by hospital ID, kana, kanji (normalised) or birth date: at most `limit`
    /// patients, in list order, saying how the query was read and whether more matched.
    fn search(&self, query: &str, limit: usize) -> Result<Hits, SnapshotError>;
    /// Wards that have at least one current inpatient, sorted.
    fn wards(&self) -> Result<Vec<String>, SnapshotError>;
    /// Current inpatients of a ward, sorted by room and bed.
    fn census(&self, ward: &str) -> Result<Vec<PatientSummary>, SnapshotError>;
    /// Who the patient with this key is (`None`: no such patient), for a reviewer's
    /// resolution of the ledger's keys; only [`ReviewDirectory`] calls it.
    fn identify(&self, key: &PatientKey) -> Result<Option<PatientIdentity>, SnapshotError> {
        Ok(self
            .patient(key)?
            .map(|r| identity(key.0.clone(), &r.patient)))
    }
    /// Who matches a search (at most `limit`, in list order), for a reviewer's patient
    /// search: identities only, from the search index where the snapshot can, no
    /// clinical item read; only [`ReviewDirectory`] calls it.
    fn identities(&self, query: &str, limit: usize) -> Result<Vec<PatientIdentity>, SnapshotError> {
        Ok(self
            .search(query, limit)?
            .patients
            .iter()
            .map(|r| identity(r.key.0.clone(), &r.patient))
            .collect())
    }
}

/// The identity a reviewer is shown for a patient.
pub(crate) fn identity(key: String, p: &Patient) -> PatientIdentity {
    PatientIdentity {
        key,
        name: p.name_kanji.clone(),
        kana: p.name_kana.clone(),
        hospital_id: p.hospital_id.clone(),
        birth_date: p.birth_date,
    }
}

/// The snapshot's patients as the review sees them: names behind the ledger's keys and a
/// patient search. Made only for a holder of the review right
/// ([`AuditedViewer::directory`]); the review functions that use it audit every answer
/// before it is shown.
pub struct ReviewDirectory {
    snapshot: Arc<dyn Snapshot>,
}

impl ReviewDirectory {
    /// The directory of `snapshot` for the holder of `_reviewer` (`akari audit report`).
    pub fn new(snapshot: Arc<dyn Snapshot>, _reviewer: &ReviewCapability) -> ReviewDirectory {
        ReviewDirectory { snapshot }
    }
}

/// Rows a search result page lists; more matches ask the user to narrow the search.
pub const SEARCH_ROWS: usize = 50;

/// Most patients a reviewer's patient search lists.
const REVIEW_SEARCH_LIMIT: usize = SEARCH_ROWS;

fn directory_err(e: SnapshotError) -> DirectoryError {
    match e {
        SnapshotError::Locked => DirectoryError::Locked,
        other => DirectoryError::Unavailable(other.to_string()),
    }
}

impl PatientDirectory for ReviewDirectory {
    fn identify(&self, key: &str) -> Result<Option<PatientIdentity>, DirectoryError> {
        match self.snapshot.identify(&PatientKey(key.to_owned())) {
            Err(SnapshotError::NoGeneration) => Ok(None),
            other => other.map_err(directory_err),
        }
    }

    fn find(&self, query: &str) -> Result<Vec<PatientIdentity>, DirectoryError> {
        match self.snapshot.identities(query, REVIEW_SEARCH_LIMIT) {
            Ok(found) => Ok(found),
            Err(SnapshotError::NoGeneration) => Ok(Vec::new()),
            Err(e) => Err(directory_err(e)),
        }
    }
}

/// Data that has been audited: only this module can make one, and only from a receipt.
pub struct Audited<T> {
    value: T,
    receipt: AuditReceipt,
}

impl<T> Audited<T> {
    fn new(value: T, receipt: AuditReceipt) -> Self {
        Audited { value, receipt }
    }

    pub fn get(&self) -> &T {
        &self.value
    }

    pub fn into_inner(self) -> T {
        self.value
    }

    pub fn receipt(&self) -> &AuditReceipt {
        &self.receipt
    }
}

/// One patient's record, audited.
pub type PatientView = Audited<PatientRecord>;

/// Who is reading, as the audit ledger records it: a declared clinician whose session the
/// accounts layer has just verified, and where the request came from. Made only from that
/// verified session's [`ClinicianCapability`], by the pages' session check, never by hand;
/// its fields are private and so is its constructor:
///
/// ```compile_fail,E0451
/// # use akari_web::viewer::Reader;
/// # fn forge(clinician: akari_accounts::ClinicianCapability) {
/// let reader = Reader { clinician, client: Default::default() };
/// # }
/// ```
///
/// ```compile_fail,E0624
/// # use akari_web::viewer::Reader;
/// # fn forge(cap: akari_accounts::ClinicianCapability) {
/// let reader = Reader::verified(cap, Default::default());
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Reader {
    clinician: ClinicianCapability,
    client: Client,
}

impl Reader {
    /// The reader for a session the accounts layer verified just now.
    pub(crate) fn verified(clinician: ClinicianCapability, client: Client) -> Self {
        Reader { clinician, client }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Audit(#[from] akari_accounts::event::AuditError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("no such patient")]
    NotFound,
    #[error("a blocking task failed: {0}")]
    Join(String),
}

#[derive(Clone)]
pub struct AuditedViewer {
    snapshot: Arc<dyn Snapshot>,
    sink: Arc<dyn AuditSink>,
}

impl AuditedViewer {
    pub fn new(snapshot: Arc<dyn Snapshot>, sink: Arc<dyn AuditSink>) -> Self {
        AuditedViewer { snapshot, sink }
    }

    /// The snapshot's patients for a reviewer (see [`ReviewDirectory`]): only the review
    /// right opens it.
    pub fn directory(&self, reviewer: &ReviewCapability) -> ReviewDirectory {
        ReviewDirectory::new(self.snapshot.clone(), reviewer)
    }

    /// Time of the current data, for the banner (not patient data: no audit needed).
    pub fn as_of(&self) -> Option<DateTime<Utc>> {
        self.snapshot.as_of()
    }

    /// Ward names only (not patient data: no audit needed).
    pub async fn wards(&self) -> Result<Vec<String>, ViewError> {
        let snap = self.snapshot.clone();
        blocking(move || Ok(snap.wards()?)).await
    }

    /// Reads one patient for the reader that `verify` yields (the session check with the
    /// accounts layer, blocking), on the same blocking thread: one hop to the blocking pool
    /// per page instead of two. The audit entry, with the patient's current ward, is
    /// committed before the record is returned; a key that names no patient is audited
    /// too, then refused. `Ok(Err(e))`: `verify`
    /// refused; nothing was read or audited.
    pub async fn patient<E: Send + 'static>(
        &self,
        key: PatientKey,
        print: bool,
        verify: impl FnOnce() -> Result<Reader, E> + Send + 'static,
    ) -> Result<Result<PatientView, E>, ViewError> {
        let snap = self.snapshot.clone();
        let sink = self.sink.clone();
        blocking(move || {
            let reader = match verify() {
                Ok(reader) => reader,
                Err(e) => return Ok(Err(e)),
            };
            let Some(record) = snap.patient(&key)? else {
                let _receipt =
                    sink.record_now(&SystemClock, event_for(&reader, not_found(&key), None))?;
                return Err(ViewError::NotFound);
            };
            let action = if print {
                Action::PatientPrint
            } else {
                Action::PatientRead
            };
            let event = AuditEvent {
                details: patient_details(&record, &*sink),
                ..event_for(&reader, action, Some(key.0))
            };
            let receipt = sink.record_now(&SystemClock, event)?;
            Ok(Ok(Audited::new(record, receipt)))
        })
        .await
    }

    /// Searches; the audit entry names the kind of query, the result count and the keys of
    /// the patients listed (their names are shown).
    pub async fn search(
        &self,
        reader: &Reader,
        query: String,
        limit: usize,
    ) -> Result<Audited<Hits>, ViewError> {
        let snap = self.snapshot.clone();
        let sink = self.sink.clone();
        let reader = reader.clone();
        blocking(move || {
            // Only those shown are read and audited; "more" comes from the search itself.
            let hits = snap.search(&query, limit)?;
            let action = Action::PatientSearch {
                query_kind: hits.kind.as_str().to_owned(),
                results: u32::try_from(hits.patients.len()).unwrap_or(u32::MAX),
                keys: keys_of(&hits.patients),
            };
            let receipt = sink.record_now(&SystemClock, event_for(&reader, action, None))?;
            Ok(Audited::new(hits, receipt))
        })
        .await
    }

    /// A ward's census (names, beds, markers); the audit entry lists the patients shown.
    pub async fn census(
        &self,
        reader: &Reader,
        ward: String,
    ) -> Result<Audited<Vec<PatientSummary>>, ViewError> {
        let snap = self.snapshot.clone();
        let sink = self.sink.clone();
        let reader = reader.clone();
        blocking(move || {
            let rows = snap.census(&ward)?;
            let action = Action::WardCensus {
                ward,
                keys: keys_of(&rows),
            };
            let receipt = sink.record_now(&SystemClock, event_for(&reader, action, None))?;
            Ok(Audited::new(rows, receipt))
        })
        .await
    }

    /// Everything needed to print a ward: the census, then each patient's record. One
    /// `WardPrint` entry lists every patient printed: one durable commit for the whole print
    /// job, made before anything is returned.
    pub async fn ward_print(
        &self,
        reader: &Reader,
        ward: String,
    ) -> Result<Audited<(Vec<PatientSummary>, Vec<PatientRecord>)>, ViewError> {
        let snap = self.snapshot.clone();
        let sink = self.sink.clone();
        let reader = reader.clone();
        blocking(move || {
            let rows = snap.census(&ward)?;
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                if let Some(r) = snap.patient(&row.key)? {
                    records.push(r);
                }
            }
            let action = Action::WardPrint {
                ward,
                patients: u32::try_from(records.len()).unwrap_or(u32::MAX),
                keys: records.iter().map(|r| r.key.0.clone()).collect(),
            };
            let receipt = sink.record_now(&SystemClock, event_for(&reader, action, None))?;
            Ok(Audited::new((rows, records), receipt))
        })
        .await
    }
}

/// The details of a patient read or print: the ward of the served record's current
/// encounter (the review compares it with the account's ward scope; empty when the patient
/// is on no ward now, an outpatient or a discharged patient, which is outside every scope),
/// and the pseudonyms of the patient's family names and hospital ID, which the review
/// compares with the declared person's family name and the configured VIP list. Neither
/// name nor ID goes into the ledger in clear.
fn patient_details(record: &PatientRecord, sink: &dyn AuditSink) -> Option<String> {
    let ward = record
        .current_encounter()
        .and_then(|e| e.ward.as_deref())
        .unwrap_or_default();
    let p = &record.patient;
    let families = [p.name_kanji.as_deref(), p.name_kana.as_deref()]
        .into_iter()
        .flatten()
        .filter_map(family_name)
        .filter_map(|f| sink.pseudonym(PseudonymKind::FamilyName, f))
        .collect::<Vec<_>>()
        .join(",");
    let id = p
        .hospital_id
        .as_deref()
        .and_then(|id| sink.pseudonym(PseudonymKind::HospitalId, id))
        .unwrap_or_default();
    let mut pairs = vec![(details::WARD, ward)];
    if !families.is_empty() {
        pairs.push((details::FAMILY_NAME, &families));
    }
    if !id.is_empty() {
        pairs.push((details::HOSPITAL_ID, &id));
    }
    Some(details::format(pairs))
}

/// The keys of the patients a list shows.
fn keys_of(rows: &[PatientSummary]) -> Vec<String> {
    rows.iter().map(|r| r.key.0.clone()).collect()
}

/// The entry for a key that names no patient: the key as asked for, cut to a bound.
fn not_found(key: &PatientKey) -> Action {
    Action::PatientNotFound {
        key: key.0.chars().take(MAX_LOOKUP_KEY_CHARS).collect(),
    }
}

fn event_for(reader: &Reader, action: Action, patient: Option<String>) -> AuditEvent {
    AuditEvent {
        // `record_now` replaces it with the time read in the ledger's order.
        time: Utc::now(),
        actor: reader.clinician.actor(),
        action,
        patient,
        details: None,
        client: reader.client.clone(),
        mode: reader.clinician.mode(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ViewError> + Send + 'static,
) -> Result<T, ViewError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ViewError::Join(e.to_string()))?
}
