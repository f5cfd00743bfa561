//! Printouts beyond the single page: the ward MAR packet (census, then every patient's
//! 24-hour MAR sheet, then blank MAR forms for new admissions, in one job) and every print
//! job as a PDF made by the node (font embedded, for a USB stick or another printer).
//!
//! A PDF is read and audited exactly as its print is (a patient print, a ward print):
//! the ledger entry is written before any data is read into the document, and if it
//! cannot be, no PDF is made. Without a print font the PDF answers with a page that says
//! what to install, before anything is read; the HTML print keeps working.

use akari_print::{Cell, Column, Document, Footer, HeaderLine, PageSize, Row as PdfRow, Table};
use akari_sync::model::PatientKey;
use askama::Template;
use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::{render, Chrome, Ctx};
use crate::display::{Row, Summary};
use crate::error::{PageError, Problem};
use crate::i18n::Tr;

/// Days of the blank MAR forms printed for new admissions.
pub const BLANK_MAR_DAYS: [usize; 2] = [3, 7];
/// Rows of a blank MAR form (one drug each).
const BLANK_MAR_ROWS: usize = 12;
/// Height (mm) of a due dose's row on the MAR sheet: room to write the time and sign.
const SIGN_ROW_MM: f32 = 9.0;

// ---------------------------------------------------------------- HTML packet

#[derive(Template)]
#[template(path = "ward_mar.html")]
struct MarPacketPage {
    c: Chrome,
    ward: String,
    rows: Vec<Row>,
    patients: Vec<Summary>,
    blanks: Vec<BlankForm>,
}

/// A blank MAR form: its title and its day columns.
pub struct BlankForm {
    pub title: String,
    pub days: Vec<String>,
    pub rows: Vec<usize>,
}

fn blank_forms(tr: Tr) -> Vec<BlankForm> {
    BLANK_MAR_DAYS
        .iter()
        .map(|&n| BlankForm {
            title: format!(
                "{} {}",
                tr.s("blank_mar"),
                tr.s("blank_mar_days").replace("{n}", &n.to_string())
            ),
            days: (1..=n)
                .map(|d| tr.s("day_n").replace("{n}", &d.to_string()))
                .collect(),
            rows: (0..BLANK_MAR_ROWS).collect(),
        })
        .collect()
}

/// The ward's census and records, read with one ward-print ledger entry.
async fn ward_records(ctx: &Ctx, ward: &str) -> Result<(Vec<Row>, Vec<Summary>), PageError> {
    let reader = ctx.reader().await?;
    let printed = ctx.viewer().ward_print(&reader, ward.to_owned()).await?;
    let (census, records) = printed.into_inner();
    let today = ctx.tr().zone.date(&chrono::Utc::now());
    let as_of = ctx.viewer().as_of().unwrap_or_else(chrono::Utc::now);
    let clock = ctx.due_clock();
    let rows = census
        .iter()
        .map(|s| Row::new(ctx.tr(), s, today))
        .collect();
    let patients =
        super::downtime::summaries(ctx, records, as_of, &clock, ctx.vital_limits()).await?;
    Ok((rows, patients))
}

pub(crate) async fn ward_mar(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let (rows, patients) = ward_records(&ctx, &ward).await?;
    let page = MarPacketPage {
        c: ctx.chrome(),
        blanks: blank_forms(ctx.tr()),
        ward,
        rows,
        patients,
    };
    render(&page)
}

// ---------------------------------------------------------------- PDF downloads

/// The font, checked before anything is read or audited.
fn font(ctx: &Ctx) -> Result<akari_print::PdfFont, PageError> {
    ctx.print_font().clone().map_err(|e| {
        tracing::warn!(error = %e, "a PDF was asked for but the node has no print font");
        PageError::from(Problem::PrintFont)
    })
}

pub(crate) async fn patient_pdf(ctx: Ctx, Path(key): Path<String>) -> Result<Response, PageError> {
    let font = font(&ctx)?;
    let check = ctx.reader_check()?;
    let view = ctx
        .viewer()
        .patient(PatientKey(key), true, check)
        .await?
        .map_err(|refusal| ctx.session_refused(refusal))?;
    let as_of = ctx.viewer().as_of().unwrap_or_else(chrono::Utc::now);
    let p = super::downtime::summaries(
        &ctx,
        vec![view.into_inner()],
        as_of,
        &ctx.due_clock(),
        ctx.vital_limits(),
    )
    .await?
    .remove(0);
    let c = ctx.chrome();
    let mut doc = Document::new(c.tr.s("print_patient"), PageSize::A4Portrait, footer(&c));
    patient_section(&mut doc, &c, &p, true);
    staff_notice(&mut doc, &c);
    pdf_response(doc, font, "patient.pdf").await
}

