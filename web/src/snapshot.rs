//! [`Snapshot`] for the sync crate's [`SnapshotReader`]: what the root passes to
//! [`crate::pages::Pages::new`]. The reader's summaries carry no markers, so the allergy
//! and infection markers of result lists and censuses come from each listed patient's
//! own item, allergies and infection results, all the listed patients' in one read
//! ([`SnapshotReader::rows_facts`]; a ward is tens of patients; results are capped), not
//! from an assembled record.

use akari_accounts::review::resolve::PatientIdentity;
use akari_sync::model::{PatientKey, PatientRecord};
use akari_sync::reader::{PatientSummary as SyncSummary, RowFacts, SearchKind};
use akari_sync::store::StoreError;
use akari_sync::SnapshotReader;
use chrono::{DateTime, Utc};

use crate::viewer::{Hits, PatientSummary, QueryKind, Snapshot, SnapshotError};

/// A locked (encrypted, key not in memory) snapshot is its own error: the page says how to
/// unlock it. Other failures carry the store's data-free message.
fn read_err(e: StoreError) -> SnapshotError {
    match e {
        StoreError::Locked => SnapshotError::Locked,
        other => SnapshotError::Read(other.to_string()),
    }
}

fn identity_of(s: SyncSummary) -> PatientIdentity {
    PatientIdentity {
        key: s.key.0,
        name: s.name_kanji,
        kana: s.name_kana,
        hospital_id: s.hospital_id,
        birth_date: s.birth_date,
    }
}

/// The rows of the listed patients (each with the room and bed a census gives it, if
/// any), their markers read in one go.
fn rows(
    reader: &SnapshotReader,
    listed: Vec<(SyncSummary, Option<String>, Option<String>)>,
) -> Result<Vec<PatientSummary>, SnapshotError> {
    let keys: Vec<PatientKey> = listed.iter().map(|(s, _, _)| s.key.clone()).collect();
    let facts = reader.rows_facts(&keys).map_err(read_err)?;
    Ok(listed
        .into_iter()
        .zip(facts)
        .map(|((s, room, bed), facts)| summary(s, facts, room, bed))
        .collect())
}

fn summary(
    s: SyncSummary,
    facts: Option<RowFacts>,
    room: Option<String>,
    bed: Option<String>,
) -> PatientSummary {
    PatientSummary {
        patient: akari_sync::model::Patient {
            id: facts
                .as_ref()
                .map(|f| f.patient.id.clone())
                .unwrap_or_default(),
            hospital_id: s.hospital_id,
            name_kanji: s.name_kanji,
            name_kana: s.name_kana,
            sex: s.sex,
            birth_date: s.birth_date,
            deceased: facts.as_ref().and_then(|f| f.patient.deceased),
        },
        key: s.key,
        ward: s.ward,
        room: room.or(s.room),
        bed: bed.or(s.bed),
        has_allergy: facts.as_ref().is_some_and(|f| f.allergy),
        has_infection: facts.as_ref().is_some_and(|f| f.infection),
    }
}

impl Snapshot for SnapshotReader {
    fn as_of(&self) -> Option<DateTime<Utc>> {
        self.generation()
            .map(|m| m.high_water.unwrap_or(m.created_at))
    }

    fn patient(&self, key: &PatientKey) -> Result<Option<PatientRecord>, SnapshotError> {
        SnapshotReader::patient(self, key).map_err(read_err)
    }

    fn search(&self, query: &str, limit: usize) -> Result<Hits, SnapshotError> {
        let found = self.search_results_up_to(query, limit).map_err(read_err)?;
        let kind = match found.kind {
            SearchKind::BirthDate(_) => QueryKind::BirthDate,
            SearchKind::HospitalId => QueryKind::HospitalId,
            SearchKind::Name => QueryKind::Name,
        };
        let patients = rows(
            self,
            found
                .patients
                .into_iter()
                .map(|s| (s, None, None))
                .collect(),
        )?;
        Ok(Hits {
            kind,
            patients,
            more: found.more,
        })
    }

    fn wards(&self) -> Result<Vec<String>, SnapshotError> {
        Ok(SnapshotReader::census(self)
            .map_err(read_err)?
            .into_iter()
            .map(|w| w.ward)
            .collect())
    }

    /// From the search index alone: one lookup, no record assembled.
    fn identify(&self, key: &PatientKey) -> Result<Option<PatientIdentity>, SnapshotError> {
        Ok(SnapshotReader::summary(self, key)
            .map_err(read_err)?
            .map(identity_of))
    }

    /// From the search index alone: no item of any listed patient is read.
    fn identities(&self, query: &str, limit: usize) -> Result<Vec<PatientIdentity>, SnapshotError> {
        let found = self.search_results_up_to(query, limit).map_err(read_err)?;
        Ok(found.patients.into_iter().map(identity_of).collect())
    }

    fn census(&self, ward: &str) -> Result<Vec<PatientSummary>, SnapshotError> {
        let Some(census) = SnapshotReader::ward(self, ward).map_err(read_err)? else {
            return Ok(Vec::new());
        };
        rows(
            self,
            census
                .beds
                .into_iter()
                .map(|b| (b.patient, b.room, b.bed))
                .collect(),
        )
    }
}
