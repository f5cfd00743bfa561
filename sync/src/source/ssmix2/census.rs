//! The census from ADT events: admissions (ADT-22, A01), transfers (ADT-42, A02) and
//! discharges (ADT-52, A03), each filed under its own key and date, are folded per
//! patient into one Encounter per admission.
//!
//! Every event's PV1 is a snapshot of the stay (location, admission time), so a stay is
//! what its newest valid event says: in progress at PV1-3 after an admission or a
//! transfer, finished after a discharge. A cancel (A11 / A12 / A13) or a deleted key
//! voids its event, and the stay falls back to the newest event left; a cancelled
//! admission removes the stay. An event belongs to the admission whose date is its
//! PV1-44 (admission time), else to the latest admission at or before it.

use chrono::NaiveDateTime;

use super::er7::{Message, Note, Place};
use super::layout::{parse_date, stamp_time, FileName, Key};
use super::map::{self, EncounterFacts, Fatal};
use super::time::{self, Hl7Time};

/// One ADT event of a stay, as read from its current file.
#[derive(Debug, Clone)]
pub struct StayEvent {
    pub key: Key,
    pub stamp: String,
    /// Trigger event: A01, A02, A03 (or a cancel A11, A12, A13).
    pub event: String,
    pub class: &'static str,
    pub place: (Option<String>, Option<String>, Option<String>),
    /// PV1-44.
    pub admitted: Option<Hl7Time>,
    /// PV1-45.
    pub discharged: Option<Hl7Time>,
    /// When it happened (for ordering).
    pub at: Option<NaiveDateTime>,
}

impl StayEvent {
    fn voided(&self) -> bool {
        matches!(self.event.as_str(), "A11" | "A12" | "A13")
    }
}

/// The Encounter id of the admission filed under `key` (an ADT-22 key).
pub fn stay_id(key: &Key) -> String {
    map::rid(&[&key.pid, &key.date, "ADT-22", &key.order])
}

/// Read the stay facts of an ADT-22/42/52 message.
pub fn read_event(
    msg: &Message,
    name: &FileName,
    event: &str,
    notes: &mut Vec<Note>,
) -> Result<StayEvent, Fatal> {
    let Some(pv1) = msg.first("PV1") else {
        return Err(Note::new(
            Place::none(),
            "the admission/transfer/discharge message has no PV1 segment",
        ));
    };
    let mut t = |n: usize, seg: &super::er7::Segment| match time::parse(&seg.comp(n, 1)) {
        Ok(t) => t,
        Err(_) => {
            notes.push(Note::new(
                Place::field(seg, n),
                "is not a valid HL7 time; the time is shown as unknown",
            ));
            None
        }
    };
    let admitted = t(44, pv1);
    let discharged = t(45, pv1);
    let (evn_recorded, evn_occurred) = match msg.first("EVN") {
        Some(evn) => (t(2, evn), t(6, evn)),
        None => (None, None),
    };
    let at = match event {
        "A01" => admitted.clone().or(evn_occurred.clone()),
        "A03" => discharged.clone().or(evn_occurred.clone()),
        _ => evn_occurred.clone(),
    }
    .or(evn_recorded)
    .and_then(|t| t.naive())
    .or_else(|| stamp_time(&name.stamp));
    Ok(StayEvent {
        key: name.key.clone(),
        stamp: name.stamp.clone(),
        event: event.to_string(),
        class: map::patient_class(pv1),
        place: map::location(pv1, 3),
        admitted,
        discharged,
        at,
    })
}

