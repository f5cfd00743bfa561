//! The patient page's two grids: vital signs (one row per time, one column per kind) and
//! the MAR (one row per prescription, one column per day).

use super::*;

/// Vital signs of the last 72 hours before the data time as a chart: one row per minute
/// (newest first), one column per kind, values outside the limits highlighted.
#[derive(Debug, Clone)]
pub struct VitalsGrid {
    pub heads: Vec<String>,
    pub rows: Vec<VitalsRow>,
}

#[derive(Debug, Clone)]
pub struct VitalsRow {
    pub time: String,
    pub cells: Vec<VitalCell>,
    /// The downtime entry the row's readings were recorded in, if they were.
    pub entry: Option<u64>,
    /// Who recorded them during the outage ("" for the source's own readings).
    pub by: String,
}

/// One cell: the readings of one kind at one minute, and the worst one's mark.
#[derive(Debug, Clone, Default)]
pub struct VitalCell {
    pub text: String,
    /// ▼ L, ▲ H, ▼▼ LL, ▲▲ HH, or empty.
    pub mark: &'static str,
    /// CSS classes: `abnormal low`, `abnormal critical high`, ..., or empty.
    pub class: &'static str,
}

/// The window of the vital-signs chart, back from the data time.
const VITALS_WINDOW_HOURS: i64 = 72;

