//! Trends: lab results grouped per test (the last values side by side, newest first, each
//! with its high/low flag), and how far a vital sign is from the usual range
//! ([`VitalLimits`], configurable, NEWS2 bands by default).

use serde::{Deserialize, Serialize};

use super::*;

/// How many results of one test are shown side by side.
pub const LAB_TREND_VALUES: usize = 4;

/// How far a value lies outside the usual range. Low is marked ▼ L, high ▲ H; a critical
/// value doubles the mark (▼▼ LL, ▲▲ HH) and has its own colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    #[default]
    Normal,
    Low,
    High,
    CriticalLow,
    CriticalHigh,
    /// Abnormal in no stated direction (a lab's "A"), critical or not.
    Abnormal {
        critical: bool,
    },
}

impl Level {
    /// The mark printed next to the value: it must read the same on a black-and-white
    /// printout, so direction and criticality are in the text, not only the colour.
    pub fn mark(self) -> &'static str {
        match self {
            Level::Normal => "",
            Level::Low => "▼ L",
            Level::High => "▲ H",
            Level::CriticalLow => "▼▼ LL",
            Level::CriticalHigh => "▲▲ HH",
            Level::Abnormal { critical: false } => "! A",
            Level::Abnormal { critical: true } => "!! AA",
        }
    }

    /// CSS classes of the value's cell.
    pub fn class(self) -> &'static str {
        match self {
            Level::Normal => "",
            Level::Low => "abnormal low",
            Level::High => "abnormal high",
            Level::CriticalLow => "abnormal critical low",
            Level::CriticalHigh => "abnormal critical high",
            Level::Abnormal { critical: false } => "abnormal",
            Level::Abnormal { critical: true } => "abnormal critical",
        }
    }

    pub fn is_abnormal(self) -> bool {
        self != Level::Normal
    }

    /// A lab's interpretation code (FHIR v3 ObservationInterpretation): H, L, HH, LL, A,
    /// AA, and the "significantly" / "off scale" forms. N and no code are normal; a code
    /// this does not know is abnormal in no stated direction (never hidden).
    pub fn of_interpretation(code: &str) -> Level {
        match code {
            "" | "N" => Level::Normal,
            "H" | "HU" | ">" => Level::High,
            "L" | "LU" | "<" => Level::Low,
            "HH" => Level::CriticalHigh,
            "LL" => Level::CriticalLow,
            "AA" => Level::Abnormal { critical: true },
            _ => Level::Abnormal { critical: false },
        }
    }
}

/// The limits of one vital sign. A value at or below `low` is low (▼ L), at or below
/// `critical_low` critically low (▼▼ LL); at or above `high` high (▲ H), at or above
/// `critical_high` critically high (▲▲ HH). A limit left out is not checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_high: Option<f64>,
}

impl Limits {
    const fn new(
        critical_low: Option<f64>,
        low: Option<f64>,
        high: Option<f64>,
        critical_high: Option<f64>,
    ) -> Self {
        Limits {
            critical_low,
            low,
            high,
            critical_high,
        }
    }

    pub fn level(&self, value: f64) -> Level {
        let at_or_below = |l: Option<f64>| l.is_some_and(|l| value <= l);
        let at_or_above = |l: Option<f64>| l.is_some_and(|l| value >= l);
        if at_or_below(self.critical_low) {
            Level::CriticalLow
        } else if at_or_above(self.critical_high) {
            Level::CriticalHigh
        } else if at_or_below(self.low) {
            Level::Low
        } else if at_or_above(self.high) {
            Level::High
        } else {
            Level::Normal
        }
    }

