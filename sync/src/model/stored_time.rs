//! How times are written inside stored items. In the snapshot file (a compact binary
//! format) an [`Instant`] is three varints — seconds since the Unix epoch, nanoseconds and
//! the UTC offset in seconds, about 9 bytes instead of 26 of RFC 3339 text — and a date is
//! its day number (3 bytes instead of 11); the offset is kept, so a time reads back
//! exactly as the source gave it. Readable formats (JSON) keep the RFC 3339 / ISO 8601
//! text, so nothing outside the snapshot file sees a difference.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Instant;

/// `#[serde(with = "stored_time")]` for an [`Instant`].
pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        return t.serialize(s);
    }
    (
        t.timestamp(),
        t.timestamp_subsec_nanos(),
        t.offset().local_minus_utc(),
    )
        .serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
    if d.is_human_readable() {
        return Instant::deserialize(d);
    }
    let (secs, nanos, offset): (i64, u32, i32) = Deserialize::deserialize(d)?;
    let offset = FixedOffset::east_opt(offset)
        .ok_or_else(|| D::Error::custom("time offset out of range"))?;
    let utc = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| D::Error::custom("time out of range"))?;
    Ok(utc.with_timezone(&offset))
}

/// `#[serde(with = "stored_time::option")]` for an `Option<Instant>`.
pub mod option {
    use super::*;

    #[derive(Serialize)]
    struct Out<'a>(#[serde(with = "super")] &'a Instant);

    #[derive(Deserialize)]
    struct In(#[serde(with = "super")] Instant);

    pub fn serialize<S: Serializer>(t: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        t.as_ref().map(Out).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
        Ok(Option::<In>::deserialize(d)?.map(|In(t)| t))
    }
}

/// `#[serde(with = "stored_time::date")]` for a [`NaiveDate`]: its day number.
pub mod date {
    use super::*;

    pub fn serialize<S: Serializer>(d: &NaiveDate, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            return d.serialize(s);
        }
        d.num_days_from_ce().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        if d.is_human_readable() {
            return NaiveDate::deserialize(d);
        }
        let days = i32::deserialize(d)?;
        NaiveDate::from_num_days_from_ce_opt(days)
            .ok_or_else(|| D::Error::custom("date out of range"))
    }

    /// `#[serde(with = "stored_time::date::option")]` for an `Option<NaiveDate>`.
    pub mod option {
        use super::*;

        #[derive(Serialize)]
        struct Out<'a>(#[serde(with = "super")] &'a NaiveDate);

        #[derive(Deserialize)]
        struct In(#[serde(with = "super")] NaiveDate);

        pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
            d.as_ref().map(Out).serialize(s)
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
            Ok(Option::<In>::deserialize(d)?.map(|In(t)| t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Moment;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        #[serde(with = "super")]
        at: Instant,
        #[serde(with = "super::option")]
        maybe: Option<Instant>,
        #[serde(with = "super::option")]
        none: Option<Instant>,
        #[serde(with = "super::date::option")]
        born: Option<NaiveDate>,
        moment: Moment,
    }

    fn sample() -> Sample {
        Sample {
            at: DateTime::parse_from_rfc3339("2026-12-07T07:29:06.250+09:00").unwrap(),
            maybe: Some(DateTime::parse_from_rfc3339("1969-07-20T20:17:40-05:30").unwrap()),
            none: None,
            born: NaiveDate::from_ymd_opt(1945, 3, 10),
            moment: Moment::Day(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()),
        }
    }

    #[test]
    fn stored_times_read_back_exactly_with_their_offset() {
        let s = sample();
        let bytes = postcard::to_allocvec(&s).unwrap();
        let back: Sample = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.at.offset().local_minus_utc(), 9 * 3600);
        assert_eq!(
            back.maybe.unwrap().to_rfc3339(),
            "1969-07-20T20:17:40-05:30"
        );
        // Binary: far smaller than the text it replaces.
        assert!(bytes.len() < 40, "{} bytes", bytes.len());
    }

    #[test]
    fn json_keeps_the_readable_text() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["at"], "2026-12-07T07:29:06.250+09:00");
        assert_eq!(json["born"], "1945-03-10");
        assert_eq!(json["moment"]["Day"], "2024-02-29");
        let back: Sample = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn a_time_out_of_range_is_an_error_not_a_made_up_time() {
        let bytes = postcard::to_allocvec(&(i64::MAX, 0u32, 0i32)).unwrap();
        #[derive(Debug, Deserialize)]
        struct One(
            #[allow(dead_code)]
            #[serde(with = "super")]
            Instant,
        );
        assert!(postcard::from_bytes::<One>(&bytes).is_err());
    }
}
