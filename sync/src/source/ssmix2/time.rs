//! HL7 v2 times (TS / DTM / DT) → FHIR dateTime. SS-MIX2 writes no time zone: times are
//! JST. Reduced precision stays reduced (a date stays a date); an hour without minutes
//! is that full hour. A malformed time is `Err` (the caller treats it as unknown and
//! says which field), never a made-up time.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A parsed HL7 time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hl7Time {
    /// `YYYY`, `YYYYMM`: FHIR keeps the partial date.
    Partial(String),
    Date(NaiveDate),
    /// Wall-clock time and its UTC offset in seconds (JST unless the value says).
    DateTime(NaiveDateTime, i32, Option<String>),
}

impl Hl7Time {
    /// FHIR `dateTime` text.
    pub fn fhir(&self) -> String {
        // Written digit by digit: a pull formats millions of these.
        fn digits(s: &mut String, v: u32, width: u32) {
            for k in (0..width).rev() {
                s.push(char::from(b'0' + (v / 10u32.pow(k) % 10) as u8));
            }
        }
        fn date(s: &mut String, d: NaiveDate) {
            let y = d.year();
            if (0..=9999).contains(&y) {
                digits(s, y as u32, 4);
            } else {
                s.push_str(&format!("{y:04}"));
            }
            s.push('-');
            digits(s, d.month(), 2);
            s.push('-');
            digits(s, d.day(), 2);
        }
        match self {
            Hl7Time::Partial(s) => s.clone(),
            Hl7Time::Date(d) => {
                let mut s = String::with_capacity(10);
                date(&mut s, *d);
                s
            }
            Hl7Time::DateTime(t, off, frac) => {
                let mut s = String::with_capacity(32);
                date(&mut s, t.date());
                s.push('T');
                digits(&mut s, t.hour(), 2);
                s.push(':');
                digits(&mut s, t.minute(), 2);
                s.push(':');
                digits(&mut s, t.second(), 2);
                if let Some(f) = frac {
                    s.push('.');
                    s.push_str(f);
                }
                s.push(if *off < 0 { '-' } else { '+' });
                let a = off.unsigned_abs();
                digits(&mut s, a / 3600 % 100, 2);
                s.push(':');
                digits(&mut s, (a % 3600) / 60, 2);
                s
            }
        }
    }

    /// The calendar date (for dates and times).
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Hl7Time::Partial(_) => None,
            Hl7Time::Date(d) => Some(*d),
            Hl7Time::DateTime(t, _, _) => Some(t.date()),
        }
    }

    /// Sortable wall-clock form (dates at midnight).
    pub fn naive(&self) -> Option<NaiveDateTime> {
        match self {
            Hl7Time::Partial(_) => None,
            Hl7Time::Date(d) => Some(d.and_time(NaiveTime::MIN)),
            Hl7Time::DateTime(t, _, _) => Some(*t),
        }
    }
}

const JST: i32 = 9 * 3600;

/// A value that is not an HL7 time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTime;

/// Parse an HL7 TS/DTM/DT value. `Ok(None)` for an empty value.
pub fn parse(s: &str) -> Result<Option<Hl7Time>, BadTime> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    // Time zone suffix.
    let (body, offset) = match s.find(['+', '-']) {
        Some(i) => {
            let z = &s[i + 1..];
            if z.len() != 4 || !z.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadTime);
            }
            let h: i32 = z[..2].parse().map_err(|_| BadTime)?;
            let m: i32 = z[2..].parse().map_err(|_| BadTime)?;
            if h > 14 || m > 59 {
                return Err(BadTime);
            }
            let sign = if s.as_bytes()[i] == b'-' { -1 } else { 1 };
            (&s[..i], sign * (h * 3600 + m * 60))
        }
        None => (s, JST),
    };
    let (digits, frac) = match body.split_once('.') {
        Some((d, f)) => {
            if f.is_empty() || f.len() > 4 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(BadTime);
            }
            (d, Some(f.to_string()))
        }
        None => (body, None),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadTime);
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, BadTime> {
        digits.get(r).ok_or(BadTime)?.parse().map_err(|_| BadTime)
    };
    match digits.len() {
        4 => {
            let y = num(0..4)?;
            NaiveDate::from_ymd_opt(y as i32, 1, 1).ok_or(BadTime)?;
            Ok(Some(Hl7Time::Partial(format!("{y:04}"))))
        }
        6 => {
            let (y, m) = (num(0..4)?, num(4..6)?);
            NaiveDate::from_ymd_opt(y as i32, m, 1).ok_or(BadTime)?;
            Ok(Some(Hl7Time::Partial(format!("{y:04}-{m:02}"))))
        }
        8 if frac.is_none() => {
            let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)
                .ok_or(BadTime)?;
            Ok(Some(Hl7Time::Date(d)))
        }
        10 | 12 | 14 => {
            if frac.is_some() && digits.len() != 14 {
                return Err(BadTime);
            }
            let d = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)
                .ok_or(BadTime)?;
            let h = num(8..10)?;
            let mi = if digits.len() >= 12 { num(10..12)? } else { 0 };
            let se = if digits.len() >= 14 { num(12..14)? } else { 0 };
            let t = NaiveTime::from_hms_opt(h, mi, se).ok_or(BadTime)?;
            Ok(Some(Hl7Time::DateTime(d.and_time(t), offset, frac)))
        }
        _ => Err(BadTime),
    }
}

/// HL7 time text for a JST wall-clock time (the writer side).
pub fn hl7(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> String {
        parse(s).unwrap().unwrap().fhir()
    }

    #[test]
    fn precisions_and_zones() {
        assert_eq!(f("20111220"), "2011-12-20");
        assert_eq!(f("2011"), "2011");
        assert_eq!(f("201112"), "2011-12");
        assert_eq!(f("2011122021"), "2011-12-20T21:00:00+09:00");
        assert_eq!(f("201112202100"), "2011-12-20T21:00:00+09:00");
        assert_eq!(f("20111220224447"), "2011-12-20T22:44:47+09:00");
        assert_eq!(f("20111220224447.3399"), "2011-12-20T22:44:47.3399+09:00");
        assert_eq!(f("20111220224447+0000"), "2011-12-20T22:44:47+00:00");
        assert_eq!(parse(""), Ok(None));
        for bad in [
            "2011122",
            "20111320",
            "20111220256000",
            "2011-12-20",
            "20111220.5",
            "abc",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