/// Which of two levels to show for a cell with two readings: critical before abnormal.
fn worse(a: Level, b: Level) -> Level {
    let rank = |l: Level| match l {
        Level::Normal => 0,
        Level::Low | Level::High | Level::Abnormal { critical: false } => 1,
        Level::CriticalLow | Level::CriticalHigh | Level::Abnormal { critical: true } => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

const VITAL_COLUMNS: [VitalKind; 7] = [
    VitalKind::BloodPressure,
    VitalKind::HeartRate,
    VitalKind::BodyTemperature,
    VitalKind::RespiratoryRate,
    VitalKind::OxygenSaturation,
    VitalKind::BodyWeight,
    VitalKind::BodyHeight,
];

/// Other bedside readings (O2 flow, JCS, ...) get a column of their own, labelled with
/// their name, up to this many names (the most frequent); the rest are listed with the
/// findings under their name.
const OTHER_COLUMNS: usize = 4;

/// A column of the chart: a known kind, or other readings of one name.
#[derive(Debug, Clone, PartialEq)]
enum Column {
    Kind(VitalKind),
    Named(String),
}

fn column_of(v: &VitalSign) -> Column {
    match v.kind {
        VitalKind::Other => Column::Named(v.name.clone().unwrap_or_default()),
        k => Column::Kind(k),
    }
}

/// The chart, and the readings that did not get a place in it (as lines): other readings
/// without a column, and the newest reading of each kind older than the window (the last
/// weight may be a week old and still be what a dose is computed from).
pub(super) fn vitals_grid(
    tr: Tr,
    r: &PatientRecord,
    as_of: DateTime<Utc>,
    limits: &VitalLimits,
) -> (VitalsGrid, Vec<Line>) {
    let start = as_of - Duration::hours(VITALS_WINDOW_HOURS);
    let (recent, older): (Vec<&VitalSign>, Vec<&VitalSign>) = r
        .vitals
        .iter()
        .partition(|v| v.time.with_timezone(&Utc) >= start);
    let mut names: Vec<(String, usize)> = Vec::new();
    for v in recent.iter().filter(|v| v.kind == VitalKind::Other) {
        let name = v.name.clone().unwrap_or_default();
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => names.push((name, 1)),
        }
    }
    names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let named: Vec<String> = names
        .into_iter()
        .take(OTHER_COLUMNS)
        .map(|(n, _)| n)
        .collect();
    let columns: Vec<Column> = VITAL_COLUMNS
        .into_iter()
        .filter(|k| recent.iter().any(|v| v.kind == *k))
        .map(Column::Kind)
        .chain(named.iter().cloned().map(Column::Named))
        .collect();
    let mut rest = Vec::new();
    // Newest first; readings of the same minute share a row (the stable sort keeps the
    // source order of readings taken together).
    let mut sorted: Vec<&VitalSign> = recent;
    sorted.sort_by_key(|v| std::cmp::Reverse(v.time));
    let minute = |v: &VitalSign| tr.zone.minute(&v.time);
    let rows = sorted
        .chunk_by(|a, b| minute(a) == minute(b))
        .map(|group| VitalsRow {
            time: minute(group[0]),
            entry: group.iter().find_map(|v| downtime::merged_entry(&v.id)),
            by: String::new(),
            cells: columns
                .iter()
                .map(|col| {
                    let mut text = String::new();
                    let mut level = Level::Normal;
                    for v in group.iter().filter(|v| column_of(v) == *col) {
                        if !text.is_empty() {
                            text.push_str(" / ");
                        }
                        text.push_str(&value_with_unit(v.value.clone(), v.unit.as_deref()));
                        level = worse(level, limits.level(v.kind, &v.value));
                    }
                    VitalCell {
                        text,
                        mark: level.mark(),
                        class: level.class(),
                    }
                })
                .collect(),
        })
        .collect();
    for v in sorted {
        if let Column::Named(n) = column_of(v) {
            if !named.contains(&n) {
                rest.push(Line {
                    label: n,
                    text: value_with_unit(v.value.clone(), v.unit.as_deref()),
                    time: tr.zone.minute(&v.time),
                    alert: false,
                });
            }
        }
    }
    // The newest reading of each kind (or name) older than the window, newest first.
    let mut older = older;
    older.sort_by_key(|v| std::cmp::Reverse(v.time));
    let mut seen: Vec<Column> = Vec::new();
    for v in older {
        let col = column_of(v);
        if seen.contains(&col) {
            continue;
        }
        seen.push(col.clone());
        rest.push(Line {
            label: match col {
                Column::Kind(k) => vital_label(tr, k).to_owned(),
                Column::Named(n) => n,
            },
            text: value_with_unit(v.value.clone(), v.unit.as_deref()),
            time: tr.zone.minute(&v.time),
            alert: false,
        });
    }
    let heads = columns
        .into_iter()
        .map(|c| match c {
            Column::Kind(k) => vital_label(tr, k).to_owned(),
            Column::Named(n) => n,
        })
        .collect();
    (VitalsGrid { heads, rows }, rest)
}

fn vital_label(tr: Tr, kind: VitalKind) -> &'static str {
    let (ja, en) = match kind {
        VitalKind::BloodPressure => ("血圧", "BP"),
        VitalKind::HeartRate => ("脈拍", "HR"),
        VitalKind::BodyTemperature => ("体温", "Temp"),
        VitalKind::RespiratoryRate => ("呼吸数", "RR"),
        VitalKind::OxygenSaturation => ("SpO2", "SpO2"),
        VitalKind::BodyWeight => ("体重", "Weight"),
        VitalKind::BodyHeight => ("身長", "Height"),
        VitalKind::Other => ("その他", "Other"),
    };
    match tr.lang {
        Lang::Ja => ja,
        Lang::En => en,
    }
}
pub(super) fn mar(tr: Tr, r: &PatientRecord, as_of: DateTime<Utc>) -> Mar {
    let start = as_of - Duration::hours(MAR_WINDOW_HOURS);
    let mut given: Vec<_> = r
        .administrations
        .iter()
        .filter(|a| a.time.with_timezone(&Utc) >= start)
        .collect();
    given.sort_by_key(|a| a.time);
    let first_day = tr.zone.date(&start);
    // Doses recorded during the outage come after the data time: the grid runs to them.
    let latest = given
        .last()
        .map(|a| a.time.with_timezone(&Utc))
        .filter(|t| *t > as_of)
        .unwrap_or(as_of);
    let last_day = tr.zone.date(&latest);
    let days: Vec<NaiveDate> = first_day
        .iter_days()
        .take_while(|d| *d <= last_day)
        .collect();
    let mut rows: Vec<MarRow> = Vec::new();
    for a in given {
        let day = tr.zone.date(&a.time);
        let Some(col) = days.iter().position(|d| *d == day) else {
            continue;
        };
        let idx = match rows.iter().position(|r| r.medication == a.medication) {
            Some(i) => i,
            None => {
                rows.push(MarRow {
                    medication: a.medication.clone(),
                    cells: vec![Vec::new(); days.len()],
                });
                rows.len() - 1
            }
        };
        rows[idx].cells[col].push(MarCell {
            time: {
                let t = tr.zone.local(&a.time);
                format!("{:02}:{:02}", t.hour(), t.minute())
            },
            dose: a.dose.clone().unwrap_or_default(),
            given: a.status == "completed",
            status: status_text(tr, &codes::ADMINISTRATION, &a.status),
            entry: downtime::merged_entry(&a.id),
            by: String::new(),
        });
    }
    Mar {
        days: days
            .iter()
            .map(|d| format!("{:02}/{:02}", d.month(), d.day()))
            .collect(),
        rows,
    }
}
