//! Text handling shared by mapping and search: narrative HTML to plain text, the search
//! normalisation of Japanese names (docs/domain.md), and date parsing (FHIR and what staff
//! type).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone};
use unicode_normalization::UnicodeNormalization;

use crate::model::Moment;

/// Plain text from an XHTML narrative or an HTML document: tags are dropped (block tags
/// become line breaks), entities are decoded, `<script>`/`<style>` bodies are removed. The
/// result is text to escape when rendered, never markup.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..lt]));
        let after = &rest[lt + 1..];
        let Some(gt) = after.find('>') else {
            // An unterminated tag: drop the remainder rather than keep markup.
            rest = "";
            break;
        };
        let tag = after[..gt].trim();
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        rest = &after[gt + 1..];
        if !tag.starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            match rest.to_ascii_lowercase().find(&close) {
                Some(pos) => {
                    rest = &rest[pos..];
                    if let Some(end) = rest.find('>') {
                        rest = &rest[end + 1..];
                    }
                }
                None => rest = "",
            }
            continue;
        }
        if matches!(
            name.as_str(),
            "br" | "p"
                | "div"
                | "li"
                | "tr"
                | "h1"
                | "h2"
                | "h3"
                | "h4"
                | "h5"
                | "h6"
                | "table"
                | "ul"
                | "ol"
                | "section"
                | "pre"
                | "blockquote"
                | "dt"
                | "dd"
        ) && !out.ends_with('\n')
            && !out.is_empty()
        {
            out.push('\n');
        } else if matches!(name.as_str(), "td" | "th") && !out.ends_with(['\n', ' ']) {
            out.push(' ');
        }
    }
    out.push_str(&decode_entities(rest));
    tidy_lines(&out)
}

