//! Lays a document out into pages of positioned items. Headers and footers are drawn
//! afterwards, when the number of pages is known.

use crate::font::Measurer;
use crate::model::{mm, Block, Document, LineStyle, Row, Section, Table};

pub(crate) const BODY_SIZE: f32 = 10.0;
pub(crate) const HEADING_SIZE: f32 = 12.5;
pub(crate) const TABLE_SIZE: f32 = 9.0;
pub(crate) const HEADER_SIZE: f32 = 9.5;
pub(crate) const HEADER_STRONG_SIZE: f32 = 12.0;
pub(crate) const FOOTER_SIZE: f32 = 8.0;
const LEADING: f32 = 1.4;
const CELL_PAD_X: f32 = 2.5;
const CELL_PAD_Y: f32 = 2.0;
const HEADING_BEFORE: f32 = 6.0;
const HEADING_AFTER: f32 = 3.0;
const PARAGRAPH_AFTER: f32 = 4.0;
const TABLE_AFTER: f32 = 6.0;
/// Gap between the running header's rule and the body, and between the body and the footer.
const RULE_GAP: f32 = 6.0;

pub(crate) fn line_height(size: f32) -> f32 {
    size * LEADING
}

/// Something drawn on a page, in points from the top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// `y` is the baseline.
    Text {
        x: f32,
        y: f32,
        size: f32,
        strong: bool,
        white: bool,
        text: String,
    },
    Fill {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        gray: u8,
    },
    Frame {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

pub(crate) struct Page {
    pub(crate) section: usize,
    pub(crate) items: Vec<Item>,
}

/// The page geometry shared by every section.
pub(crate) struct Frame {
    pub(crate) width: f32,
    pub(crate) height: f32,
    pub(crate) left: f32,
    pub(crate) right: f32,
    pub(crate) top: f32,
    pub(crate) bottom: f32,
}

impl Frame {
    pub(crate) fn new(doc: &Document) -> Self {
        let (width, height) = doc.page_size.points();
        let m = doc.margins;
        Frame {
            width,
            height,
            left: mm(m.left),
            right: width - mm(m.right),
            top: mm(m.top),
            bottom: height - mm(m.bottom),
        }
    }
    pub(crate) fn content_width(&self) -> f32 {
        self.right - self.left
    }
    /// Where the footer's rule is drawn.
    pub(crate) fn footer_top(&self) -> f32 {
        self.bottom - line_height(FOOTER_SIZE) - 2.0
    }
}

pub(crate) fn header_line_height(style: LineStyle) -> f32 {
    match style {
        LineStyle::Plain => line_height(HEADER_SIZE),
        LineStyle::Strong => line_height(HEADER_STRONG_SIZE),
        LineStyle::Banner => line_height(HEADER_SIZE) + 3.0,
    }
}

/// Height of a section's running header, rule included.
pub(crate) fn header_height(section: &Section) -> f32 {
    section
        .header
        .iter()
        .map(|l| header_line_height(l.style))
        .sum::<f32>()
        + 2.0
}

pub(crate) fn layout(doc: &Document, m: &mut Measurer<'_>) -> Vec<Page> {
    let frame = Frame::new(doc);
    let mut pages = Vec::new();
    for (index, section) in doc.sections.iter().enumerate() {
        let mut l = Layout {
            m,
            frame: &frame,
            section: index,
            top: frame.top + header_height(section) + RULE_GAP,
            bottom: frame.footer_top() - RULE_GAP,
            y: 0.0,
            items: Vec::new(),
            pages: &mut pages,
        };
        l.y = l.top;
        for (i, block) in section.blocks.iter().enumerate() {
            l.block(block, &section.blocks[i + 1..]);
        }
        l.finish_page();
    }
    pages
}

struct Layout<'a, 'm> {
    m: &'a mut Measurer<'m>,
    frame: &'a Frame,
    section: usize,
    top: f32,
    bottom: f32,
    y: f32,
    items: Vec<Item>,
    pages: &'a mut Vec<Page>,
}

impl Layout<'_, '_> {
    fn page_is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn finish_page(&mut self) {
        self.pages.push(Page {
            section: self.section,
            items: std::mem::take(&mut self.items),
        });
        self.y = self.top;
    }

    /// A new page unless `need` points still fit (or the page is still empty).
    fn ensure(&mut self, need: f32) {
        if self.y + need > self.bottom + 0.01 && !self.page_is_empty() {
            self.finish_page();
        }
    }

    fn text(&mut self, x: f32, size: f32, strong: bool, text: String) {
        self.items.push(Item::Text {
            x,
            y: self.y + size,
            size,
            strong,
            white: false,
            text,
        });
    }

    /// Places `block`; `rest` are the blocks after it (a heading stays with their start).
    fn block(&mut self, block: &Block, rest: &[Block]) {
        match block {
            Block::Heading(text) => {
                let lines = wrap(self.m, text, HEADING_SIZE, self.frame.content_width());
                let height = HEADING_BEFORE + lines.len() as f32 * line_height(HEADING_SIZE);
                let lead = self.lead(rest);
                self.ensure(height + HEADING_AFTER + lead);
                if self.y > self.top {
                    self.y += HEADING_BEFORE;
                }
                for line in lines {
                    self.text(self.frame.left, HEADING_SIZE, true, line);
                    self.y += line_height(HEADING_SIZE);
                }
                self.y += HEADING_AFTER;
            }
            Block::Paragraph(text) => {
                let lh = line_height(BODY_SIZE);
                for line in wrap(self.m, text, BODY_SIZE, self.frame.content_width()) {
                    self.ensure(lh);
                    self.text(self.frame.left, BODY_SIZE, false, line);
                    self.y += lh;
                }
                self.y += PARAGRAPH_AFTER;
            }
            Block::Table(table) => self.table(table),
            Block::Space(v) => {
                self.y += mm(v.max(0.0));
                if self.y > self.bottom {
                    self.finish_page();
                }
            }
            Block::PageBreak => {
                if !self.page_is_empty() {
                    self.finish_page();
                }
            }
        }
    }

    /// The height the start of `blocks` needs on the page of a heading before them: a
    /// heading followed by a heading keeps both with the text after them.
    fn lead(&mut self, blocks: &[Block]) -> f32 {
        let Some(block) = blocks.first() else {
            return 0.0;
        };
        match block {
            Block::Heading(text) => {
                let lines = wrap(self.m, text, HEADING_SIZE, self.frame.content_width()).len();
                HEADING_BEFORE
                    + lines as f32 * line_height(HEADING_SIZE)
                    + HEADING_AFTER
                    + self.lead(&blocks[1..])
            }
            Block::Paragraph(text) => {
                let lines = wrap(self.m, text, BODY_SIZE, self.frame.content_width()).len();
                lines.min(2) as f32 * line_height(BODY_SIZE)
            }
            Block::Table(table) => {
                let widths = column_widths(table, self.frame.content_width());
                let header = self.row_lines(&header_row(table), &widths).height;
                let first = table
                    .rows
                    .first()
                    .map_or(0.0, |r| self.row_lines(r, &widths).height);
                header + first
            }
            Block::Space(_) | Block::PageBreak => 0.0,
        }
    }

    fn row_lines(&mut self, row: &Row, widths: &[f32]) -> RowLines {
        let cells: Vec<Vec<String>> = widths
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let text = row.cells.get(i).map_or("", |c| c.text.as_str());
                if text.is_empty() {
                    Vec::new()
                } else {
                    wrap(self.m, text, TABLE_SIZE, w - 2.0 * CELL_PAD_X)
                }
            })
            .collect();
        let lines = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let height =
            (lines as f32 * line_height(TABLE_SIZE) + 2.0 * CELL_PAD_Y).max(mm(row.min_height));
        RowLines { cells, height }
    }

    fn table(&mut self, table: &Table) {
        let widths = column_widths(table, self.frame.content_width());
        let header = header_row(table);
        let header_lines = self.row_lines(&header, &widths);
        let first = table
            .rows
            .first()
            .map_or(0.0, |r| self.row_lines(r, &widths).height);
        self.ensure(header_lines.height + first);
        self.draw_row(&header, &header_lines, &widths, 0, usize::MAX);
        let mut rows_on_page = 0;
        for row in &table.rows {
            let lines = self.row_lines(row, &widths);
            if rows_on_page > 0 && self.y + lines.height > self.bottom + 0.01 {
                self.finish_page();
                self.draw_row(&header, &header_lines, &widths, 0, usize::MAX);
                rows_on_page = 0;
            }
            rows_on_page += 1;
            let room = self.bottom - self.y;
            if lines.height <= room + 0.01 {
                self.draw_row(row, &lines, &widths, 0, usize::MAX);
                continue;
            }
            // Taller than a page: split it, line by line, repeating the header.
            let per_page =
                (((room - 2.0 * CELL_PAD_Y) / line_height(TABLE_SIZE)).floor() as usize).max(1);
            let total = lines.cells.iter().map(Vec::len).max().unwrap_or(0);
            let mut start = 0;
            while start < total {
                if start > 0 {
                    self.finish_page();
                    self.draw_row(&header, &header_lines, &widths, 0, usize::MAX);
                }
                self.draw_row(row, &lines, &widths, start, per_page);
                start += per_page;
            }
        }
        self.y += TABLE_AFTER;
    }

    /// Draws lines `start..start + count` of a row at the cursor and moves below it.
    fn draw_row(
        &mut self,
        row: &Row,
        lines: &RowLines,
        widths: &[f32],
        start: usize,
        count: usize,
    ) {
        let shown = lines
            .cells
            .iter()
            .map(|c| c.len().saturating_sub(start).min(count))
            .max()
            .unwrap_or(0);
        let height = if start == 0 && count == usize::MAX {
            lines.height
        } else {
            shown.max(1) as f32 * line_height(TABLE_SIZE) + 2.0 * CELL_PAD_Y
        };
        let mut x = self.frame.left;
        for (i, w) in widths.iter().enumerate() {
            let cell = row.cells.get(i);
            if let Some(shade) = cell.and_then(|c| c.shade) {
                self.items.push(Item::Fill {
                    x,
                    y: self.y,
                    w: *w,
                    h: height,
                    gray: shade.gray(),
                });
            }
            self.items.push(Item::Frame {
                x,
                y: self.y,
                w: *w,
                h: height,
            });
            let strong = cell.is_some_and(|c| c.strong);
            let mut ty = self.y + CELL_PAD_Y;
            for line in lines.cells[i].iter().skip(start).take(count) {
                self.items.push(Item::Text {
                    x: x + CELL_PAD_X,
                    y: ty + TABLE_SIZE,
                    size: TABLE_SIZE,
                    strong,
                    white: false,
                    text: line.clone(),
                });
                ty += line_height(TABLE_SIZE);
            }
            x += w;
        }
        self.y += height;
    }
}

