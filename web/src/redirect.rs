//! Redirects to a place the request names (`/lang/en?back=/search`): only a path on this
//! node, never another site.
//!
//! Browsers are generous with a `Location`: they drop tabs and line breaks anywhere in it,
//! strip leading spaces and control characters, read `\` as `/`, and take `//host` (and so
//! `/\host`, `/<TAB>/host`) as another site. Rather than normalise the way one browser does
//! and hope every other agrees, a target is accepted only when no such character is in it
//! at all and it is a plain absolute path.

/// `target` if it is a path on this node (`/…`, printable ASCII, no backslash, not `//…`),
/// else `None`. Callers fall back to a fixed page such as `/`.
pub fn same_origin_path(target: &str) -> Option<&str> {
    let mut chars = target.chars();
    let plain = chars.next() == Some('/')
        && chars.next() != Some('/')
        && target.chars().all(|c| c.is_ascii_graphic() && c != '\\');
    // `is_ascii_graphic` excludes every space, tab, line break, control character and
    // anything beyond ASCII, all of which browsers may strip or rewrite.
    plain.then_some(target)
}

/// [`same_origin_path`], or `/` for anything else.
pub fn same_origin_or_home(target: &str) -> &str {
    same_origin_path(target).unwrap_or("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for path in ["/", "/search", "/patient/p-1?tab=labs", "/admin/review/3#s"] {
            assert_eq!(same_origin_path(path), Some(path));
        }
    }

    #[test]
    fn anything_a_browser_could_take_off_site_goes_home() {
        for attack in [
            "",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example",
            "/\u{0}/evil.example",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "/\u{a0}/evil.example",
            "/\u{3000}/evil.example",
            "/\u{ff0f}evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "evil.example",
            "\u{0}/",
        ] {
            assert_eq!(same_origin_or_home(attack), "/", "{attack:?}");
        }
    }
}