fn tidy_lines(s: &str) -> String {
    let mut lines: Vec<&str> = s.lines().map(str::trim).collect();
    lines.dedup_by(|a, b| a.is_empty() && b.is_empty());
    while lines.first().is_some_and(|l| l.is_empty()) {
        lines.remove(0);
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| {
            let ent = &after[..e];
            let c = match ent {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ if ent.starts_with("#x") || ent.starts_with("#X") => {
                    u32::from_str_radix(&ent[2..], 16)
                        .ok()
                        .and_then(char::from_u32)
                }
                _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Variant kanji folded to one form for search (docs/domain.md): 髙→高, 﨑/嵜→崎, 邊/邉→辺,
/// 齋/齊→斎, 澤→沢, 濱→浜, plus a few other common 異体字 in surnames.
const VARIANTS: &[(char, char)] = &[
    ('髙', '高'),
    ('﨑', '崎'),
    ('嵜', '崎'),
    ('碕', '崎'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('齋', '斎'),
    ('齊', '斎'),
    ('斉', '斎'),
    ('澤', '沢'),
    ('濱', '浜'),
    ('濵', '浜'),
    ('德', '徳'),
    ('櫻', '桜'),
    ('廣', '広'),
    ('國', '国'),
    ('藏', '蔵'),
    ('龍', '竜'),
    ('眞', '真'),
    ('惠', '恵'),
    ('冨', '富'),
    ('嶋', '島'),
    ('嶌', '島'),
    ('籠', '篭'),
    ('槇', '槙'),
];

/// Search form of a name: NFKC (full-width ASCII → ASCII, half-width katakana →
/// full-width with ｶﾞ → ガ composed), hiragana → katakana, variant kanji folded, all
/// whitespace and middle dots removed, ASCII lower-cased.
pub fn normalize_name(s: &str) -> String {
    fold_name(s.nfkc())
}

/// [`normalize_name`] of a string already in NFKC (saves the NFKC pass).
pub(crate) fn normalize_nfkc_name(s: &str) -> String {
    fold_name(s.chars())
}

fn fold_name(chars: impl Iterator<Item = char>) -> String {
    let mut out = String::new();
    for c in chars {
        if c.is_whitespace() || matches!(c, '・' | '･' | '　') {
            continue;
        }
        let c = match c {
            // Hiragana ぁ..ゖ and ゝゞ map to katakana by a fixed offset.
            '\u{3041}'..='\u{3096}' | '\u{309D}'..='\u{309E}' => {
                char::from_u32(c as u32 + 0x60).unwrap_or(c)
            }
            // Every variant is a CJK ideograph: skip the table for kana and Latin.
            _ if c < '\u{3400}' => c,
            _ => VARIANTS
                .iter()
                .find(|(v, _)| *v == c)
                .map(|(_, n)| *n)
                .unwrap_or(c),
        };
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Search keys of one name as staff may type it: the whole name and the given name alone
/// (the part after the first space, either width), each in [`normalize_name`] form; empty
/// keys are left out. The search index holds these for every kanji and kana name.
pub fn name_keys(name: &str) -> Vec<String> {
    // One NFKC pass (folding needs no second one: NFKC is idempotent).
    let spaced: String = name.nfkc().collect();
    let mut keys = vec![normalize_nfkc_name(&spaced)];
    if let Some((_, given)) = spaced.split_once(char::is_whitespace) {
        let g = normalize_nfkc_name(given);
        if !g.is_empty() {
            keys.push(g);
        }
    }
    keys.retain(|k| !k.is_empty());
    keys
}

/// Hospital IDs compare after NFKC (full-width characters), ignoring case, whitespace,
/// hyphens and other separators, and leading zeros of every run of digits, so
/// "000999739", "999739" and "９９９７３９" find the same patient, and so do
/// "POP-000712", "pop712" and "ＰＯＰ－０００７１２".
pub fn normalize_hospital_id(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_digits = false;
    let mut zeros = 0usize;
    for c in s.nfkc() {
        if c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/' | '‐' | '‑' | '–' | '—' | '−')
        {
            continue;
        }
        if c == '0' && !in_digits {
            zeros += 1;
            continue;
        }
        if c.is_ascii_digit() {
            in_digits = true;
        } else {
            if zeros > 0 {
                out.push('0');
            }
            in_digits = false;
        }
        zeros = 0;
        out.extend(c.to_lowercase());
    }
    if zeros > 0 {
        out.push('0');
    }
    out
}

/// Does a search query look like a hospital ID rather than a name: ASCII letters,
/// digits and separators only (after NFKC), with at least one digit?
pub fn looks_like_hospital_id(q: &str) -> bool {
    let n: String = q.nfkc().filter(|c| !c.is_whitespace()).collect();
    !n.is_empty()
        && n.chars().any(|c| c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Parse a FHIR `date` / `dateTime` / `instant`, the whole string or nothing: a value
/// that does not parse fully (`2026-12-06T99:99:99+09:00`, `2026-02-30`, trailing text)
/// is `None` — the caller reports the field, and the time is unknown, never midnight.
/// Partial dates (YYYY, YYYY-MM, YYYY-MM-DD) are their first instant in JST (+09:00), the
/// zone of the source hospital; so are times without an offset. Accepted beyond strict
/// FHIR, as real systems send them: a space for `T`, and minutes without seconds.
pub fn parse_fhir_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    parse_fhir_moment(s)?.start()
}

/// Parse a FHIR `date` / `dateTime` keeping its precision (see [`parse_fhir_datetime`]
/// for what is accepted).
pub fn parse_fhir_moment(s: &str) -> Option<Moment> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = digits(0..4)? as i32;
    match b.len() {
        4 => return Some(Moment::Year(year)),
        7 if b[4] == b'-' => {
            let month = digits(5..7)?;
            return (1..=12)
                .contains(&month)
                .then_some(Moment::Month(year, month));
        }
        10 if b[4] == b'-' && b[7] == b'-' => {
            return NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?).map(Moment::Day)
        }
        _ => {}
    }
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b' ') {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, digits(5..7)?, digits(8..10)?)?;
    if b[13] != b':' {
        return None;
    }
    let (hour, minute) = (digits(11..13)?, digits(14..16)?);
    let mut i = 16;
    let mut second = 0;
    let mut nano = 0u32;
    if b.get(i) == Some(&b':') {
        second = digits(i + 1..i + 3)?;
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
            if end == start {
                return None;
            }
            // Nanoseconds from the first nine digits; more precision is dropped.
            let frac = &s[start..end.min(start + 9)];
            nano = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
            i = end;
        }
    }
    // A leap second (60) is read as the last nanosecond of 59, as chrono represents it.
    let time = if second == 60 {
        NaiveTime::from_hms_nano_opt(hour, minute, 59, 1_999_999_999)?
    } else {
        NaiveTime::from_hms_nano_opt(hour, minute, second, nano)?
    };
    let offset = match &s[i..] {
        "" => FixedOffset::east_opt(9 * 3600)?,
        "Z" | "z" => FixedOffset::east_opt(0)?,
        tz => {
            let t = tz.as_bytes();
            if t.len() != 6 || !matches!(t[0], b'+' | b'-') || t[3] != b':' {
                return None;
            }
            let hh = digits(i + 1..i + 3)?;
            let mm = digits(i + 4..i + 6)?;
            if hh > 14 || mm > 59 {
                return None;
            }
            let secs = (hh * 3600 + mm * 60) as i32;
            FixedOffset::east_opt(if t[0] == b'-' { -secs } else { secs })?
        }
    };
    offset
        .from_local_datetime(&date.and_time(time))
        .single()
        .map(Moment::Time)
}

/// Parse a FHIR `date` (YYYY, YYYY-MM or YYYY-MM-DD; a partial date is its first day).
/// A full dateTime (as some systems send in `birthDate`) gives its date as written.
/// Anything that does not parse fully is `None`.
pub fn parse_fhir_date(s: &str) -> Option<NaiveDate> {
    match parse_fhir_moment(s)? {
        Moment::Year(y) => NaiveDate::from_ymd_opt(y, 1, 1),
        Moment::Month(y, m) => NaiveDate::from_ymd_opt(y, m, 1),
        Moment::Day(d) => Some(d),
        Moment::Time(t) => Some(t.date_naive()),
    }
}

/// A unit as people write it, from a UCUM code or a unit text: `Cel` → ℃, `mm[Hg]` →
/// mmHg, `10*3/uL` → 10³/µL, `mL/min/{1.73_m2}` → mL/min/1.73m², `[IU]/L` → IU/L;
/// annotations in braces (`{beats}/min`) are dropped. Text that is not UCUM comes back
/// as it was (trimmed). `None` when nothing is left.
pub fn readable_unit(u: &str) -> Option<String> {
    let u = u.trim();
    let exact = match u {
        "Cel" | "degC" | "[degC]" => Some("℃"),
        "[degF]" | "degF" => Some("℉"),
        "mm[Hg]" | "mmHg" => Some("mmHg"),
        "cm[H2O]" => Some("cmH₂O"),
        "1" | "{ratio}" => Some(""),
        _ => None,
    };
    if let Some(e) = exact {
        return (!e.is_empty()).then(|| e.to_string());
    }
    if !u.is_ascii() {
        return (!u.is_empty()).then(|| u.to_string());
    }
    let mut out = String::with_capacity(u.len() + 4);
    let b = u.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // Annotations: "{beats}/min" → "/min", "{1.73_m2}" → "1.73m2".
            b'{' => {
                let end = u[i..].find('}').map(|e| i + e).unwrap_or(b.len());
                let inner = &u[i + 1..end.min(b.len())];
                if inner.starts_with(|c: char| c.is_ascii_digit()) {
                    out.push_str(&inner.replace('_', ""));
                }
                i = end + 1;
            }
            b'[' | b']' => i += 1,
            b'*' if out.ends_with("10") => {
                let start = i + 1;
                let end = start
                    + b[start..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit() || **c == b'-')
                        .count();
                for c in u[start..end].chars() {
                    out.push(match c {
                        '0' => '⁰',
                        '1' => '¹',
                        '2' => '²',
                        '3' => '³',
                        '4' => '⁴',
                        '5' => '⁵',
                        '6' => '⁶',
                        '7' => '⁷',
                        '8' => '⁸',
                        '9' => '⁹',
                        _ => '⁻',
                    });
                }
                i = end;
            }
            // Micro: "uL", "ug/mL", "umol/L", "uIU/mL" (a "u" starting a unit).
            b'u' if (i == 0 || matches!(b[i - 1], b'/' | b'.' | b'('))
                && b.get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'[') =>
            {
                out.push('µ');
                i += 1;
            }
            c => {
                out.push(c as char);
                i += 1;
            }
        }
    }
    let out = if let Some(base) = out.strip_suffix("m2") {
        format!("{base}m²")
    } else {
        out
    };
    let out = out.trim().to_string();
    (!out.is_empty()).then_some(out)
}

/// Japanese eras with the Gregorian year of their first year (元年) and first day.
const ERAS: &[(&[&str], i32, (u32, u32))] = &[
    (&["令和", "R", "r"], 2019, (5, 1)),
    (&["平成", "H", "h"], 1989, (1, 8)),
    (&["昭和", "S", "s"], 1926, (12, 25)),
    (&["大正", "T", "t"], 1912, (7, 30)),
    (&["明治", "M", "m"], 1868, (1, 25)),
];

/// A birth date as staff type it: `1950-01-02`, `19500102`, `1950/1/2`, `1950.1.2`,
/// `1950年1月2日`, or with a Japanese era: `S25.1.2`, `S25/1/2`, `昭和25年1月2日`,
/// `昭和元年12月25日`. Full-width digits and letters are accepted. Returns `None` for
/// anything else, including dates that do not exist or lie outside their era.
pub fn parse_birth_date_query(q: &str) -> Option<NaiveDate> {
    let q: String = q.nfkc().filter(|c| !c.is_whitespace()).collect();
    let (era, rest) = match ERAS.iter().find_map(|e| {
        e.0.iter()
            .find(|p| q.starts_with(**p))
            .map(|p| (e, &q[p.len()..]))
    }) {
        Some((e, rest)) => (Some(e), rest.to_string()),
        None => (None, q.clone()),
    };
    let rest = rest.replacen("元", "1", 1);
    let parts: Vec<&str> = rest
        .split(['-', '/', '.', '年', '月', '日'])
        .filter(|p| !p.is_empty())
        .collect();
    let (y, m, d): (i32, u32, u32) = match parts.as_slice() {
        [one] if era.is_none() && one.len() == 8 && one.bytes().all(|b| b.is_ascii_digit()) => (
            one[..4].parse().ok()?,
            one[4..6].parse().ok()?,
            one[6..].parse().ok()?,
        ),
        [y, m, d] => (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?),
        _ => return None,
    };
    match era {
        None => NaiveDate::from_ymd_opt(y, m, d),
        Some((_, first_year, (fm, fd))) => {
            if y < 1 {
                return None;
            }
            let date = NaiveDate::from_ymd_opt(first_year + y - 1, m, d)?;
            let era_start = NaiveDate::from_ymd_opt(*first_year, *fm, *fd)?;
            // The next newer era's start bounds this one.
            let idx = ERAS.iter().position(|e| e.1 == *first_year)?;
            let era_end = if idx == 0 {
                None
            } else {
                let n = ERAS[idx - 1];
                NaiveDate::from_ymd_opt(n.1, n.2 .0, n.2 .1)
            };
            if date < era_start || era_end.is_some_and(|end| date >= end) {
                return None;
            }
            Some(date)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_reduced_to_text_without_markup() {
        let t = html_to_text(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p>アレルギー:キーウイ</p>発症&amp;記録<br/>x &lt;b&gt; &#x3042;<script>alert(1)</script>end</div>",
        );
        assert_eq!(t, "アレルギー:キーウイ\n発症&記録\nx <b> あend");
        assert!(!html_to_text("<b onclick='x'>a</b><img src=x>").contains('<'));
    }

    #[test]
    fn normalisation_table() {
        let cases = [
            ("ﾏｷﾉ ﾗﾝﾏﾝ", "マキノランマン"),
            ("まきの　らんまん", "マキノランマン"),
            ("ｶﾞｸ", "ガク"),
            ("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "パピプペポ"),
            ("ＹＡＭＡＤＡ", "yamada"),
            ("髙橋", "高橋"),
            ("山﨑", "山崎"),
            ("渡邊", "渡辺"),
            ("渡邉", "渡辺"),
            ("齋藤", "斎藤"),
            ("齊藤", "斎藤"),
            ("澤田", "沢田"),
            ("濱口", "浜口"),
            ("牧野 爛漫", "牧野爛漫"),
            ("ヴァ", "ヴァ"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_name(input), want, "input {input}");
        }
        assert_eq!(normalize_name("ｻｲﾄｳ"), normalize_name("さいとう"));
    }

    #[test]
    fn name_keys_are_the_full_and_given_name() {
        assert_eq!(name_keys("牧野 爛漫"), vec!["牧野爛漫", "爛漫"]);
        assert_eq!(name_keys("ﾏｷﾉ ﾗﾝﾏﾝ"), vec!["マキノランマン", "ランマン"]);
        assert_eq!(name_keys("髙橋　太郎"), vec!["高橋太郎", "太郎"]);
        assert_eq!(name_keys("マキノ"), vec!["マキノ"]);
        assert!(name_keys(" ").is_empty());
    }

    #[test]
    fn units_as_people_write_them() {
        for (ucum, want) in [
            ("Cel", Some("℃")),
            ("mm[Hg]", Some("mmHg")),
            ("10*3/uL", Some("10³/µL")),
            ("10*4/uL", Some("10⁴/µL")),
            ("mL/min/{1.73_m2}", Some("mL/min/1.73m²")),
            ("kg/m2", Some("kg/m²")),
            ("[IU]/L", Some("IU/L")),
            ("m[IU]/L", Some("mIU/L")),
            ("{beats}/min", Some("/min")),
            ("ug/mL", Some("µg/mL")),
            ("umol/L", Some("µmol/L")),
            ("U/L", Some("U/L")),
            ("mg/dL", Some("mg/dL")),
            ("%", Some("%")),
            ("L/min", Some("L/min")),
            ("1", None),
            ("{score}", None),
            ("回/分", Some("回/分")),
            (" 秒 ", Some("秒")),
        ] {
            assert_eq!(readable_unit(ucum).as_deref(), want, "{ucum}");
        }
    }

    #[test]
    fn hospital_id_normalisation() {
        assert_eq!(normalize_hospital_id("000999739"), "999739");
        assert_eq!(normalize_hospital_id("９９９７３９"), "999739");
        assert_eq!(normalize_hospital_id(" 0 "), "0");
        assert_eq!(normalize_hospital_id("000"), "0");
        for same in [
            "POP-000712",
            "pop712",
            "ＰＯＰ－０００７１２",
            "Pop 0712",
            "POP000712",
        ] {
            assert_eq!(normalize_hospital_id(same), "pop712", "{same}");
        }
        assert_eq!(normalize_hospital_id("A0B-0100"), "a0b100");
        assert_ne!(normalize_hospital_id("A-10"), normalize_hospital_id("A-1"));
        assert!(looks_like_hospital_id("POP-000712"));
        assert!(looks_like_hospital_id("０１２３"));
        assert!(!looks_like_hospital_id("yamada"));
        assert!(!looks_like_hospital_id("山田1"));
    }

    #[test]
    fn birth_date_forms() {
        let want = NaiveDate::from_ymd_opt(1950, 1, 2);
        for q in [
            "1950-01-02",
            "19500102",
            "1950/1/2",
            "1950.1.2",
            "1950年1月2日",
            "S25.1.2",
            "s25/01/02",
            "昭和25年1月2日",
            "１９５０／１／２",
            "Ｓ２５．１．２",
        ] {
            assert_eq!(parse_birth_date_query(q), want, "query {q}");
        }
        assert_eq!(
            parse_birth_date_query("H1.1.8"),
            NaiveDate::from_ymd_opt(1989, 1, 8)
        );
        assert_eq!(
            parse_birth_date_query("平成元年2月1日"),
            NaiveDate::from_ymd_opt(1989, 2, 1)
        );
        assert_eq!(
            parse_birth_date_query("R5.4.1"),
            NaiveDate::from_ymd_opt(2023, 4, 1)
        );
        // Showa 64 ended on 7 January 1989.
        assert_eq!(parse_birth_date_query("S64.1.8"), None);
        assert_eq!(parse_birth_date_query("1950-02-30"), None);
        assert_eq!(parse_birth_date_query("tanaka"), None);
    }

    #[test]
    fn fhir_dates() {
        assert_eq!(
            parse_fhir_datetime("2020-04-10").map(|d| d.to_rfc3339()),
            Some("2020-04-10T00:00:00+09:00".to_string())
        );
        assert!(parse_fhir_datetime("2021-07-05T11:19:41+09:00").is_some());
        assert!(parse_fhir_datetime("2021-07-05T15:38:59.000+09:00").is_some());
        assert!(parse_fhir_datetime("2021-07").is_some());
        assert!(parse_fhir_datetime("soon").is_none());
        assert_eq!(
            parse_fhir_datetime("2026-03-28T14:44:29.346452+09:00").map(|d| d.to_rfc3339()),
            Some("2026-03-28T14:44:29.346452+09:00".to_string())
        );
        assert_eq!(
            parse_fhir_datetime("2026-03-28T05:44:29Z").map(|d| d.to_rfc3339()),
            Some("2026-03-28T05:44:29+00:00".to_string())
        );
        assert_eq!(
            parse_fhir_datetime("2026-03-28 14:44").map(|d| d.to_rfc3339()),
            Some("2026-03-28T14:44:00+09:00".to_string())
        );
    }

    #[test]
    fn times_that_do_not_parse_fully_are_unknown_not_midnight() {
        for bad in [
            "2026-12-06T99:99:99+09:00",
            "2026-12-06T24:00:00+09:00",
            "2026-12-06T10:00:00+25:00",
            "2026-12-06T10:00:00+0900",
            "2026-12-06T10:00:00 JST",
            "2026-12-06T10",
            "2026-12-06Tnoon",
            "2026-12-06x",
            "2026-02-30",
            "2026-13",
            "2026-00",
            "20261206",
            "2026-12-06T10:00:00.+09:00",
            "",
            "２０２６-12-06",
        ] {
            assert_eq!(parse_fhir_datetime(bad), None, "{bad}");
            assert_eq!(parse_fhir_moment(bad), None, "{bad}");
        }
        assert_eq!(parse_fhir_date("2026-12-06T99:99:99+09:00"), None);
        assert_eq!(
            parse_fhir_date("1950-01-02T00:00:00+09:00"),
            NaiveDate::from_ymd_opt(1950, 1, 2)
        );
    }

    #[test]
    fn moments_keep_their_precision() {
        assert_eq!(parse_fhir_moment("2020"), Some(Moment::Year(2020)));
        assert_eq!(parse_fhir_moment("2020-04"), Some(Moment::Month(2020, 4)));
        assert_eq!(
            parse_fhir_moment("2020-04-10"),
            NaiveDate::from_ymd_opt(2020, 4, 10).map(Moment::Day)
        );
        assert!(matches!(
            parse_fhir_moment("2020-04-10T10:00:00+09:00"),
            Some(Moment::Time(_))
        ));
    }
}