    /// The limits in order: critical low ≤ low < high ≤ critical high (those given).
    fn check(&self, name: &str) -> Result<(), String> {
        let given: Vec<(&str, f64)> = [
            ("critical_low", self.critical_low),
            ("low", self.low),
            ("high", self.high),
            ("critical_high", self.critical_high),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        for (k, v) in &given {
            if !v.is_finite() {
                return Err(format!("{name}.{k} is not a number"));
            }
        }
        for pair in given.windows(2) {
            let ((ka, a), (kb, b)) = (pair[0], pair[1]);
            let ordered = if ka == "low" && kb == "high" {
                a < b
            } else {
                a <= b
            };
            if !ordered {
                return Err(format!("{name}.{ka} ({a}) must be below {name}.{kb} ({b})"));
            }
        }
        Ok(())
    }
}

/// `[display.vital_limits]`: when a vital sign is highlighted. The defaults are the
/// National Early Warning Score 2 bands (Royal College of Physicians, 2017): a value that
/// scores in NEWS2 is low or high, one in a band scoring 3 is critical (temperature has no
/// band scoring 3: its highest band, ≥ 39.1 ℃, is critical here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VitalLimits {
    /// Systolic blood pressure, mmHg (the first number of "120/80").
    pub systolic: Limits,
    /// Pulse, /min.
    pub heart_rate: Limits,
    /// Body temperature, ℃.
    pub temperature: Limits,
    /// Respiratory rate, /min.
    pub respiratory_rate: Limits,
    /// SpO2, %.
    pub spo2: Limits,
}

impl Default for VitalLimits {
    fn default() -> Self {
        VitalLimits {
            systolic: Limits::new(Some(90.0), Some(110.0), Some(220.0), Some(220.0)),
            heart_rate: Limits::new(Some(40.0), Some(50.0), Some(91.0), Some(131.0)),
            temperature: Limits::new(Some(35.0), Some(36.0), Some(38.1), Some(39.1)),
            respiratory_rate: Limits::new(Some(8.0), Some(11.0), Some(21.0), Some(25.0)),
            spo2: Limits::new(Some(91.0), Some(95.0), None, None),
        }
    }
}

impl VitalLimits {
    /// Refuses limits out of order, naming the key (`[display.vital_limits]`).
    pub fn check(&self) -> Result<(), String> {
        self.systolic.check("systolic")?;
        self.heart_rate.check("heart_rate")?;
        self.temperature.check("temperature")?;
        self.respiratory_rate.check("respiratory_rate")?;
        self.spo2.check("spo2")
    }

    /// The level of a reading of `kind` given as text ("120/80", "38.4", "97"); normal
    /// when there are no limits for the kind or the text holds no number.
    pub fn level(&self, kind: VitalKind, value: &str) -> Level {
        let limits = match kind {
            VitalKind::BloodPressure => &self.systolic,
            VitalKind::HeartRate => &self.heart_rate,
            VitalKind::BodyTemperature => &self.temperature,
            VitalKind::RespiratoryRate => &self.respiratory_rate,
            VitalKind::OxygenSaturation => &self.spo2,
            _ => return Level::Normal,
        };
        leading_number(value).map_or(Level::Normal, |v| limits.level(v))
    }
}

/// The number a reading starts with: "120/80" → 120, "38.4" → 38.4; `None` for text
/// ("<0.5", "測定不能").
fn leading_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && *c == '-')))
        .map_or(s.len(), |(i, _)| i);
    s[..end].parse().ok()
}

/// One test's recent results, newest first.
#[derive(Debug, Clone)]
pub struct LabTrend {
    pub test: String,
    /// The range as numbers, else the source's text (of the newest result).
    pub reference: String,
    pub reference_note: String,
    /// Up to [`LAB_TREND_VALUES`], newest first.
    pub values: Vec<LabValue>,
    /// The newest result is abnormal.
    pub abnormal: bool,
    /// Older results not shown side by side.
    pub more: usize,
    /// Empty cells after the values, so every row has [`LAB_TREND_VALUES`] columns.
    pub blanks: usize,
}

#[derive(Debug, Clone)]
pub struct LabValue {
    pub value: String,
    pub unit: String,
    pub mark: &'static str,
    pub class: &'static str,
    pub time: String,
}

