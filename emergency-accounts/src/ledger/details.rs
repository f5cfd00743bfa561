//! The convention for an entry's `details` string: `key=value` pairs separated by `;`, with
//! `%`, `;`, `=` and control characters in keys and values percent-encoded (`%3B`).
//! Example: `ward=4-East;format=wristband`.
//!
//! Keys the review understands:
//! - [`EPISODE`]: on a `ModeChanged` entry, the number of the episode it began or ended
//!   (the accounts' episode number, the one every page and report shows);
//! - [`WARD`]: the ward a patient read, print or search concerned (the web layer puts the
//!   patient's current ward here on every patient read/print, empty for a patient on no
//!   ward), checked against the account's ward scope;
//! - [`FAMILY_NAME`], [`HOSPITAL_ID`]: on a patient read or print, the pseudonyms (see
//!   [`crate::pseudonym`]) of the patient's family names (kanji and kana, comma-separated)
//!   and hospital ID, for the review's same-family-name and VIP flags; never the clear text;
//! - [`TRIED_ACCOUNT`]: the account a failed login tried;
//! - [`COUNTED_FAILURES`], [`FIRST`], [`LAST`]: on a failed-login entry that summarises
//!   failures from one address that were counted rather than recorded one by one, how many
//!   there were and the time of the first and the last (RFC 3339).

/// The episode number a mode change began or ended.
pub const EPISODE: &str = "episode";
/// The ward of the patient concerned.
pub const WARD: &str = "ward";
/// Pseudonyms of the patient's family names, comma-separated.
pub const FAMILY_NAME: &str = "family_name_pseudonyms";
/// The pseudonym of the patient's hospital ID.
pub const HOSPITAL_ID: &str = "hospital_id_pseudonym";
/// The account name a failed login tried.
pub const TRIED_ACCOUNT: &str = "tried_account";
/// How many failed logins a summarising entry stands for.
pub const COUNTED_FAILURES: &str = "counted_failures";
/// The time of the first of the summarised occurrences.
pub const FIRST: &str = "first";
/// The time of the last of the summarised occurrences.
pub const LAST: &str = "last";

fn encode(out: &mut String, text: &str) {
    for c in text.chars() {
        if c == '%' || c == ';' || c == '=' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds a details string from pairs, in the given order.
pub fn format<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push(';');
        }
        encode(&mut out, key);
        out.push('=');
        encode(&mut out, value);
    }
    out
}

/// All pairs of a details string, decoded. A segment without `=` is a key with an empty value.
pub fn parse(details: &str) -> Vec<(String, String)> {
    details
        .split(';')
        .filter(|s| !s.is_empty())
        .map(|segment| {
            let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The value of `key` in a details string, if present.
pub fn get(details: &str, key: &str) -> Option<String> {
    parse(details)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_values() {
        let d = format([(WARD, "4;East=%"), ("format", "wristband")]);
        assert_eq!(d, "ward=4%3BEast%3D%25;format=wristband");
        assert_eq!(get(&d, WARD).as_deref(), Some("4;East=%"));
        assert_eq!(get(&d, "format").as_deref(), Some("wristband"));
        assert_eq!(get(&d, "missing"), None);
        assert_eq!(get("ward=東病棟", WARD).as_deref(), Some("東病棟"));
    }
}
