//! The machine-readable symbols on patient labels and wristbands, drawn as inline SVG:
//! vector shapes, sharp on any printer at any size, with no image files and nothing for
//! the page's CSP to allow. Both symbols carry the hospital ID and nothing else — exactly
//! the characters a scanner then types into the search box.
//!
//! The crates only encode (the modules of the symbol); the drawing is here: one `<path>`
//! of unit rectangles in a `viewBox` measured in modules, on a white background that
//! includes the quiet zone the symbology asks for, scaled by the page's CSS to millimetres.

use std::fmt::Write;

use barcoders::sym::code128::Code128;
use qrcode::{Color, EcLevel, QrCode};

/// SVG markup drawn here from a symbol's modules: numbers and fixed tags, never text from a
/// record, so a page may put it out unescaped (`|safe`). Only this module makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Light margin either side of a Code 128 symbol, in modules (the symbology asks for ten).
const CODE128_QUIET: usize = 10;
/// Light margin around a QR symbol, in modules (the symbology asks for four).
const QR_QUIET: usize = 4;

/// `id` in the Code 128 encoder's notation: character set C (two digits a symbol, the
/// shortest bars) for an ID of an even number of digits, else character set B (printable
/// ASCII). `None` for an empty ID or one with characters Code 128 cannot carry (e.g.
/// full-width or kanji): the label then has the QR alone.
fn code128_data(id: &str) -> Option<String> {
    if id.is_empty() || !id.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return None;
    }
    if id.len().is_multiple_of(2) && id.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("\u{0106}{id}"))
    } else {
        Some(format!("\u{0181}{id}"))
    }
}

/// The Code 128 symbol of `id` as an `<svg>` element one unit high (CSS gives it its
/// height and width), or `None` when the ID cannot be encoded in Code 128.
pub fn code128_svg(id: &str) -> Option<Svg> {
    let bars = Code128::new(code128_data(id)?).ok()?.encode();
    let width = bars.len() + 2 * CODE128_QUIET;
    let mut d = String::new();
    for (start, len) in runs(&bars, |b| *b == 1) {
        let _ = write!(d, "M{} 0h{len}v1h-{len}z", start + CODE128_QUIET);
    }
    Some(Svg(format!(
        "<svg class=\"code128\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} 1\" \
         preserveAspectRatio=\"none\" shape-rendering=\"crispEdges\" role=\"img\" \
         aria-label=\"Code 128\"><rect width=\"{width}\" height=\"1\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{d}\"/></svg>"
    )))
}

/// The QR symbol of `id` (error correction level Q: a quarter of the symbol may be
/// scuffed or creased, as on a worn wristband) as a square `<svg>` element, or `None` for
/// an empty ID. Any text fits (byte mode, UTF-8).
pub fn qr_svg(id: &str) -> Option<Svg> {
    if id.is_empty() {
        return None;
    }
    let code = QrCode::with_error_correction_level(id.as_bytes(), EcLevel::Q).ok()?;
    let n = code.width();
    let colors = code.to_colors();
    let size = n + 2 * QR_QUIET;
    let mut d = String::new();
    for (y, row) in colors.chunks(n).enumerate() {
        for (x, len) in runs(row, |c| *c == Color::Dark) {
            let _ = write!(d, "M{} {}h{len}v1h-{len}z", x + QR_QUIET, y + QR_QUIET);
        }
    }
    Some(Svg(format!(
        "<svg class=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR\">\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{d}\"/></svg>"
    )))
}

/// The (start, length) of each run of items that are `on`.
fn runs<T>(items: &[T], on: impl Fn(&T) -> bool) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, item) in items.iter().enumerate() {
        match (on(item), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i - s));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, items.len() - s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_digit_ids_use_the_compact_set_and_others_set_b() {
        assert_eq!(
            code128_data("0020000123").as_deref(),
            Some("\u{0106}0020000123")
        );
        assert_eq!(code128_data("12345").as_deref(), Some("\u{0181}12345"));
        assert_eq!(code128_data("P-0042").as_deref(), Some("\u{0181}P-0042"));
        assert_eq!(code128_data(""), None);
        assert_eq!(code128_data("患者１２３"), None, "not in Code 128");
        assert_eq!(code128_data("12\u{7}3"), None, "no control characters");
    }

    #[test]
    fn code128_has_quiet_zones_and_a_bar_count_from_the_symbology() {
        // Set C: start, five digit pairs, check, each 11 modules; stop 13 = 90 modules.
        let svg = code128_svg("0020000123").unwrap().to_string();
        assert!(svg.contains("viewBox=\"0 0 110 1\""), "{svg}");
        // Every symbol character has three bars; the stop pattern four: 7 × 3 + 4.
        assert_eq!(svg.matches('M').count(), 25, "{svg}");
        assert!(
            svg.contains("d=\"M10 0h2v1h-2z"),
            "starts after the quiet zone: {svg}"
        );
        // Set B for an odd length, letters and hyphens.
        assert!(code128_svg("A-123").is_some());
        assert!(code128_svg("山田").is_none());
    }

    #[test]
    fn qr_is_square_with_finder_patterns_and_a_quiet_zone() {
        let svg = qr_svg("0020000123").unwrap().to_string();
        // Ten digits at level Q fit version 1: 21 modules + 2 × 4 quiet.
        assert!(svg.contains("viewBox=\"0 0 29 29\""), "{svg}");
        // The top-left finder pattern's first row: seven dark modules from (4, 4).
        assert!(svg.contains("M4 4h7v1h-7z"), "{svg}");
        assert!(qr_svg("").is_none());
        assert!(qr_svg("患者-00１").is_some(), "any text fits a QR");
    }

    #[test]
    fn runs_find_every_stretch() {
        let bits = [1, 1, 0, 1, 0, 0, 1];
        assert_eq!(runs(&bits, |b| *b == 1), vec![(0, 2), (3, 1), (6, 1)]);
        assert!(runs(&[0, 0], |b| *b == 1).is_empty());
    }
}
