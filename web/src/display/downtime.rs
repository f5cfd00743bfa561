//! Downtime entries on the patient page and its printouts: the list of every entry
//! (superseded ones struck through, with their correction), and the entries merged into
//! the MAR, the doses due next and the vital-signs chart, each marked as recorded during
//! the outage and by whom.

use akari_downtime::{DoseRef, Listed, NoteKind, Outcome, Record};
use akari_sync::model::{Administration, PatientRecord, VitalKind, VitalSign};
use chrono::{DateTime, Utc};

use crate::i18n::{Lang, Tr};

/// The id of a downtime entry merged into the record's administrations or vital signs:
/// never a source id (sources do not use this scheme), so the grids can mark it.
const MERGED_ID_PREFIX: &str = "akari-downtime:";

/// The downtime entry a merged administration or vital sign came from.
pub(super) fn merged_entry(id: &str) -> Option<u64> {
    id.strip_prefix(MERGED_ID_PREFIX)?.parse().ok()
}

/// One entry as the page lists it.
#[derive(Debug, Clone)]
pub struct DowntimeLine {
    pub id: u64,
    /// `administration`, `vitals`, `note`: the row's class.
    pub kind: &'static str,
    pub label: String,
    /// The time the entry refers to.
    pub time: String,
    pub recorded: String,
    pub text: String,
    /// Declared person (profession, department) and account.
    pub who: String,
    pub outside_ward: bool,
    /// "#7" when entry 7 corrected this one, else "".
    pub superseded_by: String,
    /// "#3: reason" when this corrects entry 3, else "".
    pub corrects: String,
    /// The form to correct it, filled with what it says.
    pub form: EntryForm,
}

/// A scheduled time a due dose can be recorded against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// RFC 3339.
    pub value: String,
    pub text: String,
    pub selected: bool,
}

impl Slot {
    fn of(tr: Tr, t: DateTime<Utc>, selected: bool) -> Slot {
        Slot {
            value: t.to_rfc3339(),
            text: tr.zone.minute(&t),
            selected,
        }
    }
}

/// The values of a recording form (empty for a new entry; an entry's for a correction).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryForm {
    pub kind: &'static str,
    /// `datetime-local` value on the hospital's clock, or "" (now).
    pub refers_to: String,
    pub prescription_id: String,
    /// The scheduled times a due dose can be recorded against (one selected); none for
    /// an unlisted drug or a dose with no computable time.
    pub slots: Vec<Slot>,
    pub medication: String,
    pub drug: String,
    pub outcome: &'static str,
    pub dose: String,
    pub route: String,
    pub site: String,
    pub note: String,
    pub temperature: String,
    pub pulse: String,
    pub systolic: String,
    pub diastolic: String,
    pub respiration: String,
    pub spo2: String,
    pub pain: String,
    pub consciousness: String,
    pub author: &'static str,
    pub text: String,
}

impl EntryForm {
    pub fn new(kind: &'static str) -> Self {
        EntryForm {
            kind,
            outcome: Outcome::Given.as_str(),
            author: NoteKind::Nursing.as_str(),
            ..EntryForm::default()
        }
    }

    /// The form for a due dose of a prescription, at one of `slots` (the one nearest to
    /// `now` selected).
    pub fn due(
        tr: Tr,
        prescription_id: &str,
        medication: &str,
        dose: &str,
        route: &str,
        slots: &[DateTime<Utc>],
        now: DateTime<Utc>,
    ) -> Self {
        let nearest = slots
            .iter()
            .min_by_key(|t| (**t - now).num_seconds().abs())
            .copied();
        EntryForm {
            prescription_id: prescription_id.to_owned(),
            medication: medication.to_owned(),
            slots: slots
                .iter()
                .map(|t| Slot::of(tr, *t, Some(*t) == nearest))
                .collect(),
            dose: dose.to_owned(),
            route: route.to_owned(),
            ..EntryForm::new("administration")
        }
    }

