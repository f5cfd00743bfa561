//! Search latency at N patients: Akari's in-memory index and PostgreSQL side by side.
//!
//! What is built: a *search-only* source (each synthetic patient's `Patient` resource
//! and its `Encounter`s, nothing else) synced by the real engine into a real redb
//! snapshot. Akari's search index is built only from Patient and Location (encounter)
//! entries, so the index and the search path are exactly those of a full snapshot; the
//! clinical resources (labs, MAR, …) are left out so 1M patients fit on disk (a full
//! snapshot is ~21 KB per patient). PostgreSQL gets the same `Patient.ndjson` lines.
//!
//! Akari's figure is what the search page's handler reads (audit and rendering aside):
//! the search at the page's row count, then the listed patients' rows
//! ([`SnapshotReader::rows_facts`]: the patient's own item and its allergy and infection
//! items; none of the latter exist in this search-only snapshot). PostgreSQL lists the
//! same number of rows.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use akari_sync::{SnapshotReader, Store};
use akari_testkit::synth::{self, SynthConfig};
use akari_web::viewer::SEARCH_ROWS;
use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;

use crate::kana;
use crate::node::full_sync;
use crate::pg::{LoadStats, Pg};
use crate::stats::{loadavg, pct_ms, process_cpu, rss_kb, thread_cpu};
use crate::BenchError;

/// One sampled patient, in canonical forms (kana as NFKC full-width katakana).
struct Sample {
    hospital_id: String,
    family_kanji: String,
    given_kanji: String,
    family_kana: String,
    given_kana: String,
    birth: NaiveDate,
}

/// A query as staff would type it, and the patient it must find.
pub struct Query {
    pub form: &'static str,
    pub text: String,
    pub target: String,
    /// False for a family-name-only query: more patients may share it than a page lists.
    pub must_find: bool,
}

fn queries(s: &Sample) -> Vec<Query> {
    let kana = format!("{} {}", s.family_kana, s.given_kana);
    let kanji = format!("{} {}", s.family_kanji, s.given_kanji);
    let q = |form, text: String, must_find| Query {
        form,
        text,
        target: s.hospital_id.clone(),
        must_find,
    };
    vec![
        q("hospital ID", s.hospital_id.clone(), true),
        q(
            "hospital ID, full-width, no leading zeros",
            kana::to_full_width_digits(s.hospital_id.trim_start_matches('0')),
            true,
        ),
        q("kana, full-width", kana.clone(), true),
        q(
            "kana, half-width, no space",
            kana::to_half_width(&kana).replace(' ', ""),
            true,
        ),
        q("hiragana", kana::to_hiragana(&kana), true),
        q("kanji", kanji.clone(), true),
        q(
            "kanji, variant forms, no space",
            kana::to_variant_kanji(&kanji).replace(' ', ""),
            true,
        ),
        q("family name kana only", s.family_kana.clone(), false),
        q(
            "birth date ISO",
            s.birth.format("%Y-%m-%d").to_string(),
            true,
        ),
        q(
            "birth date, era (S25.1.2)",
            kana::era_short(s.birth).unwrap_or_else(|| s.birth.format("%Y/%m/%d").to_string()),
            true,
        ),
    ]
}

struct SourceStats {
    bytes: u64,
    resources: u64,
    samples: Vec<Sample>,
}

