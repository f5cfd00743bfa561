//! The node's own printouts as PDF.
//!
//! A small document model ([`Document`] → [`Section`]s → [`Block`]s) that the web layer
//! fills for a patient print, a ward MAR packet or a review report, laid out on A4 with a
//! running header on every page of a section (who the patient is, the mode, the data
//! time) and a footer on every page ("X / Y ページ", who printed, when), and written with
//! a subset of a Japanese font embedded. This crate knows nothing of the web, sync or
//! accounts: callers pass text that is already formatted for the reader.
//!
//! ```no_run
//! use akari_print::*;
//! let font = PdfFont::load(None)?; // once per node; clone it for every document
//! let footer = Footer {
//!     printed_by: "EM-01".into(),
//!     declared_person: "看護師 青木".into(),
//!     printed_at: "2026-12-07 10:15 JST".into(),
//! };
//! let mut doc = Document::new("与薬記録", PageSize::A4Portrait, footer);
//! doc.section([HeaderLine::strong("テスト 太郎（テスト タロウ）"), HeaderLine::banner("訓練")])
//!     .heading("アレルギー")
//!     .paragraph("ペニシリン系：発疹");
//! let pdf: Vec<u8> = doc.render(&font)?.pdf;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod font;
mod layout;
mod model;

pub use font::{FontError, PdfFont, FONT_PACKAGE, FONT_SETTING, STANDARD_LOCATIONS};
pub use model::{
    Block, Cell, Column, Document, Footer, HeaderLine, LineStyle, Margins, PageSize, Row, Section,
    Shade, Table,
};

use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::{Fill, Stroke};
use krilla::surface::Surface;
use krilla::text::TextDirection;

use layout::{header_line_height, Frame, Item, FOOTER_SIZE, HEADER_SIZE, HEADER_STRONG_SIZE};

/// The PDF could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the document has no sections to print")]
    Empty,
    #[error("writing the PDF failed: {0}")]
    Pdf(String),
}

/// A written PDF and how many pages it has.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
}

impl Document {
    /// Lays the document out, then draws every page with its section's header and the
    /// footer "X / Y ページ", and writes the PDF with the used glyphs of `font` embedded.
    pub fn render(&self, font: &PdfFont) -> Result<Rendered, RenderError> {
        if self.sections.is_empty() {
            return Err(RenderError::Empty);
        }
        let pages = {
            let mut measurer = font.measurer();
            layout::layout(self, &mut measurer)
        };
        let frame = Frame::new(self);
        let total = pages.len();
        let mut pdf = krilla::Document::new();
        pdf.set_metadata(
            Metadata::new()
                .title(self.title.clone())
                .language("ja".into())
                .creator("Akari".into()),
        );
        let settings =
            || PageSettings::from_wh(frame.width, frame.height).expect("A4 is a valid page size");
        for (number, page) in pages.iter().enumerate() {
            let mut pdf_page = pdf.start_page_with(settings());
            let mut surface = pdf_page.surface();
            let mut painter = Painter {
                surface: &mut surface,
                font,
            };
            painter.header(&frame, &self.sections[page.section]);
            for item in &page.items {
                painter.item(item);
            }
            painter.footer(&frame, &self.footer, number + 1, total);
            surface.finish();
            pdf_page.finish();
        }
        let bytes = pdf
            .finish()
            .map_err(|e| RenderError::Pdf(format!("{e:?}")))?;
        Ok(Rendered {
            pdf: bytes,
            pages: total,
        })
    }
}

/// The footer's page number, as every page shows it.
pub fn page_label(number: usize, total: usize) -> String {
    format!("{number} / {total} ページ")
}

struct Painter<'s, 'p> {
    surface: &'s mut Surface<'p>,
    font: &'s PdfFont,
}