struct RowLines {
    cells: Vec<Vec<String>>,
    height: f32,
}

fn header_row(table: &Table) -> Row {
    Row::new(table.columns.iter().map(|c| {
        crate::model::Cell::new(c.title.clone())
            .strong()
            .shaded(crate::model::Shade::Light)
    }))
}

fn column_widths(table: &Table, width: f32) -> Vec<f32> {
    let total: f32 = table.columns.iter().map(|c| c.weight.max(0.0)).sum();
    if total <= 0.0 {
        let n = table.columns.len().max(1) as f32;
        return table.columns.iter().map(|_| width / n).collect();
    }
    table
        .columns
        .iter()
        .map(|c| width * c.weight.max(0.0) / total)
        .collect()
}

/// Characters a line must not start with (closing brackets, small kana, punctuation).
const NO_START: &str = "、。，．,.・：；:;？！?!ー－）］｝」』】〕〉》”’)]}ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々ゝゞヽヾ%％";
/// Characters a line must not end with (opening brackets).
const NO_END: &str = "（［｛「『【〔〈《“‘([{";

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF | 0x2E80..=0x303F | 0x3040..=0x30FF | 0x3100..=0x318F
        | 0x3190..=0x9FFF | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F
        | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
}

fn break_between(prev: char, next: char) -> bool {
    (is_cjk(prev) || is_cjk(next)) && !NO_START.contains(next) && !NO_END.contains(prev)
}

