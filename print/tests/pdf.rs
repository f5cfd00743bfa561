//! The node's PDFs read back as text with poppler's `pdftotext -layout`, page by page.

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use akari_print::{
    page_label, Cell, Column, Document, FontError, Footer, HeaderLine, PageSize, PdfFont, Row,
    Shade, Table,
};

/// One font for every test, as a node keeps one for every document.
fn font() -> &'static PdfFont {
    static FONT: OnceLock<PdfFont> = OnceLock::new();
    FONT.get_or_init(|| {
        PdfFont::load(None).unwrap_or_else(|e| panic!("{e} (scripts/test installs it)"))
    })
}

fn footer() -> Footer {
    Footer {
        printed_by: "EM-07".into(),
        declared_person: "看護師 青木 由美".into(),
        printed_at: "2026-12-07 03:12 JST".into(),
    }
}

fn patient_header(name: &str, id: &str) -> Vec<HeaderLine> {
    vec![
        HeaderLine::strong(format!("{name}（シケン ハナコ）")),
        HeaderLine::plain(format!(
            "患者ID {id}  生年月日 1950-04-01（76歳）  女性  西5階 512-1"
        )),
        HeaderLine::banner("訓練 — 実際の診療には使用しないでください"),
        HeaderLine::plain("データ時点 2026-12-07 02:00 JST"),
    ]
}

/// The PDF's text per page (form feeds separate pages).
fn pdf_pages(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("pdftotext ({e}): apt-get install poppler-utils (scripts/test does)")
        });
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn squeeze(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// The body's last line: the last non-empty line above the footer.
fn last_body_line(page: &str) -> &str {
    let lines: Vec<&str> = page.lines().filter(|l| !l.trim().is_empty()).collect();
    let footer = lines
        .iter()
        .rposition(|l| l.contains("ページ"))
        .expect("a footer on every page");
    lines[..footer].last().copied().unwrap_or("")
}

const SENTENCE: &str = "本日の与薬は電子カルテ停止中のため紙の記録で行います。\
    投与前に必ず患者IDとリストバンドを照合し、実施後は署名欄に記入してください。\
    Lab results by phone to ext. 1234 until further notice.";

#[test]
fn every_page_carries_the_sections_header_and_page_x_of_y() {
    let mut doc = Document::new("患者記録", PageSize::A4Portrait, footer());
    let first = doc.section(patient_header("試験 花子", "0012345"));
    for i in 1..=40 {
        first.heading(format!("記録{i:02}"));
        first.paragraph(format!("段落{i:02}：{SENTENCE}"));
        first.paragraph(format!(
            "一行{i:02}：ロキソプロフェン錠60mg 1回1錠 1日3回毎食後"
        ));
    }
    let second = doc.section(patient_header("試験 次郎", "0099887"));
    second
        .heading("アレルギー")
        .paragraph("ペニシリン系：発疹（確定）");

    let rendered = doc.render(font()).unwrap();
    let pages = pdf_pages(&rendered.pdf);
    assert_eq!(pages.len(), rendered.pages);
    assert!(pages.len() >= 4, "{} pages", pages.len());
    // A subset of the 20 MB collection is embedded, not the whole font.
    assert!(
        rendered.pdf.len() < 1_500_000,
        "{} bytes",
        rendered.pdf.len()
    );

    let total = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let last = i == total - 1;
        let (name, id) = if last {
            ("試験 次郎", "0099887")
        } else {
            ("試験 花子", "0012345")
        };
        let (other_name, other_id) = if last {
            ("試験 花子", "0012345")
        } else {
            ("試験 次郎", "0099887")
        };
        let flat = squeeze(page);
        for expected in [
            format!("{name}（シケンハナコ）"),
            format!("患者ID{id}"),
            "生年月日1950-04-01（76歳）".to_string(),
            "訓練—実際の診療には使用しないでください".to_string(),
            "データ時点2026-12-0702:00JST".to_string(),
            "印刷:EM-07（申告者:看護師青木由美）".to_string(),
            "印刷時刻:2026-12-0703:12JST".to_string(),
        ] {
            assert!(
                flat.contains(&squeeze(&expected)),
                "page {}: no {expected}:\n{page}",
                i + 1
            );
        }
        assert!(
            !flat.contains(&squeeze(other_name)),
            "page {}: {other_name}",
            i + 1
        );
        assert!(!flat.contains(other_id), "page {}: {other_id}", i + 1);
        let label = page_label(i + 1, total);
        assert!(page.contains(&label), "page {}: no {label}:\n{page}", i + 1);
    }

    // Japanese text survives: every one-line paragraph, and each long one's start.
    let all = squeeze(&pages.concat());
    for i in 1..=40 {
        let line = format!("一行{i:02}：ロキソプロフェン錠60mg1回1錠1日3回毎食後");
        assert!(all.contains(&line), "{line}");
        assert!(
            all.contains(&format!("段落{i:02}：本日の与薬は")),
            "段落{i:02}"
        );
    }
    assert!(all.contains("ペニシリン系：発疹（確定）"));
    assert!(all.contains("Labresultsbyphonetoext.1234untilfurthernotice."));
}