pub(crate) async fn ward_pdf(ctx: Ctx, Path(ward): Path<String>) -> Result<Response, PageError> {
    let font = font(&ctx)?;
    let (rows, patients) = ward_records(&ctx, &ward).await?;
    let c = ctx.chrome();
    let mut doc = Document::new(c.tr.s("print_ward"), PageSize::A4Portrait, footer(&c));
    census_section(&mut doc, &c, &ward, &rows);
    for p in &patients {
        patient_section(&mut doc, &c, p, false);
    }
    staff_notice(&mut doc, &c);
    pdf_response(doc, font, "ward.pdf").await
}

pub(crate) async fn ward_mar_pdf(
    ctx: Ctx,
    Path(ward): Path<String>,
) -> Result<Response, PageError> {
    let font = font(&ctx)?;
    let (rows, patients) = ward_records(&ctx, &ward).await?;
    let c = ctx.chrome();
    let mut doc = mar_packet(&c, &ward, &rows, &patients);
    staff_notice(&mut doc, &c);
    pdf_response(doc, font, "mar-packet.pdf").await
}

/// The staff notice, if one is posted, as a line in every section's running header, so
/// each printed page carries it like the screen's banner.
fn staff_notice(doc: &mut Document, c: &Chrome) {
    if c.notice.is_empty() {
        return;
    }
    let line = format!("{}: {}", c.tr.s("staff_notice"), c.notice);
    for section in &mut doc.sections {
        section.header.push(HeaderLine::banner(line.clone()));
    }
}

/// The ward MAR packet as a document: census, each patient's sheet, the blank forms.
pub fn mar_packet(c: &Chrome, ward: &str, rows: &[Row], patients: &[Summary]) -> Document {
    let mut doc = Document::new(c.tr.s("mar_packet"), PageSize::A4Portrait, footer(c));
    census_section(&mut doc, c, ward, rows);
    for p in patients {
        mar_sheet(&mut doc, c, p);
    }
    for form in blank_forms(c.tr) {
        blank_section(&mut doc, c, &form);
    }
    doc
}

/// Lays out and writes the PDF on a blocking thread (a ward is tens of pages).
async fn pdf_response(
    doc: Document,
    font: akari_print::PdfFont,
    filename: &'static str,
) -> Result<Response, PageError> {
    let rendered = tokio::task::spawn_blocking(move || doc.render(&font))
        .await?
        .map_err(|e| {
            tracing::error!(error = %e, "the PDF could not be written");
            PageError::from(Problem::Internal)
        })?;
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                CONTENT_DISPOSITION,
                HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
                    .expect("static file name"),
            ),
        ],
        rendered.pdf,
    )
        .into_response())
}

/// The patient's downtime entries, shaded, each with who recorded it; a superseded one
/// says which entry corrected it.
fn downtime_table(s: &mut akari_print::Section, c: &Chrome, p: &Summary) {
    let tr = c.tr;
    if p.downtime.is_empty() && p.downtime_error.is_empty() {
        return;
    }
    s.heading(format!(
        "[{}] {}",
        tr.s("downtime"),
        tr.s("downtime_records")
    ));
    if !p.downtime_error.is_empty() {
        s.paragraph(p.downtime_error.clone());
    }
    if p.downtime.is_empty() {
        return;
    }
    let mut t = table(&[
        (tr.s("downtime_refers"), 1.3),
        (tr.s("downtime_kind"), 1.2),
        (tr.s("downtime_content"), 3.4),
        (tr.s("downtime_by"), 2.0),
        (tr.s("downtime_at"), 1.3),
    ]);
    for e in &p.downtime {
        let mut text = if e.superseded_by.is_empty() {
            e.text.clone()
        } else {
            format!(
                "（{} {}）{}",
                tr.s("downtime_superseded"),
                e.superseded_by,
                e.text
            )
        };
        if !e.corrects.is_empty() {
            text.push_str(&format!("\n{} {}", tr.s("downtime_corrects"), e.corrects));
        }
        if e.outside_ward {
            text.push_str(&format!("\n{}", tr.s("downtime_outside_ward")));
        }
        let shade = akari_print::Shade::Light;
        t.row(PdfRow::new([
            Cell::new(e.time.clone()).shaded(shade),
            Cell::new(format!("[{}] #{} {}", tr.s("downtime"), e.id, e.label)).shaded(shade),
            Cell::new(text).shaded(shade),
            Cell::new(e.who.clone()).shaded(shade),
            Cell::new(e.recorded.clone()).shaded(shade),
        ]));
    }
    s.table(t);
}

