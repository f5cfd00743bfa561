//! The hospital's clock: every time a person reads (pages, seal sheets, console reports,
//! the human parts of exports) is shown in one IANA time zone, with the zone's
//! abbreviation after it: "2026-12-06 09:00 JST". Machine formats (JSON, NDJSON, the
//! signed ledger, RFC 3339 fields) keep their offsets and never go through here.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};

/// An IANA time zone for display (`[display] time_zone`); Asia/Tokyo unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone(Tz);

impl Default for Zone {
    fn default() -> Self {
        Zone(Tz::Asia__Tokyo)
    }
}

/// A name that is not in the IANA time zone database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an IANA time zone name: use a name such as Asia/Tokyo, America/New_York or UTC"
)]
pub struct UnknownZone(pub String);

impl FromStr for Zone {
    type Err = UnknownZone;

    fn from_str(name: &str) -> Result<Self, UnknownZone> {
        name.parse::<Tz>()
            .map(Zone)
            .map_err(|_| UnknownZone(name.to_owned()))
    }
}

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl Zone {
    /// The IANA name, e.g. "Asia/Tokyo".
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// `t` on this zone's wall clock (the one conversion a displayed value needs).
    pub fn local<T: TimeZone>(&self, t: &DateTime<T>) -> DateTime<Tz> {
        t.with_timezone(&self.0)
    }

    /// The calendar day of `t` in this zone.
    pub fn date<T: TimeZone>(&self, t: &DateTime<T>) -> NaiveDate {
        self.local(t).date_naive()
    }

    /// The first instant of `date` in this zone (the day's start, even when a transition
    /// skips midnight).
    pub fn start_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        let midnight = date.and_hms_opt(0, 0, 0)?;
        self.0
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| {
                self.0
                    .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                    .earliest()
            })
            .map(|t| t.with_timezone(&Utc))
    }

    /// The last second of `date` in this zone (an expiry "until 2027-03-31" ends there).
    pub fn end_of_day(&self, date: NaiveDate) -> Option<DateTime<Utc>> {
        Some(self.start_of_day(date.succ_opt()?)? - chrono::Duration::seconds(1))
    }

    /// The instant a wall-clock time in this zone names: the earlier one when the clock
    /// is turned back, `None` when the clock skips it.
    pub fn at_local(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        self.0
            .from_local_datetime(&local)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }

    /// "2026-12-06 09:00 JST". Written out by hand: chrono's `format` parses its pattern
    /// on every call, and a patient page formats dozens of times.
    pub fn minute<T: TimeZone>(&self, t: &DateTime<T>) -> String {
        let l = self.local(t);
        let mut s = String::with_capacity(24);
        push_minute(&mut s, &l);
        s.push(' ');
        push_abbreviation(&mut s, &l);
        s
    }

    /// "2026-12-06 09:00:05 JST", for reports where seconds tell events apart.
    pub fn second<T: TimeZone>(&self, t: &DateTime<T>) -> String {
        let l = self.local(t);
        let mut s = String::with_capacity(27);
        push_minute(&mut s, &l);
        let _ = write!(s, ":{:02} ", l.second());
        push_abbreviation(&mut s, &l);
        s
    }

    /// The zone's abbreviation at `t` ("JST", "EST" or "EDT"), or its offset ("+04") where
    /// the database has no abbreviation.
    pub fn abbreviation<T: TimeZone>(&self, t: &DateTime<T>) -> String {
        let mut s = String::new();
        push_abbreviation(&mut s, &self.local(t));
        s
    }
}

fn push_minute(s: &mut String, l: &DateTime<Tz>) {
    let _ = write!(
        s,
        "{:04}-{:02}-{:02} {:02}:{:02}",
        l.year(),
        l.month(),
        l.day(),
        l.hour(),
        l.minute()
    );
}

fn push_abbreviation(s: &mut String, l: &DateTime<Tz>) {
    match l.offset().abbreviation() {
        Some(a) => s.push_str(a),
        None => {
            let secs = l.offset().fix().local_minus_utc();
            let sign = if secs < 0 { '-' } else { '+' };
            let (h, m) = (secs.abs() / 3600, secs.abs() % 3600 / 60);
            let _ = write!(s, "UTC{sign}{h:02}:{m:02}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_default_is_tokyo_with_its_label() {
        let z = Zone::default();
        assert_eq!(z.name(), "Asia/Tokyo");
        assert_eq!(
            z.minute(&at("2026-12-06T00:00:00Z")),
            "2026-12-06 09:00 JST"
        );
    }

    #[test]
    fn new_york_follows_daylight_saving() {
        let z: Zone = "America/New_York".parse().unwrap();
        assert_eq!(
            z.minute(&at("2026-12-06T14:00:00Z")),
            "2026-12-06 09:00 EST"
        );
        assert_eq!(
            z.second(&at("2026-07-01T13:00:07Z")),
            "2026-07-01 09:00:07 EDT"
        );
        assert_eq!(
            z.start_of_day(NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()),
            Some(at("2026-12-06T05:00:00Z"))
        );
        assert_eq!(
            z.end_of_day(NaiveDate::from_ymd_opt(2026, 12, 6).unwrap()),
            Some(at("2026-12-07T04:59:59Z"))
        );
        let local = |t: &str| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M").unwrap();
        assert_eq!(
            z.at_local(local("2026-07-01T09:00")),
            Some(at("2026-07-01T13:00:00Z"))
        );
        // 02:30 does not exist on the morning the clock springs forward.
        assert_eq!(z.at_local(local("2026-03-08T02:30")), None);
    }

    #[test]
    fn an_unknown_name_is_refused_with_its_name() {
        let e = "Asia/Tokio".parse::<Zone>().unwrap_err();
        assert!(e.to_string().contains("`Asia/Tokio`"), "{e}");
        assert!("JST".parse::<Zone>().is_err());
    }

    #[test]
    fn a_zone_without_an_abbreviation_shows_its_offset() {
        let z: Zone = "Asia/Dubai".parse().unwrap();
        let shown = z.minute(&at("2026-12-06T05:00:00Z"));
        assert!(shown.starts_with("2026-12-06 09:00 "), "{shown}");
    }
}