/// Results grouped per test (by code, else by name), the test with the newest result
/// first; results without a time last.
pub(super) fn lab_trends(tr: Tr, labs: Vec<akari_sync::model::LabResult>) -> Vec<LabTrend> {
    let mut labs = labs;
    labs.sort_by_key(|l| std::cmp::Reverse(l.time));
    let mut groups: Vec<(String, Vec<akari_sync::model::LabResult>)> = Vec::new();
    for l in labs {
        let key = l.code.clone().unwrap_or_else(|| l.test.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(l),
            None => groups.push((key, vec![l])),
        }
    }
    groups
        .into_iter()
        .map(|(_, results)| {
            let newest = &results[0];
            let (reference, reference_note) = match &newest.reference_range {
                Some(r) => match r.numbers() {
                    Some(n) => (n, r.text.clone().unwrap_or_default()),
                    None => (r.text.clone().unwrap_or_default(), String::new()),
                },
                None => (String::new(), String::new()),
            };
            let test = newest.test.clone();
            let more = results.len().saturating_sub(LAB_TREND_VALUES);
            let values: Vec<LabValue> = results
                .into_iter()
                .take(LAB_TREND_VALUES)
                .map(|l| {
                    let level = Level::of_interpretation(l.interpretation.as_deref().unwrap_or(""));
                    LabValue {
                        time: fmt_opt(tr, l.time.as_ref()),
                        value: l.value,
                        unit: l.unit.unwrap_or_default(),
                        mark: level.mark(),
                        class: level.class(),
                    }
                })
                .collect();
            LabTrend {
                blanks: LAB_TREND_VALUES - values.len(),
                abnormal: !values[0].class.is_empty(),
                test,
                reference,
                reference_note,
                values,
                more,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_is_marked_down_high_up_and_critical_doubled() {
        let l = VitalLimits::default();
        assert_eq!(l.level(VitalKind::OxygenSaturation, "93"), Level::Low);
        assert_eq!(Level::Low.mark(), "▼ L");
        assert_eq!(
            l.level(VitalKind::OxygenSaturation, "88"),
            Level::CriticalLow
        );
        assert_eq!(l.level(VitalKind::OxygenSaturation, "98"), Level::Normal);
        assert_eq!(
            l.level(VitalKind::BloodPressure, "84/50"),
            Level::CriticalLow
        );
        assert_eq!(l.level(VitalKind::BloodPressure, "128/76"), Level::Normal);
        assert_eq!(l.level(VitalKind::HeartRate, "112"), Level::High);
        assert_eq!(Level::High.mark(), "▲ H");
        assert_eq!(l.level(VitalKind::HeartRate, "140"), Level::CriticalHigh);
        assert_eq!(l.level(VitalKind::BodyTemperature, "38.4"), Level::High);
        assert_eq!(l.level(VitalKind::BodyTemperature, "37.5"), Level::Normal);
        assert_eq!(
            l.level(VitalKind::RespiratoryRate, "26"),
            Level::CriticalHigh
        );
        assert_eq!(l.level(VitalKind::BodyWeight, "12"), Level::Normal);
        assert_eq!(l.level(VitalKind::HeartRate, "測定不能"), Level::Normal);
        assert_ne!(Level::CriticalLow.class(), Level::Low.class());
    }

    #[test]
    fn lab_flags_keep_their_direction() {
        assert_eq!(Level::of_interpretation("L").mark(), "▼ L");
        assert_eq!(Level::of_interpretation("H").mark(), "▲ H");
        assert_eq!(Level::of_interpretation("LL").mark(), "▼▼ LL");
        assert_eq!(Level::of_interpretation("HH").mark(), "▲▲ HH");
        assert_eq!(Level::of_interpretation("N"), Level::Normal);
        assert!(
            Level::of_interpretation("W").is_abnormal(),
            "unknown flags stay visible"
        );
    }

    #[test]
    fn limits_out_of_order_are_refused_by_name() {
        assert!(VitalLimits::default().check().is_ok());
        let mut l = VitalLimits::default();
        l.spo2.low = Some(80.0);
        let err = l.check().unwrap_err();
        assert!(err.contains("spo2.critical_low"), "{err}");
        let mut l = VitalLimits::default();
        l.heart_rate.high = Some(50.0);
        assert!(l.check().unwrap_err().contains("heart_rate.low"));
    }
}