    fn of(tr: Tr, l: &Listed) -> Self {
        let e = &l.entry;
        let mut f = EntryForm::new(e.record.kind());
        f.refers_to = tr
            .zone
            .local(&e.refers_to)
            .format("%Y-%m-%dT%H:%M")
            .to_string();
        let num = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        match &e.record {
            Record::Administration(a) => {
                match &a.dose_ref {
                    DoseRef::Due {
                        prescription_id,
                        scheduled,
                        medication,
                    } => {
                        f.prescription_id = prescription_id.clone();
                        f.medication = medication.clone();
                        f.slots = scheduled.iter().map(|t| Slot::of(tr, *t, true)).collect();
                    }
                    DoseRef::Unlisted { drug } => f.drug = drug.clone(),
                }
                f.outcome = a.outcome.as_str();
                f.dose = a.dose.clone();
                f.route = a.route.clone();
                f.site = a.site.clone();
                f.note = a.note.clone();
            }
            Record::Vitals(v) => {
                f.temperature = v.temperature.map(|t| format!("{t:.1}")).unwrap_or_default();
                f.pulse = num(v.pulse);
                f.systolic = num(v.systolic);
                f.diastolic = num(v.diastolic);
                f.respiration = num(v.respiration);
                f.spo2 = num(v.spo2);
                f.pain = num(v.pain);
                f.consciousness = v.consciousness.clone().unwrap_or_default();
            }
            Record::Note(n) => {
                f.author = n.author.as_str();
                f.text = n.text.clone();
            }
        }
        f
    }
}

fn say(tr: Tr, ja: &str, en: &str) -> String {
    match tr.lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
    .to_owned()
}

pub fn outcome_text(tr: Tr, o: Outcome) -> String {
    match o {
        Outcome::Given => say(tr, "実施", "given"),
        Outcome::Held => say(tr, "保留", "held"),
        Outcome::Refused => say(tr, "拒否", "refused"),
    }
}

/// What the entry says, on one line.
pub fn record_text(tr: Tr, record: &Record) -> String {
    match record {
        Record::Administration(a) => {
            let mut parts = vec![a.medication().to_owned(), outcome_text(tr, a.outcome)];
            if let DoseRef::Unlisted { .. } = a.dose_ref {
                parts.push(say(tr, "（処方一覧にない薬剤）", "(not on the list)"));
            }
            for s in [&a.dose, &a.route, &a.site, &a.note] {
                if !s.is_empty() {
                    parts.push(s.clone());
                }
            }
            parts.join(" ")
        }
        Record::Vitals(v) => vital_parts(tr, v)
            .into_iter()
            .map(|(label, value, unit)| format!("{label} {value}{unit}"))
            .collect::<Vec<_>>()
            .join(" / "),
        Record::Note(n) => n.text.clone(),
    }
}

/// Each recorded vital sign: its label, value and unit (blood pressure as one).
fn vital_parts(tr: Tr, v: &akari_downtime::Vitals) -> Vec<(String, String, &'static str)> {
    let l = |ja: &str, en: &str| say(tr, ja, en);
    let mut out = Vec::new();
    if let Some(t) = v.temperature {
        out.push((l("体温", "Temp"), format!("{t:.1}"), "℃"));
    }
    if let Some(p) = v.pulse {
        out.push((l("脈拍", "Pulse"), p.to_string(), "/min"));
    }
    if let (Some(s), Some(d)) = (v.systolic, v.diastolic) {
        out.push((l("血圧", "BP"), format!("{s}/{d}"), "mmHg"));
    }
    if let Some(r) = v.respiration {
        out.push((l("呼吸数", "RR"), r.to_string(), "/min"));
    }
    if let Some(s) = v.spo2 {
        out.push(("SpO2".to_owned(), s.to_string(), "%"));
    }
    if let Some(p) = v.pain {
        out.push((l("疼痛", "Pain"), p.to_string(), "/10"));
    }
    if let Some(c) = &v.consciousness {
        out.push((l("意識", "Consciousness"), c.clone(), ""));
    }
    out
}

pub fn kind_label(tr: Tr, record: &Record) -> String {
    match record {
        Record::Administration(_) => say(tr, "投与", "Administration"),
        Record::Vitals(_) => say(tr, "バイタルサイン", "Vital signs"),
        Record::Note(n) => match n.author {
            NoteKind::Nursing => say(tr, "看護記事", "Nursing note"),
            NoteKind::Physician => say(tr, "医師記事", "Physician note"),
        },
    }
}

