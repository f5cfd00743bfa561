//! Recording a downtime entry on the audited path: the clinician's session is checked,
//! the patient (and a due dose's prescription) looked up in the snapshot, the audit entry
//! committed, and only then the entry stored; the caller acknowledges it after that.
//! An audit entry that cannot be written means nothing is stored (fail closed).

use akari_accounts::WardScope;
use akari_downtime::{
    DoseRef, DowntimeStore, Draft, Entry, Person, Record, Recorder, Subject, Supersedes,
};

use super::*;

/// What a clinician asks to record.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub refers_to: DateTime<Utc>,
    pub supersedes: Option<Supersedes>,
    pub record: Record,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    View(#[from] ViewError),
    /// The entry was refused as it stands (a field, a correction of a corrected entry);
    /// nothing was audited or stored. The message names the field, never patient data.
    #[error("{0}")]
    Invalid(String),
    #[error("the downtime store failed: {0}")]
    Store(String),
}

impl From<akari_downtime::Error> for RecordError {
    fn from(e: akari_downtime::Error) -> Self {
        use akari_downtime::Error as E;
        match e {
            E::Storage(_) | E::Locked | E::Damaged => RecordError::Store(e.to_string()),
            E::Invalid { .. }
            | E::NoSuchEntry(_)
            | E::AlreadySuperseded { .. }
            | E::OtherPatient(_) => RecordError::Invalid(e.to_string()),
        }
    }
}

impl AuditedViewer {
    /// Records `entry` for the patient `key` as the clinician `verify` yields (checked on
    /// the blocking thread that records). The audit entry (with the patient's ward, so
    /// the review flags a patient outside the account's wards) is committed before the
    /// store's; the stored entry names it. `Ok(Err(e))`: `verify` refused; nothing was
    /// recorded or audited.
    pub async fn record_downtime<E: Send + 'static>(
        &self,
        store: DowntimeStore,
        key: PatientKey,
        entry: NewEntry,
        verify: impl FnOnce() -> Result<Reader, E> + Send + 'static,
    ) -> Result<Result<Entry, E>, RecordError> {
        let snap = self.snapshot.clone();
        let sink = self.sink.clone();
        let join = tokio::task::spawn_blocking(move || {
            let reader = match verify() {
                Ok(reader) => reader,
                Err(e) => return Ok(Err(e)),
            };
            let Some(patient) = snap.patient(&key).map_err(ViewError::from)? else {
                let _receipt = sink
                    .record_now(&SystemClock, event_for(&reader, not_found(&key), None))
                    .map_err(ViewError::from)?;
                return Err(ViewError::NotFound.into());
            };
            let mut record = entry.record;
            // A due dose is of one of this patient's prescriptions, named as the snapshot
            // names it (not as the form said).
            if let Record::Administration(a) = &mut record {
                if let DoseRef::Due {
                    prescription_id,
                    medication,
                    ..
                } = &mut a.dose_ref
                {
                    let Some(p) = patient
                        .prescriptions
                        .iter()
                        .find(|p| p.id == *prescription_id)
                    else {
                        return Err(RecordError::Invalid(
                            "the prescription is not in this patient's record".into(),
                        ));
                    };
                    medication.clone_from(&p.medication);
                }
            }
            let cap = &reader.clinician;
            let ward = patient
                .current_encounter()
                .and_then(|e| e.ward.clone())
                .unwrap_or_default();
            let outside_ward = match cap.ward_scope() {
                WardScope::All => false,
                WardScope::Wards(wards) => !wards.contains(&ward),
            };
            let declared = cap.declared_person();
            let mut draft = Draft {
                patient: key.0.clone(),
                subject: Subject {
                    source_id: patient.patient.id.clone(),
                    hospital_id: patient.patient.hospital_id.clone().unwrap_or_default(),
                    name: patient.patient.name_kanji.clone().unwrap_or_default(),
                },
                recorder: Recorder {
                    account_id: cap.account_id().to_owned(),
                    session_id: cap.session_id().to_owned(),
                    person: Person {
                        name: declared.name.clone(),
                        staff_number: declared.staff_number.clone(),
                        profession: declared.profession.clone(),
                        department: declared.department.clone(),
                    },
                    episode: cap.episode(),
                    drill: cap.mode().is_drill(),
                },
                refers_to: entry.refers_to,
                ward,
                outside_ward,
                audit_seq: 0,
                supersedes: entry.supersedes,
                record,
            };
            store.check(&draft)?;
            let action = Action::DowntimeRecorded {
                record: draft.record.kind().to_owned(),
                supersedes: draft.supersedes.as_ref().map(|s| s.entry),
            };
            let event = AuditEvent {
                details: patient_details(&patient, &*sink),
                ..event_for(&reader, action, Some(key.0))
            };
            let receipt = sink
                .record_now(&SystemClock, event)
                .map_err(ViewError::from)?;
            draft.audit_seq = receipt.sequence();
            Ok(Ok(store.append(draft)?))
        });
        join.await
            .map_err(|e| RecordError::View(ViewError::Join(e.to_string())))?
    }
}
