//! The pages' escaper (configured in `askama.toml` for every `.html` template): HTML
//! escaping, after removing characters a source should never be able to put on a page —
//! C0 and C1 control characters (except line feed and tab, which documents use) and the
//! Unicode bidirectional embeddings, overrides and isolates (U+202A–U+202E,
//! U+2066–U+2069) that can make a name or a dose read backwards ("Trojan Source").
//! Doing it here, not field by field, means no text a page shows can miss it.

use std::fmt::{self, Write};

use askama::filters::Escaper;

#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

/// A character removed before display.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl Escaper for Html {
    fn write_escaped_str<W: Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        let mut rest = string;
        while let Some(at) = rest.find(is_hidden) {
            askama::filters::Html.write_escaped_str(&mut dest, &rest[..at])?;
            let skip = rest[at..].chars().next().map_or(1, char::len_utf8);
            rest = &rest[at + skip..];
        }
        askama::filters::Html.write_escaped_str(dest, rest)
    }

    fn write_escaped_char<W: Write>(&self, dest: W, c: char) -> fmt::Result {
        if is_hidden(c) {
            return Ok(());
        }
        askama::filters::Html.write_escaped_char(dest, c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = String::new();
        Html.write_escaped_str(&mut out, s).unwrap();
        out
    }

    #[test]
    fn controls_and_bidi_overrides_are_removed_and_html_escaped() {
        assert_eq!(esc("山田\u{202e}郎太\u{202c} <b>"), "山田郎太 &#60;b&#62;");
        assert_eq!(
            esc("a\u{0}b\u{1b}[31mc\u{85}d\u{2067}e\u{2069}"),
            "ab[31mcde"
        );
        assert_eq!(esc("1行目\n2行目\tタブ"), "1行目\n2行目\tタブ");
        assert_eq!(esc("普通の名前"), "普通の名前");
    }
}
