//! Recording during an outage (emergency or drill): a declared clinician records, from
//! the patient page, the administration of a due dose (or of a drug not on the list),
//! vital signs or a note, and corrects an entry by recording one that supersedes it.
//!
//! Every form is a POST with the session's CSRF token. The recording path is the read
//! path's: the session is checked with the accounts layer (standby, recovery, a retired
//! account or a session without a declaration is refused), the audit entry is written
//! first, then the entry is stored durably, and only then is the clinician told
//! "recorded" (a redirect to the patient page, which lists it).

use akari_downtime::{
    Administration, DoseRef, Listed, Note, NoteKind, Outcome, Record, Supersedes, Vitals,
};
use akari_sync::model::{PatientKey, PatientRecord};
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;

use super::labels::path_segment;
use super::{render_with, Chrome, Ctx};
use crate::display::{DueClock, Summary, VitalLimits};
use crate::error::{PageError, Problem};
use crate::i18n::Tr;
use crate::viewer::{NewEntry, RecordError, ViewError};

/// How far ahead of the node's clock an entry's time may be (clocks on wards differ a
/// little; a dose is not recorded before it is given).
const FUTURE_SLACK_MINUTES: i64 = 10;

/// The fields of every recording form (which ones count depends on `kind`).
#[derive(Deserialize, Default)]
pub(crate) struct EntryFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    kind: String,
    /// The entry this one corrects, if it is a correction.
    #[serde(default)]
    supersedes: String,
    #[serde(default)]
    reason: String,
    /// `datetime-local` on the hospital's clock; empty for now.
    #[serde(default)]
    refers_to: String,
    #[serde(default)]
    prescription_id: String,
    #[serde(default)]
    scheduled: String,
    #[serde(default)]
    drug: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    dose: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    pulse: String,
    #[serde(default)]
    systolic: String,
    #[serde(default)]
    diastolic: String,
    #[serde(default)]
    respiration: String,
    #[serde(default)]
    spo2: String,
    #[serde(default)]
    pain: String,
    #[serde(default)]
    consciousness: String,
    #[serde(default)]
    author: String,
    #[serde(default)]
    text: String,
}

/// A field the form could not take, named for the clinician.
fn bad(field: &str) -> String {
    format!("{field}: invalid value")
}

fn number<T: std::str::FromStr>(field: &str, s: &str) -> Result<Option<T>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // Full-width digits from a Japanese keyboard are the same numbers.
    let s: String = s.chars().map(crate::display::half_width).collect();
    s.parse().map(Some).map_err(|_| bad(field))
}

fn trimmed(s: &str) -> String {
    s.trim().to_owned()
}

/// The entry a form asks for, or what is wrong with it.
fn parse(tr: Tr, f: &EntryFields, now: DateTime<Utc>) -> Result<NewEntry, String> {
    let refers_to = match f.refers_to.trim() {
        "" => now,
        text => {
            let local = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
                .map_err(|_| bad("time"))?;
            tr.zone.at_local(local).ok_or_else(|| bad("time"))?
        }
    };
    if refers_to > now + chrono::Duration::minutes(FUTURE_SLACK_MINUTES) {
        return Err("time: must not be in the future".into());
    }
    let supersedes = match f.supersedes.trim() {
        "" => None,
        id => Some(Supersedes {
            entry: id.parse().map_err(|_| bad("supersedes"))?,
            reason: trimmed(&f.reason),
        }),
    };
    let record = match f.kind.as_str() {
        "administration" => {
            let dose_ref = if f.prescription_id.trim().is_empty() {
                DoseRef::Unlisted {
                    drug: trimmed(&f.drug),
                }
            } else {
                let scheduled = match f.scheduled.trim() {
                    "" => None,
                    t => Some(
                        DateTime::parse_from_rfc3339(t)
                            .map_err(|_| bad("scheduled"))?
                            .with_timezone(&Utc),
                    ),
                };
                DoseRef::Due {
                    prescription_id: trimmed(&f.prescription_id),
                    scheduled,
                    // Named from the snapshot when recorded.
                    medication: String::new(),
                }
            };
            Record::Administration(Administration {
                dose_ref,
                outcome: Outcome::parse(&f.outcome).ok_or_else(|| bad("outcome"))?,
                dose: trimmed(&f.dose),
                route: trimmed(&f.route),
                site: trimmed(&f.site),
                note: trimmed(&f.note),
            })
        }
        "vitals" => Record::Vitals(Vitals {
            temperature: number("temperature", &f.temperature)?,
            pulse: number("pulse", &f.pulse)?,
            systolic: number("systolic", &f.systolic)?,
            diastolic: number("diastolic", &f.diastolic)?,
            respiration: number("respiration", &f.respiration)?,
            spo2: number("spo2", &f.spo2)?,
            pain: number("pain", &f.pain)?,
            consciousness: Some(trimmed(&f.consciousness)).filter(|c| !c.is_empty()),
        }),
        "note" => Record::Note(Note {
            author: NoteKind::parse(&f.author).ok_or_else(|| bad("author"))?,
            text: f.text.trim().to_owned(),
        }),
        _ => return Err(bad("kind")),
    };
    Ok(NewEntry {
        refers_to,
        supersedes,
        record,
    })
}