fn footer(c: &Chrome) -> Footer {
    Footer {
        printed_by: c.account.clone(),
        declared_person: c.person.clone(),
        printed_at: c.now.clone(),
    }
}

/// The running header of a patient's pages: who, the mode, the data time.
fn identity_header(c: &Chrome, p: &Summary) -> Vec<HeaderLine> {
    let tr = c.tr;
    let mut name = format!("{}（{}）", p.id.name, p.id.kana);
    if !p.id.deceased.is_empty() {
        name.push_str(&format!("  {}", p.id.deceased));
    }
    let mut ids = format!(
        "{} {}   {} {}   {}",
        tr.s("hospital_id"),
        p.id.hospital_id,
        tr.s("born"),
        p.id.born,
        p.id.age_sex
    );
    if !p.location.is_empty() {
        ids.push_str(&format!("   {}", p.location));
    }
    vec![
        HeaderLine::strong(name),
        HeaderLine::plain(ids),
        HeaderLine::banner(c.mode_label),
        HeaderLine::plain(format!("{}: {}", tr.s("data_time"), c.as_of)),
    ]
}

fn table(columns: &[(&str, f32)]) -> Table {
    Table::new(columns.iter().map(|(t, w)| Column::new(*t, *w)))
}

fn allergy_text(c: &Chrome, p: &Summary) -> String {
    if p.allergies.is_empty() {
        return c.tr.s(p.no_allergy).to_owned();
    }
    p.allergies
        .iter()
        .map(|a| {
            let mut s = String::new();
            if a.drug {
                s.push_str(&format!("[{}] ", c.tr.s("drug_contraindication")));
            }
            if !a.criticality.is_empty() {
                s.push_str(&format!("[{}] ", a.criticality));
            }
            s.push_str(&a.substance);
            if !a.reactions.is_empty() {
                s.push_str(&format!("  {}: {}", c.tr.s("reaction"), a.reactions));
            }
            if !a.severity.is_empty() {
                s.push_str(&format!("（{}）", a.severity));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn due_table(c: &Chrome, p: &Summary, sign: bool) -> Table {
    let tr = c.tr;
    let mut cols = vec![
        (tr.s("medication"), 3.0),
        (tr.s("dose"), 1.4),
        (tr.s("timing"), 1.6),
        (tr.s("due_at"), 1.3),
        (tr.s("last_given"), 1.6),
    ];
    if sign {
        cols.push((tr.s("given_sign"), 1.8));
    }
    let mut t = table(&cols);
    for d in &p.due {
        let med = if d.route.is_empty() {
            d.medication.clone()
        } else {
            format!("{}（{}）", d.medication, d.route)
        };
        // One row per due dose on the MAR sheet (each to be signed); the times together
        // on the summary.
        let times: Vec<String> = if d.due.is_empty() {
            vec![d.note.clone()]
        } else if sign {
            d.due.clone()
        } else {
            vec![d.due.join("  ")]
        };
        for time in times {
            let mut cells = vec![
                Cell::new(med.clone()).strong(),
                Cell::new(d.dose.clone()),
                Cell::new(d.timing.clone()),
                Cell::new(time),
                Cell::new(d.last_given.clone()),
            ];
            t.row(if sign {
                cells.push(Cell::blank());
                PdfRow::new(cells).min_height(SIGN_ROW_MM)
            } else {
                PdfRow::new(cells)
            });
        }
    }
    t
}

/// A patient's pages: identity header; allergies, due next, prescriptions, MAR; with
/// `full`, the rest of the summary as the patient print shows it.
fn patient_section(doc: &mut Document, c: &Chrome, p: &Summary, full: bool) {
    let tr = c.tr;
    let s = doc.section(identity_header(c, p));
    if !p.blood_type.is_empty() || !p.attending.is_empty() {
        s.paragraph(format!(
            "{} {}   {} {}",
            tr.s("blood_type"),
            p.blood_type,
            tr.s("attending"),
            p.attending
        ));
    }
    s.heading(format!("⚠ {}", tr.s("allergies")))
        .paragraph(allergy_text(c, p));
    if !p.flags.is_empty() {
        s.heading(tr.s("flags")).paragraph(
            p.flags
                .iter()
                .map(|f| format!("{} {}", f.label, f.text))
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    if full && !p.infections.is_empty() {
        let mut t = table(&[(tr.s("infections"), 2.0), ("", 3.0), (tr.s("time"), 1.5)]);
        for i in &p.infections {
            t.row(PdfRow::new([
                Cell::new(i.label.clone()),
                Cell::new(i.text.clone()),
                Cell::new(i.time.clone()),
            ]));
        }
        s.heading(tr.s("infections")).table(t);
    }
    s.heading(tr.s("due_next"));
    if p.due.is_empty() {
        s.paragraph(tr.s("due_none"));
    } else {
        s.paragraph(tr.s("due_basis")).table(due_table(c, p, false));
    }
    s.heading(tr.s("prescriptions"));
    if p.prescriptions.is_empty() {
        s.paragraph(tr.s("none"));
    } else {
        let mut t = table(&[
            (tr.s("medication"), 3.0),
            (tr.s("dose"), 1.3),
            (tr.s("route"), 1.0),
            (tr.s("timing"), 1.6),
            (tr.s("rx_days"), 0.8),
            (tr.s("rx_start"), 1.1),
        ]);
        for rx in &p.prescriptions {
            let mut med = rx.medication.clone();
            for tag in [
                if rx.prn { tr.s("prn") } else { "" },
                rx.status.as_str(),
                rx.repeat.as_str(),
            ] {
                if !tag.is_empty() {
                    med.push_str(&format!("（{tag}）"));
                }
            }
            t.row(PdfRow::new([
                Cell::new(med),
                Cell::new(rx.dose.clone()),
                Cell::new(rx.route.clone()),
                Cell::new(rx.timing.clone()),
                Cell::new(rx.days.clone()),
                Cell::new(rx.start.clone()),
            ]));
        }
        s.table(t);
    }
    s.heading(tr.s("mar"));
    if p.mar.rows.is_empty() {
        s.paragraph(tr.s("no_mar"));
    } else {
        let mut cols = vec![Column::new(tr.s("medication"), 2.5)];
        cols.extend(p.mar.days.iter().map(|d| Column::new(d.clone(), 1.5)));
        let mut t = Table::new(cols);
        for row in &p.mar.rows {
            let mut cells = vec![Cell::new(row.medication.clone())];
            cells.extend(row.cells.iter().map(|cell| {
                Cell::new(
                    cell.iter()
                        .map(|g| {
                            let mark = if g.given {
                                "✓".to_owned()
                            } else {
                                format!("✗{}", g.status)
                            };
                            let text = format!("{} {mark} {}", g.time, g.dose).trim().to_owned();
                            if g.by.is_empty() {
                                text
                            } else {
                                format!("[{}] {text} {}", tr.s("downtime"), g.by)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            }));
            t.row(PdfRow::new(cells));
        }
        s.table(t);
    }
    downtime_table(s, c, p);
    if !full {
        return;
    }
    if !p.orders.is_empty() {
        let mut t = table(&[(tr.s("orders"), 3.0), ("", 1.2), (tr.s("time"), 1.4)]);
        for o in &p.orders {
            t.row(PdfRow::new([
                Cell::new(o.text.clone()),
                Cell::new(o.category.clone()),
                Cell::new(o.time.clone()),
            ]));
        }
        s.heading(tr.s("orders")).table(t);
    }
    s.heading(tr.s("labs"));
    if p.labs.is_empty() {
        s.paragraph(tr.s("none"));
    } else {
        // One row per test: the newest value, then the earlier ones, each with its mark,
        // unit and time, as on the page.
        let mut t = table(&[
            (tr.s("test"), 1.8),
            (tr.s("lab_latest"), 1.3),
            (tr.s("lab_previous"), 3.3),
            (tr.s("reference"), 1.4),
        ]);
        let value = |v: &crate::display::LabValue| {
            format!("{} {} {}\n{}", v.value, v.unit, v.mark, v.time)
                .trim()
                .to_owned()
        };
        for l in &p.labs {
            let latest = l.values.first().map(value).unwrap_or_default();
            let earlier: Vec<String> = l.values.iter().skip(1).map(value).collect();
            let latest = if l.abnormal {
                Cell::new(latest).strong()
            } else {
                Cell::new(latest)
            };
            t.row(PdfRow::new([
                Cell::new(l.test.clone()),
                latest,
                Cell::new(earlier.join(" / ")),
                Cell::new(l.reference.clone()),
            ]));
        }
        s.table(t);
    }
    if !p.vitals.rows.is_empty() {
        let mut cols = vec![Column::new(tr.s("time"), 1.6)];
        cols.extend(p.vitals.heads.iter().map(|h| Column::new(h.clone(), 1.0)));
        let mut t = Table::new(cols);
        for row in &p.vitals.rows {
            let mut cells = vec![if row.by.is_empty() {
                Cell::new(row.time.clone())
            } else {
                Cell::new(format!("{}\n[{}] {}", row.time, tr.s("downtime"), row.by))
                    .shaded(akari_print::Shade::Light)
            }];
            cells.extend(row.cells.iter().map(|v| {
                let text = format!("{} {}", v.text, v.mark).trim().to_owned();
                if v.mark.is_empty() {
                    Cell::new(text)
                } else {
                    Cell::new(text).strong()
                }
            }));
            t.row(PdfRow::new(cells));
        }
        s.heading(tr.s("vitals")).table(t);
    }
    for (key, lines) in [
        ("findings", &p.findings),
        ("problems", &p.problems),
        ("immunizations", &p.immunizations),
    ] {
        if lines.is_empty() {
            continue;
        }
        let mut t = table(&[("", 2.0), ("", 3.0), (tr.s("time"), 1.5)]);
        for l in lines {
            t.row(PdfRow::new([
                Cell::new(l.label.clone()),
                Cell::new(l.text.clone()),
                Cell::new(l.time.clone()),
            ]));
        }
        s.heading(tr.s(key)).table(t);
    }
    for r in &p.reports {
        s.heading(format!("{} {} {}", r.kind, r.title, r.time));
        if !r.conclusion.is_empty() {
            s.paragraph(format!("{}: {}", tr.s("conclusion"), r.conclusion));
        }
        if !r.text.is_empty() {
            s.paragraph(r.text.clone());
        }
    }
    for d in &p.documents {
        s.heading(format!("{} {}", d.title, d.date))
            .paragraph(d.text.clone());
    }
}

fn census_section(doc: &mut Document, c: &Chrome, ward: &str, rows: &[Row]) {
    let tr = c.tr;
    let s = doc.section([
        HeaderLine::strong(format!("{}: {ward}", tr.s("ward_census"))),
        HeaderLine::banner(c.mode_label),
        HeaderLine::plain(format!("{}: {}", tr.s("data_time"), c.as_of)),
    ]);
    let room_bed = format!("{}/{}", tr.s("room"), tr.s("bed"));
    let mut t = table(&[
        (room_bed.as_str(), 1.0),
        (tr.s("name"), 2.6),
        (tr.s("age_sex"), 1.0),
        (tr.s("hospital_id"), 1.2),
        (tr.s("markers"), 1.2),
    ]);
    for r in rows {
        let mut name = format!("{}\n{}", r.id.name, r.id.kana);
        if !r.id.deceased.is_empty() {
            name.push_str(&format!("  {}", r.id.deceased));
        }
        let markers = [
            (r.allergy, tr.s("marker_allergy")),
            (r.infection, tr.s("marker_infection")),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, m)| *m)
        .collect::<Vec<_>>()
        .join(" ");
        t.row(PdfRow::new([
            Cell::new(format!("{} {}", r.room, r.bed)),
            Cell::new(name),
            Cell::new(r.id.age_sex.clone()),
            Cell::new(r.id.hospital_id.clone()),
            Cell::new(markers),
        ]));
    }
    s.table(t);
}

/// A patient's 24-hour MAR sheet: allergies, then one row per due dose with a blank box
/// to sign, and the rows whose times cannot be computed with the reason.
fn mar_sheet(doc: &mut Document, c: &Chrome, p: &Summary) {
    let tr = c.tr;
    let s = doc.section(identity_header(c, p));
    s.heading(format!("⚠ {}", tr.s("allergies")))
        .paragraph(allergy_text(c, p));
    s.heading(tr.s("mar_sheet"));
    if p.due.is_empty() {
        s.paragraph(tr.s("due_none"));
    } else {
        s.paragraph(tr.s("due_basis")).table(due_table(c, p, true));
    }
}

fn blank_section(doc: &mut Document, c: &Chrome, form: &BlankForm) {
    let tr = c.tr;
    let s = doc.section([
        HeaderLine::strong(form.title.clone()),
        HeaderLine::plain(format!(
            "{}: ______________________   {}: ____________   {}: ____________",
            tr.s("name"),
            tr.s("hospital_id"),
            tr.s("born")
        )),
        HeaderLine::banner(c.mode_label),
    ]);
    let mut cols = vec![Column::new(
        format!(
            "{} / {} / {}",
            tr.s("medication"),
            tr.s("dose"),
            tr.s("timing")
        ),
        3.0,
    )];
    cols.extend(form.days.iter().map(|d| Column::new(d.clone(), 1.0)));
    let mut t = Table::new(cols);
    for _ in &form.rows {
        t.row(PdfRow::new((0..=form.days.len()).map(|_| Cell::blank())).min_height(14.0));
    }
    s.table(t);
}