impl Painter<'_, '_> {
    fn item(&mut self, item: &Item) {
        match item {
            Item::Text {
                x,
                y,
                size,
                strong,
                white,
                text,
            } => self.text(*x, *y, *size, *strong, *white, text),
            Item::Fill { x, y, w, h, gray } => self.fill(*x, *y, *w, *h, *gray),
            Item::Frame { x, y, w, h } => {
                if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                    let mut path = PathBuilder::new();
                    path.push_rect(rect);
                    if let Some(path) = path.finish() {
                        self.surface.set_fill(None);
                        self.surface.set_stroke(Some(stroke(0.5)));
                        self.surface.draw_path(&path);
                        self.surface.set_stroke(None);
                    }
                }
            }
        }
    }

    fn text(&mut self, x: f32, y: f32, size: f32, strong: bool, white: bool, text: &str) {
        if text.is_empty() {
            return;
        }
        let paint = if white {
            luma::Color::white()
        } else {
            luma::Color::black()
        };
        self.surface.set_fill(Some(Fill {
            paint: paint.into(),
            ..Fill::default()
        }));
        self.surface.set_stroke(None);
        let font = self.font.pdf.clone();
        self.surface.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
        if strong {
            // One regular face: bold is the text drawn again a hair to the right (a stroked
            // outline would fill the counters of kanji such as 回 in some viewers).
            self.surface.draw_text(
                Point::from_xy(x + size * 0.045, y),
                font,
                size,
                text,
                false,
                TextDirection::Auto,
            );
        }
    }

    fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, gray: u8) {
        let Some(rect) = Rect::from_xywh(x, y, w, h) else {
            return;
        };
        let mut path = PathBuilder::new();
        path.push_rect(rect);
        if let Some(path) = path.finish() {
            self.surface.set_stroke(None);
            self.surface.set_fill(Some(Fill {
                paint: luma::Color::new(gray).into(),
                opacity: NormalizedF32::ONE,
                ..Fill::default()
            }));
            self.surface.draw_path(&path);
        }
    }

    fn rule(&mut self, x: f32, y: f32, w: f32) {
        let mut path = PathBuilder::new();
        path.move_to(x, y);
        path.line_to(x + w, y);
        if let Some(path) = path.finish() {
            self.surface.set_fill(None);
            self.surface.set_stroke(Some(stroke(0.8)));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    /// The section's running header: its lines top-down, the banner reversed out of a
    /// dark band, then a rule.
    fn header(&mut self, frame: &Frame, section: &Section) {
        let mut y = frame.top;
        for line in &section.header {
            let height = header_line_height(line.style);
            match line.style {
                LineStyle::Plain => self.text(
                    frame.left,
                    y + HEADER_SIZE,
                    HEADER_SIZE,
                    false,
                    false,
                    &line.text,
                ),
                LineStyle::Strong => self.text(
                    frame.left,
                    y + HEADER_STRONG_SIZE,
                    HEADER_STRONG_SIZE,
                    true,
                    false,
                    &line.text,
                ),
                LineStyle::Banner => {
                    self.fill(frame.left, y, frame.content_width(), height - 1.0, 40);
                    self.text(
                        frame.left + 4.0,
                        y + 1.5 + HEADER_SIZE,
                        HEADER_SIZE,
                        true,
                        true,
                        &line.text,
                    );
                }
            }
            y += height;
        }
        self.rule(frame.left, y + 1.0, frame.content_width());
    }

    /// Who printed and when on the left, "X / Y ページ" on the right.
    fn footer(&mut self, frame: &Frame, footer: &Footer, number: usize, total: usize) {
        let top = frame.footer_top();
        self.rule(frame.left, top, frame.content_width());
        let baseline = top + 2.0 + FOOTER_SIZE;
        let who = format!(
            "印刷: {}（申告者: {}）  印刷時刻: {}",
            footer.printed_by, footer.declared_person, footer.printed_at
        );
        self.text(frame.left, baseline, FOOTER_SIZE, false, false, &who);
        let label = page_label(number, total);
        let width = self.font.measurer().width(&label, FOOTER_SIZE);
        self.text(
            frame.right - width,
            baseline,
            FOOTER_SIZE,
            false,
            false,
            &label,
        );
    }
}

fn stroke(width: f32) -> Stroke {
    Stroke {
        paint: luma::Color::black().into(),
        width,
        ..Stroke::default()
    }
}