/// Writes `Patient.ndjson` and `Encounter.ndjson` for patients 0..n on all cores.
fn write_search_source(
    cfg: &SynthConfig,
    dir: &Path,
    sample_every: u64,
) -> Result<SourceStats, BenchError> {
    let render = |b: u64| render_block(cfg, b, sample_every);
    std::fs::create_dir_all(dir).map_err(|e| BenchError::io(dir, e))?;
    let open = |name: &str| {
        let path = dir.join(name);
        std::fs::File::create(&path)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| BenchError::io(&path, e))
    };
    let (mut pf, mut ef) = (open("Patient.ndjson")?, open("Encounter.ndjson")?);
    let blocks = cfg.patients.div_ceil(BLOCK);
    let next = AtomicU64::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut stats = SourceStats {
        bytes: 0,
        resources: 0,
        samples: Vec::new(),
    };
    std::thread::scope(|s| -> Result<(), BenchError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Block>(workers * 2);
        for _ in 0..workers {
            let (tx, next, render) = (tx.clone(), &next, &render);
            s.spawn(move || loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks || tx.send(render(b)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // A snapshot has no order: blocks are written as they come.
        for block in rx {
            pf.write_all(&block.patients)
                .and_then(|_| ef.write_all(&block.encounters))
                .map_err(|e| BenchError::io(dir, e))?;
            stats.bytes += (block.patients.len() + block.encounters.len()) as u64;
            stats.resources += block.resources;
            stats.samples.extend(block.samples);
        }
        Ok(())
    })?;
    pf.flush()
        .and_then(|_| ef.flush())
        .map_err(|e| BenchError::io(dir, e))?;
    stats
        .samples
        .sort_by(|a, b| a.hospital_id.cmp(&b.hospital_id));
    Ok(stats)
}

/// Patients rendered per work unit of [`write_search_source`].
const BLOCK: u64 = 1024;

/// One block's `Patient` and `Encounter` NDJSON, with its sampled patients.
struct Block {
    patients: Vec<u8>,
    encounters: Vec<u8>,
    resources: u64,
    samples: Vec<Sample>,
}

/// Render block `b`: each patient with only what the search index is built from (the
/// patient and its encounters); every `sample_every`-th patient is sampled.
fn render_block(cfg: &SynthConfig, b: u64, sample_every: u64) -> Block {
    let mut out = Block {
        patients: Vec::new(),
        encounters: Vec::new(),
        resources: 0,
        samples: Vec::new(),
    };
    for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
        let mut p = synth::patient(cfg, i);
        p.allergies.clear();
        p.conditions.clear();
        p.infections.clear();
        p.prescriptions.clear();
        p.administrations.clear();
        p.labs.clear();
        p.vitals.clear();
        p.flags.clear();
        p.documents.clear();
        if i % sample_every == 0 {
            out.samples.push(Sample {
                hospital_id: p.hospital_id.clone(),
                family_kanji: p.family_kanji.clone(),
                given_kanji: p.given_kanji.clone(),
                family_kana: p.family_kana.nfkc().collect(),
                given_kana: p.given_kana.nfkc().collect(),
                birth: p.birth_date,
            });
        }
        for r in synth::resources_of(&p, cfg) {
            let buf = if r.resource_type == "Patient" {
                &mut out.patients
            } else {
                &mut out.encounters
            };
            buf.extend_from_slice(&r.json);
            buf.push(b'\n');
            out.resources += 1;
        }
    }
    out
}

/// Latencies of one engine, per query form, and how many must-find queries found.
#[derive(Default)]
struct Measured {
    /// CPU time per form (Akari: the searching thread; PostgreSQL: the server backend).
    cpu: BTreeMap<&'static str, Duration>,
    by_form: BTreeMap<&'static str, Vec<Duration>>,
    all: Vec<Duration>,
    /// Per form: found among the results, asked, and not listed but "more matched".
    found: BTreeMap<&'static str, (usize, usize, usize)>,
}