#[derive(Template)]
#[template(path = "downtime_refused.html")]
struct RefusedPage {
    c: Chrome,
    detail: String,
    back: String,
}

fn patient_path(key: &str) -> String {
    format!("/patients/{}", path_segment(key))
}

/// The form was refused as it stands: say why, nothing was recorded.
fn refused(ctx: &Ctx, key: &str, detail: String) -> Result<Response, PageError> {
    let page = RefusedPage {
        c: ctx.chrome(),
        detail,
        back: format!("{}#downtime", patient_path(key)),
    };
    render_with(StatusCode::BAD_REQUEST, &page)
}

/// `POST /patients/{key}/downtime`: records one entry, audited first.
pub(crate) async fn record(
    ctx: Ctx,
    Path(key): Path<String>,
    Form(form): Form<EntryFields>,
) -> Result<Response, PageError> {
    ctx.check_csrf(&form.csrf)?;
    let Some(store) = ctx.downtime().cloned() else {
        return Err(PageError::from(Problem::NotFound));
    };
    // Refused at once outside emergency and drill, or without a declaration; checked with
    // the accounts layer (timeouts, a retired account) where the entry is recorded.
    let check = ctx.reader_check()?;
    let entry = match parse(ctx.tr(), &form, Utc::now()) {
        Ok(entry) => entry,
        Err(detail) => return refused(&ctx, &key, detail),
    };
    let result = ctx
        .viewer()
        .record_downtime(store, PatientKey(key.clone()), entry, check)
        .await;
    match result {
        Ok(Ok(entry)) => Ok(Redirect::to(&format!(
            "{}?recorded={}#dt-{}",
            patient_path(&key),
            entry.id,
            entry.id
        ))
        .into_response()),
        Ok(Err(refusal)) => Err(ctx.session_refused(refusal)),
        Err(RecordError::Invalid(detail)) => refused(&ctx, &key, detail),
        Err(RecordError::View(ViewError::Audit(e))) => {
            tracing::error!(error = %e, "audit sink refused; downtime entry not stored");
            Err(PageError::from(Problem::RecordAudit))
        }
        Err(RecordError::View(e)) => Err(PageError::from(e)),
        Err(RecordError::Store(e)) => {
            tracing::error!(error = %e, "the downtime entry could not be stored after its audit entry");
            Err(PageError::from(Problem::RecordStore))
        }
    }
}

/// The downtime entries of audited records (read after the ledger entry of the read or
/// print that covers them): for each, its entries or why they could not be read.
pub(crate) async fn entries_of(
    ctx: &Ctx,
    records: &[PatientRecord],
) -> Result<Vec<Result<Vec<Listed>, String>>, PageError> {
    let Some(store) = ctx.downtime().cloned() else {
        return Ok(records.iter().map(|_| Ok(Vec::new())).collect());
    };
    let keys: Vec<String> = records.iter().map(|r| r.key.0.clone()).collect();
    let tr = ctx.tr();
    Ok(tokio::task::spawn_blocking(move || {
        keys.iter()
            .map(|k| {
                store.patient(k).map_err(|e| {
                    tracing::warn!(error = %e, "downtime entries could not be read");
                    tr.s("downtime_unreadable").to_owned()
                })
            })
            .collect()
    })
    .await?)
}

/// Summaries of audited records with their downtime entries merged in.
pub(crate) async fn summaries(
    ctx: &Ctx,
    records: Vec<PatientRecord>,
    as_of: DateTime<Utc>,
    clock: &DueClock,
    limits: &VitalLimits,
) -> Result<Vec<Summary>, PageError> {
    let entries = entries_of(ctx, &records).await?;
    Ok(records
        .into_iter()
        .zip(entries)
        .map(|(r, e)| {
            Summary::with_downtime(
                ctx.tr(),
                r,
                as_of,
                clock,
                limits,
                e.as_deref().map_err(Clone::clone),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr() -> Tr {
        Tr {
            lang: crate::i18n::Lang::Ja,
            zone: akari_accounts::Zone::default(),
        }
    }

    #[test]
    fn forms_become_entries_or_say_what_is_wrong() {
        let now = Utc::now();
        let vitals = EntryFields {
            kind: "vitals".into(),
            temperature: "３７．２".into(),
            pulse: "88".into(),
            ..EntryFields::default()
        };
        let e = parse(tr(), &vitals, now).unwrap();
        assert_eq!(e.refers_to, now);
        let Record::Vitals(v) = e.record else {
            panic!("vitals")
        };
        assert_eq!(v.temperature, Some(37.2));
        assert_eq!(v.pulse, Some(88));
        let bad_pulse = EntryFields {
            pulse: "eighty".into(),
            ..vitals
        };
        assert_eq!(
            parse(tr(), &bad_pulse, now).unwrap_err(),
            "pulse: invalid value"
        );
        let future = EntryFields {
            kind: "note".into(),
            author: "nursing".into(),
            text: "x".into(),
            refers_to: tr()
                .zone
                .local(&(now + chrono::Duration::hours(2)))
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            ..EntryFields::default()
        };
        assert!(parse(tr(), &future, now).unwrap_err().contains("future"));
        let unknown = EntryFields {
            kind: "surgery".into(),
            ..EntryFields::default()
        };
        assert!(parse(tr(), &unknown, now).is_err());
    }
}