/// The stays of one patient from the current files of their ADT-22/42/52 keys.
pub fn stays(events: &[StayEvent]) -> Vec<EncounterFacts> {
    let mut admissions: Vec<&StayEvent> = events
        .iter()
        .filter(|e| e.key.data_type == "ADT-22" && !e.voided())
        .collect();
    admissions.sort_by(|a, b| (start_of(a), &a.stamp).cmp(&(start_of(b), &b.stamp)));
    let mut per: Vec<Vec<&StayEvent>> = admissions.iter().map(|a| vec![*a]).collect();
    for e in events
        .iter()
        .filter(|e| e.key.data_type != "ADT-22" && !e.voided())
    {
        let by_date = e.admitted.as_ref().and_then(Hl7Time::date).and_then(|d| {
            admissions
                .iter()
                .rposition(|a| parse_date(&a.key.date) == Some(d))
        });
        let when = e.at.or_else(|| {
            parse_date(&e.key.date).map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        });
        let by_time = || {
            admissions
                .iter()
                .rposition(|a| start_of(a).is_some_and(|s| when.is_none_or(|w| s <= w)))
        };
        if let Some(i) = by_date.or_else(by_time) {
            per[i].push(e);
        }
    }
    admissions
        .iter()
        .zip(per)
        .map(|(adm, mut evs)| {
            evs.sort_by(|a, b| (a.at, &a.stamp).cmp(&(b.at, &b.stamp)));
            let last = evs.last().copied().unwrap_or(adm);
            let finished = last.event == "A03";
            let end = if finished {
                last.discharged
                    .clone()
                    .or_else(|| last.at.map(|t| Hl7Time::DateTime(t, 9 * 3600, None)))
            } else {
                None
            };
            let start = adm
                .admitted
                .clone()
                .or_else(|| last.admitted.clone())
                .or_else(|| parse_date(&adm.key.date).map(Hl7Time::Date));
            let (ward, room, bed) = if last.place.0.is_some() || finished {
                last.place.clone()
            } else {
                // A transfer without a location keeps the last known one.
                evs.iter()
                    .rev()
                    .find(|e| e.place.0.is_some())
                    .map(|e| e.place.clone())
                    .unwrap_or_default()
            };
            EncounterFacts {
                id: stay_id(&adm.key),
                status: if finished { "finished" } else { "in-progress" },
                class: if adm.class == "AMB" { "IMP" } else { adm.class },
                ward,
                room,
                bed,
                start,
                end,
            }
        })
        .collect()
}

fn start_of(e: &StayEvent) -> Option<NaiveDateTime> {
    e.admitted
        .as_ref()
        .and_then(Hl7Time::naive)
        .or(e.at)
        .or_else(|| parse_date(&e.key.date).and_then(|d| d.and_hms_opt(0, 0, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        dtype: &str,
        date: &str,
        stamp: &str,
        event: &str,
        bed: &str,
        adm: &str,
        at: &str,
    ) -> StayEvent {
        StayEvent {
            key: Key {
                pid: "1".into(),
                date: date.into(),
                data_type: dtype.into(),
                order: super::super::layout::NO_ORDER.into(),
                extended: false,
            },
            stamp: stamp.into(),
            event: event.into(),
            class: "IMP",
            place: (Some("3E".into()), Some("301".into()), Some(bed.into())),
            admitted: time::parse(adm).unwrap(),
            discharged: if event == "A03" {
                time::parse(at).unwrap()
            } else {
                None
            },
            at: time::parse(at).unwrap().and_then(|t| t.naive()),
        }
    }

    #[test]
    fn transfers_move_the_bed_discharge_ends_and_cancels_fall_back() {
        let adm = ev(
            "ADT-22",
            "20240101",
            "20240101100000000",
            "A01",
            "1",
            "202401011000",
            "202401011000",
        );
        let tr = ev(
            "ADT-42",
            "20240105",
            "20240105100000000",
            "A02",
            "2",
            "202401011000",
            "202401051000",
        );
        let s = stays(&[adm.clone(), tr.clone()]);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].status, "in-progress");
        assert_eq!(s[0].bed.as_deref(), Some("2"));
        assert_eq!(s[0].id, stay_id(&adm.key));
        // The transfer cancelled (A12): back to the admission's bed.
        let mut cancel = tr.clone();
        cancel.event = "A12".into();
        let s = stays(&[adm.clone(), cancel]);
        assert_eq!(s[0].bed.as_deref(), Some("1"));
        // Discharged: finished, with its end.
        let dis = ev(
            "ADT-52",
            "20240110",
            "20240110100000000",
            "A03",
            "2",
            "",
            "202401101200",
        );
        let s = stays(&[adm.clone(), tr.clone(), dis]);
        assert_eq!(s[0].status, "finished");
        assert!(s[0].end.is_some());
        // Admission cancelled: no stay at all, its transfer is not a stay either.
        let mut void = adm.clone();
        void.event = "A11".into();
        assert!(stays(&[void, tr]).is_empty());
    }
}
