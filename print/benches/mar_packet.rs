//! A ward MAR packet as one PDF: a census, then for each of 60 patients a 24-hour MAR
//! sheet of about two pages (allergies, due doses with blank columns to sign, PRN and
//! injections, a blank 3-day form). Synthetic patients.
//!
//! `cargo bench -p akari-print --bench mar_packet [-- RUNS]`

use std::time::Instant;

use akari_print::{
    Cell, Column, Document, Footer, HeaderLine, PageSize, PdfFont, Row, Shade, Table,
};

const PATIENTS: usize = 60;

const DRUGS: &[&str] = &[
    "アムロジピンOD錠5mg 1回1錠 1日1回朝食後",
    "ロキソプロフェンナトリウム錠60mg 1回1錠 1日3回毎食後",
    "レバミピド錠100mg 1回1錠 1日3回毎食後",
    "ランソプラゾールOD錠15mg 1回1錠 1日1回朝食後",
    "メトホルミン塩酸塩錠250mg 1回2錠 1日2回朝夕食後",
    "ワルファリンカリウム錠1mg 1回2錠 1日1回夕食後 PT-INR確認",
    "酸化マグネシウム錠330mg 1回1錠 1日3回毎食後",
    "セフトリアキソンナトリウム静注用1g 1回1g 1日2回 点滴静注",
];

fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn packet() -> Document {
    let footer = Footer {
        printed_by: "EM-07".into(),
        declared_person: "看護師 青木 由美".into(),
        printed_at: "2026-12-07 03:12 JST".into(),
    };
    let mut doc = Document::new("病棟与薬記録", PageSize::A4Portrait, footer);
    let mode = HeaderLine::banner("非常時 — 電子カルテ停止中（縮退運用）");
    let data_time = HeaderLine::plain("データ時点 2026-12-07 02:00 JST");

    let census = doc.section([
        HeaderLine::strong("西5階病棟 患者一覧（60名）"),
        mode.clone(),
        data_time.clone(),
    ]);
    let mut table = Table::new([
        Column::new("病床", 1.0),
        Column::new("氏名（カナ）", 3.0),
        Column::new("患者ID", 1.5),
        Column::new("生年月日", 1.5),
        Column::new("アレルギー", 2.0),
    ]);
    for p in 0..PATIENTS {
        table.row(Row::new([
            Cell::new(format!("5{:02}-{}", p / 4 + 1, p % 4 + 1)),
            Cell::new(format!("試験 患者{p:02}（シケン カンジャ{p:02}）")),
            Cell::new(format!("{:08}", 10_000 + p)),
            Cell::new(format!("19{:02}-0{}-1{}", 30 + p % 60, p % 9 + 1, p % 10)),
            if p % 3 == 0 {
                Cell::new("ペニシリン系").strong().shaded(Shade::Light)
            } else {
                Cell::new("なし")
            },
        ]));
    }
    census.table(table);

    for p in 0..PATIENTS {
        let section = doc.section([
            HeaderLine::strong(format!("試験 患者{p:02}（シケン カンジャ{p:02}）")),
            HeaderLine::plain(format!(
                "患者ID {:08}  生年月日 19{:02}-0{}-1{}  西5階 5{:02}-{}",
                10_000 + p,
                30 + p % 60,
                p % 9 + 1,
                p % 10,
                p / 4 + 1,
                p % 4 + 1
            )),
            mode.clone(),
            data_time.clone(),
        ]);
        section
            .heading("アレルギー・禁忌")
            .paragraph(if p % 3 == 0 {
                "ペニシリン系：発疹・蕁麻疹（確定）。造影剤：嘔気（疑い）。"
            } else {
                "登録なし（アレルギーなしの確認ではありません）"
            });
        section.heading("24時間与薬予定（12/07 03:00〜12/08 03:00）");
        let mut due = Table::new([
            Column::new("予定時刻", 1.0),
            Column::new("薬剤・用量・用法", 4.0),
            Column::new("前回実施", 1.4),
            Column::new("実施時刻", 1.0),
            Column::new("実施者サイン", 1.4),
        ]);
        for d in 0..36 {
            due.row(
                Row::new([
                    Cell::new(format!("{:02}:00", (d * 4 + 6) % 24)),
                    Cell::new(DRUGS[(p + d) % DRUGS.len()]),
                    Cell::new("12/06 08:05 済"),
                    Cell::blank(),
                    Cell::blank(),
                ])
                .min_height(9.0),
            );
        }
        section.table(due);
        section.heading("頓用・指示");
        section.paragraph(
            "疼痛時：アセトアミノフェン錠200mg 1回2錠 4時間以上あけて1日4回まで。\
             発熱38.5℃以上：同上。不眠時：ゾルピデム酒石酸塩錠5mg 1回1錠。",
        );
    }
    doc
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let load_before = load();
    let started = Instant::now();
    let font = PdfFont::load(None).unwrap_or_else(|e| panic!("{e}"));
    let font_load = started.elapsed();

    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let doc = packet();
        let rendered = doc.render(&font).expect("render");
        times.push(started.elapsed().as_secs_f64());
        last = Some(rendered);
    }
    let rendered = last.expect("at least one run");
    times.sort_by(f64::total_cmp);
    println!(
        "mar_packet: {PATIENTS} patients, {} pages, {} KiB, font {} ({}) loaded once in {:.0} ms",
        rendered.pages,
        rendered.pdf.len() / 1024,
        font.path().display(),
        font.family(),
        font_load.as_secs_f64() * 1000.0
    );
    println!(
        "build + lay out + write the PDF, {runs} runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
        times[0] * 1000.0,
        times[times.len() / 2] * 1000.0,
        times[times.len() - 1] * 1000.0
    );
    println!(
        "load average (1 min) before {load_before:.2}, after {:.2}",
        load()
    );
}