#[test]
fn a_continued_table_repeats_its_header_and_never_splits_a_row() {
    let mut doc = Document::new("与薬記録", PageSize::A4Landscape, footer());
    let section = doc.section(patient_header("試験 花子", "0012345"));
    section.heading("24時間与薬記録");
    let mut table = Table::new([
        Column::new("予定時刻", 1.0),
        Column::new("薬剤・用量・用法", 3.0),
        Column::new("前回実施", 1.5),
        Column::new("実施者サイン", 1.5),
    ]);
    for i in 1..=90 {
        // The drug column wraps onto a second line that must stay with its row.
        table.row(
            Row::new([
                Cell::new(format!("{:02}:00", i % 24)),
                Cell::new(format!(
                    "行{i:03} アムロジピンOD錠5mg 1回1錠 1日1回朝食後 内服 \
                     継続指示あり 腎機能に注意 行末{i:03}"
                ))
                .strong(),
                Cell::new("12/06 08:05").shaded(Shade::Light),
                Cell::blank(),
            ])
            .min_height(9.0),
        );
    }
    section.table(table);
    let rendered = doc.render(font()).unwrap();
    let pages = pdf_pages(&rendered.pdf);
    assert!(pages.len() >= 3, "{} pages", pages.len());

    let mut seen = 0;
    for (p, page) in pages.iter().enumerate() {
        let flat = squeeze(page);
        let rows: Vec<usize> = (1..=90)
            .filter(|i| flat.contains(&format!("行{i:03}")))
            .collect();
        assert!(!rows.is_empty(), "page {} has no rows", p + 1);
        for title in ["予定時刻", "薬剤・用量・用法", "前回実施", "実施者サイン"]
        {
            assert!(
                flat.contains(title),
                "page {}: no column {title}:\n{page}",
                p + 1
            );
        }
        for i in &rows {
            assert!(
                flat.contains(&format!("行末{i:03}")),
                "row {i} split at page {}",
                p + 1
            );
        }
        seen += rows.len();
    }
    assert_eq!(seen, 90, "every row exactly once");
}

#[test]
fn a_row_taller_than_a_page_is_split_with_the_header_repeated() {
    let mut doc = Document::new("記録", PageSize::A4Portrait, footer());
    let section = doc.section(patient_header("試験 花子", "0012345"));
    let mut table = Table::new([Column::new("日時", 1.0), Column::new("経過記録", 4.0)]);
    let note: Vec<String> = (1..=120).map(|i| format!("経過{i:03}")).collect();
    table.row(Row::new([Cell::new("12/06"), Cell::new(note.join("\n"))]));
    section.table(table);
    let pages = pdf_pages(&doc.render(font()).unwrap().pdf);
    assert!(pages.len() >= 2);
    let all = squeeze(&pages.concat());
    for line in &note {
        assert!(all.contains(line.as_str()), "{line} lost");
    }
    for page in &pages {
        assert!(page.contains("経過記録"), "header row repeated:\n{page}");
    }
}