/// Who recorded an entry: the declared person and the account.
pub fn who(l: &Listed) -> String {
    let r = &l.entry.recorder;
    format!(
        "{}（{}・{}）{}",
        r.person.name, r.person.profession, r.person.department, r.account_id
    )
}

/// The list of a patient's entries, in time order.
pub fn lines(tr: Tr, entries: &[Listed]) -> Vec<DowntimeLine> {
    entries
        .iter()
        .map(|l| {
            let e = &l.entry;
            DowntimeLine {
                id: e.id,
                kind: e.record.kind(),
                label: kind_label(tr, &e.record),
                time: tr.zone.minute(&e.refers_to),
                recorded: tr.zone.minute(&e.recorded_at),
                text: record_text(tr, &e.record),
                who: who(l),
                outside_ward: e.outside_ward,
                superseded_by: l.superseded_by.map(|b| format!("#{b}")).unwrap_or_default(),
                corrects: e
                    .supersedes
                    .as_ref()
                    .map(|s| format!("#{}: {}", s.entry, s.reason))
                    .unwrap_or_default(),
                form: EntryForm::of(tr, l),
            }
        })
        .collect()
}

/// Adds the entries in force (not superseded) to the record's administrations and vital
/// signs, so the MAR, the doses due next (a recorded dose is the last dose) and the
/// vital-signs chart show them; their ids mark them (see [`merged_entry`]).
pub fn merge(record: &mut PatientRecord, entries: &[Listed]) {
    for l in entries.iter().filter(|l| l.superseded_by.is_none()) {
        let e = &l.entry;
        let id = format!("{MERGED_ID_PREFIX}{}", e.id);
        let time = e.refers_to.fixed_offset();
        match &e.record {
            Record::Administration(a) => record.administrations.push(Administration {
                id,
                medication: a.medication().to_owned(),
                dose: Some(a.dose.clone()).filter(|d| !d.is_empty()),
                route: Some(a.route.clone()).filter(|r| !r.is_empty()),
                status: match a.outcome {
                    Outcome::Given => "completed",
                    Outcome::Held | Outcome::Refused => "not-done",
                }
                .to_owned(),
                time,
                prescription_id: match &a.dose_ref {
                    DoseRef::Due {
                        prescription_id, ..
                    } => Some(prescription_id.clone()),
                    DoseRef::Unlisted { .. } => None,
                },
            }),
            Record::Vitals(v) => {
                let reading =
                    |kind: VitalKind, name: Option<&str>, value: String, unit: &str| VitalSign {
                        id: id.clone(),
                        kind,
                        name: name.map(str::to_owned),
                        value,
                        unit: Some(unit.to_owned()).filter(|u| !u.is_empty()),
                        time,
                    };
                let mut add = |s: VitalSign| record.vitals.push(s);
                if let Some(t) = v.temperature {
                    add(reading(
                        VitalKind::BodyTemperature,
                        None,
                        format!("{t:.1}"),
                        "℃",
                    ));
                }
                if let Some(p) = v.pulse {
                    add(reading(VitalKind::HeartRate, None, p.to_string(), "/min"));
                }
                if let (Some(s), Some(d)) = (v.systolic, v.diastolic) {
                    add(reading(
                        VitalKind::BloodPressure,
                        None,
                        format!("{s}/{d}"),
                        "mmHg",
                    ));
                }
                if let Some(r) = v.respiration {
                    add(reading(
                        VitalKind::RespiratoryRate,
                        None,
                        r.to_string(),
                        "/min",
                    ));
                }
                if let Some(s) = v.spo2 {
                    add(reading(
                        VitalKind::OxygenSaturation,
                        None,
                        s.to_string(),
                        "%",
                    ));
                }
                if let Some(p) = v.pain {
                    add(reading(
                        VitalKind::Other,
                        Some("疼痛"),
                        p.to_string(),
                        "/10",
                    ));
                }
                if let Some(c) = &v.consciousness {
                    add(reading(VitalKind::Other, Some("意識"), c.clone(), ""));
                }
            }
            Record::Note(_) => {}
        }
    }
}