/// Splits `text` into lines no wider than `width` points at `size`: breaks between
/// Japanese characters (keeping closing punctuation off a line's start), at spaces in
/// Latin text, inside a word only when the word alone is wider than the line, and at
/// every newline.
pub(crate) fn wrap(m: &mut Measurer<'_>, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut out = Vec::new();
    for paragraph in text.split('\n') {
        wrap_paragraph(m, paragraph.trim_end_matches('\r'), size, width, &mut out);
    }
    out
}

fn wrap_paragraph(m: &mut Measurer<'_>, text: &str, size: f32, width: f32, out: &mut Vec<String>) {
    // Atoms: unbreakable runs, each remembering whether a space preceded it.
    let mut atoms: Vec<(String, bool)> = Vec::new();
    let mut current = String::new();
    let mut space_before = false;
    let mut prev: Option<char> = None;
    for c in text.chars() {
        if c.is_whitespace() && c != '\u{3000}' {
            if !current.is_empty() {
                atoms.push((std::mem::take(&mut current), space_before));
            }
            space_before = true;
            prev = None;
            continue;
        }
        if let Some(p) = prev {
            if !current.is_empty() && break_between(p, c) {
                atoms.push((std::mem::take(&mut current), space_before));
                space_before = false;
            }
        }
        current.push(c);
        prev = Some(c);
    }
    if !current.is_empty() {
        atoms.push((current, space_before));
    }

    let space = m.width(" ", size);
    let mut line = String::new();
    let mut line_width = 0.0;
    for (atom, spaced) in atoms {
        let w = m.width(&atom, size);
        let gap = if spaced && !line.is_empty() {
            space
        } else {
            0.0
        };
        if !line.is_empty() && line_width + gap + w > width {
            out.push(std::mem::take(&mut line));
            line_width = 0.0;
        }
        if !line.is_empty() && spaced {
            line.push(' ');
            line_width += space;
        }
        if w <= width {
            line.push_str(&atom);
            line_width += w;
            continue;
        }
        // A word wider than the line: break it between characters.
        for c in atom.chars() {
            let cw = m.advance(c) * size;
            if !line.is_empty() && line_width + cw > width {
                out.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            line.push(c);
            line_width += cw;
        }
    }
    out.push(line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PdfFont;

    fn font() -> PdfFont {
        PdfFont::load(None).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn latin_text_breaks_at_spaces_only() {
        let font = font();
        let mut m = font.measurer();
        let text = "Lab results by phone to extension 1234 until further notice, please";
        let lines = wrap(&mut m, text, 10.0, 90.0);
        assert!(lines.len() > 2, "{lines:?}");
        assert_eq!(lines.join(" "), text);
        for line in &lines {
            assert!(m.width(line, 10.0) <= 90.0, "{line}");
            assert!(!line.starts_with(' ') && !line.ends_with(' '), "{line:?}");
        }
    }

    #[test]
    fn japanese_text_breaks_between_any_characters_and_fills_the_line() {
        let font = font();
        let mut m = font.measurer();
        let text = "投与前に必ず患者IDとリストバンドを照合し実施後は署名欄に記入してください";
        let width = 100.0;
        let lines = wrap(&mut m, text, 10.0, width);
        assert!(lines.len() > 2, "{lines:?}");
        assert_eq!(lines.concat(), text);
        for line in &lines[..lines.len() - 1] {
            let w = m.width(line, 10.0);
            // Full lines: no room left for another full-width character.
            assert!(w <= width && w > width - 10.0, "{line}: {w}");
        }
    }

    #[test]
    fn no_line_starts_with_closing_punctuation_or_ends_with_an_opening_bracket() {
        let font = font();
        let mut m = font.measurer();
        let text =
            "発疹（確定）。嘔気、「疑い」：造影剤。ショック（既往あり）。ゾルピデム、不眠時。";
        for width in (30..200).step_by(3) {
            let lines = wrap(&mut m, text, 10.0, width as f32);
            assert_eq!(lines.concat(), text);
            for line in &lines {
                let first = line.chars().next().unwrap();
                let last = line.chars().last().unwrap();
                assert!(!NO_START.contains(first), "width {width}: {lines:?}");
                assert!(!NO_END.contains(last), "width {width}: {lines:?}");
            }
        }
    }

    #[test]
    fn newlines_break_and_an_overlong_word_is_cut_to_fit() {
        let font = font();
        let mut m = font.measurer();
        assert_eq!(
            wrap(&mut m, "一行目\n二行目", 10.0, 300.0),
            ["一行目", "二行目"]
        );
        let word = "0123456789".repeat(8);
        let lines = wrap(&mut m, &word, 10.0, 60.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), word);
        assert!(lines.iter().all(|l| m.width(l, 10.0) <= 60.0));
    }
}