#[test]
fn a_heading_is_never_the_last_line_of_a_page() {
    // Each section pushes its heading (and the sub-heading right after it) one line
    // further down the page, so some heading falls where it would fit but the text after
    // it would not.
    let mut doc = Document::new("見出し", PageSize::A4Portrait, footer());
    for k in 0..48 {
        let section = doc.section(patient_header("試験 花子", "0012345"));
        for j in 0..k {
            section.paragraph(format!("記入欄{j:02}"));
        }
        section.heading(format!("見出し{k:02}"));
        section.heading(format!("小見出し{k:02}"));
        section.paragraph(format!("本文{k:02}：{SENTENCE}"));
    }
    let pages = pdf_pages(&doc.render(font()).unwrap().pdf);
    let mut headings = 0;
    for (p, page) in pages.iter().enumerate() {
        headings += page.matches("見出し").count();
        let last = last_body_line(page);
        assert!(
            !last.contains("見出し"),
            "page {} ends with a heading: {last}",
            p + 1
        );
        // A heading, its sub-heading and the start of their text share a page.
        let flat = squeeze(page);
        for k in 0..48 {
            let heading = flat.contains(&format!("見出し{k:02}"));
            let sub = flat.contains(&format!("小見出し{k:02}"));
            let text = flat.contains(&format!("本文{k:02}："));
            assert!(!heading || (sub && text), "page {}: section {k}", p + 1);
        }
    }
    assert_eq!(headings, 2 * 48, "headings and sub-headings");
    // The later sections' filler runs past the first page: headings met the page end.
    assert!(pages.len() > 48, "{} pages", pages.len());
}

#[test]
fn a_bad_font_path_says_what_to_install_and_what_to_set() {
    let missing = Path::new("/nonexistent/akari/font.ttc");
    let err = PdfFont::load(Some(missing)).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/akari/font.ttc"), "{err}");
    assert!(err.contains("[print] font"), "{err}");
    assert!(err.contains("fonts-noto-cjk"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let not_a_font = dir.path().join("font.ttf");
    std::fs::write(&not_a_font, "これはフォントではありません").unwrap();
    let err = PdfFont::from_path(&not_a_font).unwrap_err();
    assert!(matches!(err, FontError::NotJapanese { .. }), "{err}");
    let err = err.to_string();
    assert!(
        err.contains("[print] font") && err.contains("font.ttf"),
        "{err}"
    );

    let err = PdfFont::discover_in(&[missing, &dir.path().join("none.ttc")])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("no Japanese font for printing was found"),
        "{err}"
    );
    assert!(err.contains("apt-get install fonts-noto-cjk"), "{err}");
    assert!(err.contains("[print] font"), "{err}");
}

#[test]
fn the_japanese_face_of_a_collection_is_chosen_and_reused() {
    let font = font();
    if font.path().extension().is_some_and(|e| e == "ttc") {
        assert!(font.family().contains("JP"), "{}", font.family());
    }
    // The same loaded font serves one document after another.
    for name in ["試験 一郎", "試験 二郎"] {
        let mut doc = Document::new("記録", PageSize::A4Portrait, footer());
        doc.section(patient_header(name, "0000001"))
            .paragraph("禁忌：なし");
        let pages = pdf_pages(&doc.render(font).unwrap().pdf);
        assert_eq!(pages.len(), 1);
        assert!(squeeze(&pages[0]).contains(&squeeze(name)));
        assert!(pages[0].contains("1 / 1 ページ"));
    }
}