impl Measured {
    /// `more`: the answer said more patients matched than it listed (the page then asks
    /// the user to narrow the search), which counts as found.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        q: &Query,
        took: Duration,
        cpu: Duration,
        hits: &[String],
        more: bool,
        last_pass: bool,
    ) {
        *self.cpu.entry(q.form).or_default() += cpu;
        self.by_form.entry(q.form).or_default().push(took);
        self.all.push(took);
        if last_pass {
            let f = self.found.entry(q.form).or_default();
            f.1 += 1;
            if hits.contains(&q.target) {
                f.0 += 1;
            } else if more {
                f.2 += 1;
            }
        }
    }
    fn sort(&mut self) {
        self.all.sort();
        for v in self.by_form.values_mut() {
            v.sort();
        }
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

pub fn run(
    patients: u64,
    work: &Path,
    pg: Option<&str>,
    samples: u64,
    passes: usize,
) -> Result<(), BenchError> {
    if patients == 0 || samples == 0 || passes == 0 {
        return Err(BenchError::Setup(
            "--patients, --samples and --passes must be at least 1".into(),
        ));
    }
    let dir = work.join(format!("search-{patients}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;
    }
    let ndjson = dir.join("ndjson");
    let cfg = SynthConfig {
        patients,
        ..SynthConfig::default()
    };
    eprintln!(
        "[search {patients}] generating the search-only source (load {})",
        loadavg()
    );
    let t = Instant::now();
    let src = write_search_source(&cfg, &ndjson, (patients / samples).max(1))?;
    let gen_s = t.elapsed().as_secs_f64();
    let (reader, built) = build_snapshot(patients, &dir, &ndjson)?;
    let qs: Vec<Query> = src.samples.iter().flat_map(queries).collect();
    let akari = measure_akari(&reader, &qs, passes)?;
    let (hwm, _) = rss_kb("self");
    let postgres = match pg {
        Some(conn) => {
            eprintln!("[search {patients}] loading the same patients into PostgreSQL");
            Some(measure_pg(conn, &ndjson, &qs, passes)?)
        }
        None => None,
    };
    drop(reader);
    std::fs::remove_dir_all(&dir).map_err(|e| BenchError::io(&dir, e))?;

    println!(
        "### Search, {patients} patients (load average {} at the end)\n",
        loadavg()
    );
    println!(
        "Built: search-only source {:.0} MB NDJSON ({} Patient + Encounter resources) in {gen_s:.1} s; \
         full sync into redb {:.1} s ({} resources received), snapshot file {:.0} MB; \
         reader open (index build) {:.2} s; bench process peak RSS {} MB.",
        mb(src.bytes),
        src.resources,
        built.sync_s,
        built.resources,
        mb(built.store_bytes),
        built.open_s,
        hwm.map_or("?".into(), |k| (k / 1024).to_string()),
    );
    if let Some((_, load, settings)) = &postgres {
        println!(
            "PostgreSQL: COPY {:.1} s, indexes {:.1} s (GIN jsonb_path_ops + GIN pg_trgm), \
             table + indexes {:.0} MB; {settings}.",
            load.copy_s,
            load.index_s,
            mb(load.bytes)
        );
    }
    println!(
        "\n{} queries ({} sampled patients × 10 forms) × {passes} timed passes after one warm-up; \
         latency in µs, single client, one query at a time. \
         CPU = mean CPU µs per query of the searching thread (Akari) or of the PostgreSQL \
         server backend (from /proc, 10 ms ticks summed over all queries of the form; \
         client-side decoding not included): unlike wall time, it does not depend on the \
         machine's load.\n",
        qs.len(),
        src.samples.len()
    );
    print_table(&qs, &akari, postgres.as_ref().map(|(m, _, _)| m));
    Ok(())
}

/// What building the snapshot cost.
struct Built {
    sync_s: f64,
    resources: u64,
    store_bytes: u64,
    open_s: f64,
}

/// Sync the search-only source into a redb snapshot in `dir` and open a reader on it
/// (which must hold all `patients`).
fn build_snapshot(
    patients: u64,
    dir: &Path,
    ndjson: &Path,
) -> Result<(SnapshotReader, Built), BenchError> {
    eprintln!("[search {patients}] syncing into a redb snapshot");
    let store_path = dir.join("snapshot.redb");
    let store = Store::open(&store_path, Default::default())?;
    let (report, sync_s) = full_sync(store.clone(), ndjson)?;
    let store_bytes = std::fs::metadata(&store_path).map_or(0, |m| m.len());
    let t = Instant::now();
    let reader = SnapshotReader::open(store, akari_sync::Config::default().windows)?;
    let open_s = t.elapsed().as_secs_f64();
    if reader.patient_count() as u64 != patients {
        return Err(BenchError::Setup(format!(
            "the snapshot holds {} patients, expected {patients}",
            reader.patient_count()
        )));
    }
    let built = Built {
        sync_s,
        resources: report.resources,
        store_bytes,
        open_s,
    };
    Ok((reader, built))
}

/// Akari: every query, one warm-up pass and `passes` timed ones.
fn measure_akari(
    reader: &SnapshotReader,
    qs: &[Query],
    passes: usize,
) -> Result<Measured, BenchError> {
    let mut akari = Measured::default();
    for pass in 0..=passes {
        for q in qs {
            let c = thread_cpu();
            let t = Instant::now();
            // What the search page's handler reads: as many as a page lists ("more" is
            // the search's own), then the listed patients' rows (own item and markers).
            let found = reader.search_results_up_to(&q.text, SEARCH_ROWS)?;
            let keys: Vec<_> = found.patients.iter().map(|p| p.key.clone()).collect();
            reader.rows_facts(&keys)?;
            let took = t.elapsed();
            let cpu = thread_cpu().saturating_sub(c);
            if pass > 0 {
                let ids: Vec<String> = found
                    .patients
                    .into_iter()
                    .filter_map(|h| h.hospital_id)
                    .collect();
                akari.add(q, took, cpu, &ids, found.more, pass == passes);
            }
        }
    }
    akari.sort();
    Ok(akari)
}

/// PostgreSQL: load the same patients, then every query as for Akari; also returns the
/// load figures and the server's settings.
fn measure_pg(
    conn: &str,
    ndjson: &Path,
    qs: &[Query],
    passes: usize,
) -> Result<(Measured, LoadStats, String), BenchError> {
    let (mut db, load) = Pg::load(conn, &ndjson.join("Patient.ndjson"))?;
    let backend = db.backend_pid()?;
    let mut m = Measured::default();
    for pass in 0..=passes {
        for q in qs {
            let c = process_cpu(backend);
            let t = Instant::now();
            let mut ids = db.search(&q.text)?;
            let took = t.elapsed();
            let cpu = process_cpu(backend).saturating_sub(c);
            if pass > 0 {
                let more = ids.len() > SEARCH_ROWS;
                ids.truncate(SEARCH_ROWS);
                m.add(q, took, cpu, &ids, more, pass == passes);
            }
        }
    }
    m.sort();
    Ok((m, load, db.settings()?))
}

/// The latency table: per query form and for all queries, Akari beside PostgreSQL.
fn print_table(qs: &[Query], akari: &Measured, postgres: Option<&Measured>) {
    println!("| query form | Akari p50 | Akari p99 | PG p50 | PG p99 | PG/Akari p50 | PG/Akari p99 | Akari CPU | PG CPU | PG/Akari CPU | found Akari | found PG |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let us = |v: &[Duration], p| pct_ms(v, p) * 1000.0;
    let mean_cpu = |m: &Measured, form: Option<&str>| -> f64 {
        let (total, n) = match form {
            Some(f) => (
                m.cpu.get(f).copied().unwrap_or_default(),
                m.by_form.get(f).map_or(0, Vec::len),
            ),
            None => (m.cpu.values().sum::<Duration>(), m.all.len()),
        };
        total.as_secs_f64() * 1e6 / n.max(1) as f64
    };
    let cpu_cols = |form: Option<&str>| -> String {
        let a = mean_cpu(akari, form);
        match postgres {
            Some(m) => {
                let p = mean_cpu(m, form);
                format!("{a:.1} | {p:.0} | {:.0}×", p / a.max(0.01))
            }
            None => format!("{a:.1} | - | -"),
        }
    };
    let row = |name: &str,
               a: &[Duration],
               p: Option<&[Duration]>,
               cpu: String,
               fa: String,
               fp: String| {
        let (pp50, pp99, r50, r99) = match p {
            Some(p) => (
                format!("{:.0}", us(p, 0.5)),
                format!("{:.0}", us(p, 0.99)),
                format!("{:.0}×", us(p, 0.5) / us(a, 0.5)),
                format!("{:.0}×", us(p, 0.99) / us(a, 0.99)),
            ),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        println!(
            "| {name} | {:.1} | {:.1} | {pp50} | {pp99} | {r50} | {r99} | {cpu} | {fa} | {fp} |",
            us(a, 0.5),
            us(a, 0.99)
        );
    };
    let found = |m: &Measured, form: &str, must: bool| -> String {
        match (m.found.get(form), must) {
            (Some((f, n, 0)), true) => format!("{f}/{n}"),
            (Some((f, n, more)), true) => format!("{f}/{n} + {more} \"more, narrow\""),
            (Some((f, n, _)), false) => format!("({f}/{n} in the first {SEARCH_ROWS})"),
            (None, _) => "-".into(),
        }
    };
    for q in qs.iter().take(10) {
        let form = q.form;
        let must = qs
            .iter()
            .find(|q| q.form == form)
            .is_some_and(|q| q.must_find);
        let a = &akari.by_form[form];
        let p = postgres.map(|m| m.by_form[form].as_slice());
        let fp = postgres.map_or("-".into(), |m| found(m, form, must));
        row(
            form,
            a,
            p,
            cpu_cols(Some(form)),
            found(akari, form, must),
            fp,
        );
    }
    row(
        "**all queries**",
        &akari.all,
        postgres.map(|m| m.all.as_slice()),
        cpu_cols(None),
        String::new(),
        String::new(),
    );
    println!();
}
