//! The forms staff type a name or date in (docs/domain.md, "Japanese names"): used to make
//! the benchmark's queries from a patient's canonical name and birth date.

use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;

const FULL: &str = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワヲンァィゥェォャュョッー";
const HALF: &str = "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜｦﾝｧｨｩｪｫｬｭｮｯｰ";

/// Full-width katakana → half-width (ガ → ｶﾞ); other characters unchanged, the
/// ideographic space becomes an ASCII space.
pub fn to_half_width(s: &str) -> String {
    let full: Vec<char> = FULL.chars().collect();
    let half: Vec<char> = HALF.chars().collect();
    let mut out = String::new();
    for c in s.nfd() {
        match c {
            '\u{3099}' => out.push('ﾞ'),
            '\u{309A}' => out.push('ﾟ'),
            '\u{3000}' => out.push(' '),
            _ => match full.iter().position(|f| *f == c) {
                Some(i) => out.push(half[i]),
                None => out.push(c),
            },
        }
    }
    out
}

/// Katakana → hiragana (ァ..ヶ shift by 0x60).
pub fn to_hiragana(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{30A1}'..='\u{30F6}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// ASCII digits → full-width digits.
pub fn to_full_width_digits(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// The variant (old-form) kanji staff may type: 高→髙, 崎→﨑, 辺→邊, 斎→齋, 沢→澤, 浜→濱.
pub fn to_variant_kanji(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '高' => '髙',
            '崎' => '﨑',
            '辺' => '邊',
            '斎' => '齋',
            '沢' => '澤',
            '浜' => '濱',
            _ => c,
        })
        .collect()
}

/// A birth date the way it is printed on Japanese forms: `S25.1.2` (era initial).
pub fn era_short(d: NaiveDate) -> Option<String> {
    const ERAS: &[(&str, (i32, u32, u32))] = &[
        ("R", (2019, 5, 1)),
        ("H", (1989, 1, 8)),
        ("S", (1926, 12, 25)),
        ("T", (1912, 7, 30)),
        ("M", (1868, 1, 25)),
    ];
    for (initial, (y, m, day)) in ERAS {
        if d >= NaiveDate::from_ymd_opt(*y, *m, *day)? {
            return Some(format!(
                "{initial}{}.{}.{}",
                d.year() - y + 1,
                d.month(),
                d.day()
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_fold_back_to_the_canonical_search_key() {
        let n = akari_sync::text::normalize_name;
        assert_eq!(to_half_width("マキノ ガンマ"), "ﾏｷﾉ ｶﾞﾝﾏ");
        assert_eq!(n(&to_half_width("マキノ ガンマ")), n("マキノガンマ"));
        assert_eq!(n(&to_hiragana("マキノ ランマン")), n("マキノランマン"));
        assert_eq!(n(&to_variant_kanji("高崎 浜子")), n("高崎浜子"));
        assert_eq!(to_full_width_digits("0020000001"), "００２００００００１");
        let d = NaiveDate::from_ymd_opt(1950, 1, 2).unwrap();
        assert_eq!(era_short(d).as_deref(), Some("S25.1.2"));
        assert_eq!(akari_sync::text::parse_birth_date_query("S25.1.2"), Some(d));
    }
}
