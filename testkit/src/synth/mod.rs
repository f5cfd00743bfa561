//! Deterministic synthetic Japanese hospital.
//!
//! Every patient is generated from `(seed, patient index)` alone, so a hospital of any
//! size can be streamed patient by patient (benchmarks at 100k–1M patients never hold it
//! in memory) and any single patient can be regenerated to learn its *truth*: the
//! [`PatientRecord`] the sync engine must show for it (compared ignoring the opaque key).
//!
//! Resources are JP Core shaped FHIR R4 JSON (see `/work/notes/generator-shapes.md` for the
//! exact fields the truth relies on). Synthetic data only.

pub mod names;
mod render;
mod spec;
pub mod ssmix2;
pub use spec::inpatient_count;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use akari_sync::model::{Instant, PatientKey, PatientRecord};
use chrono::{DateTime, FixedOffset, Timelike, Utc};

pub use render::resources_of;
pub use spec::{
    AllergySpec, ConditionSpec, DocumentSpec, EncounterSpec, FlagSpec, InfectionSpec, Item,
    LabSpec, MarSpec, PatientSpec, RxSpec, VitalSpec,
};

/// The institution code used by default (10 digits, synthetic).
pub const DEFAULT_INSTITUTION: &str = "1318814790";
/// Prefix of the hospital patient ID identifier system (JP Core); the 10-digit
/// institution code follows it.
pub const HOSPITAL_ID_SYSTEM_PREFIX: &str = "urn:oid:1.2.392.100495.20.3.51.1";
/// Windows the truth applies (MAR and vital signs): the last 72 hours.
pub const RECENT_WINDOW_HOURS: i64 = 72;
/// Finished encounters older than this many days are out of the snapshot.
pub const ENCOUNTER_WINDOW_DAYS: i64 = 90;

/// Resource types the generator emits, in the order NDJSON files are written.
pub const RESOURCE_TYPES: &[&str] = &[
    "Patient",
    "AllergyIntolerance",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationAdministration",
    "Flag",
    "Encounter",
    "DocumentReference",
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    pub patients: u64,
    /// The clinical "now": recent items (MAR, vitals) are placed relative to it. Tests use
    /// the real current time so the engine's own 72 h window agrees with the truth.
    pub now: Instant,
    /// 10-digit institution code appended to the hospital-ID system.
    pub institution: String,
    /// Put `<script>` / `onerror=` payloads into some names, allergy texts and documents.
    pub xss: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 42,
            patients: 2_000,
            now: jst_now(),
            institution: DEFAULT_INSTITUTION.to_string(),
            xss: false,
        }
    }
}

impl SynthConfig {
    pub fn hospital_id_system(&self) -> String {
        format!("{HOSPITAL_ID_SYSTEM_PREFIX}{}", self.institution)
    }
}

/// The current time in JST, whole seconds (FHIR dateTimes the generator writes carry no
/// fractions, so the truth compares exactly).
pub fn jst_now() -> Instant {
    let jst = FixedOffset::east_opt(9 * 3600).expect("valid offset");
    let now: DateTime<FixedOffset> = Utc::now().with_timezone(&jst);
    now.with_nanosecond(0).unwrap_or(now)
}

/// One rendered resource: a single JSON line (no trailing newline).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: &'static str,
    pub id: String,
    pub last_updated: Instant,
    pub json: Vec<u8>,
}

/// SplitMix64: tiny, fast and stable forever (unlike library RNGs whose streams may change
/// between versions), which keeps seeds reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15)))
    }
    /// An independent stream for one patient (and one purpose: `salt`).
    pub fn for_patient(seed: u64, index: u64, salt: u64) -> Self {
        Rng::new(mix(seed) ^ mix(index.wrapping_mul(0x2545_f491_4f6c_dd1d)) ^ mix(salt))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
    pub fn range(&mut self, lo: u64, hi_inclusive: u64) -> u64 {
        lo + self.below(hi_inclusive - lo + 1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Generate patient `index` of the hospital described by `cfg`.
pub fn patient(cfg: &SynthConfig, index: u64) -> PatientSpec {
    spec::generate(cfg, index)
}

/// The record the node must show for `spec` when synced at about `cfg.now` (the key is
/// left empty: it is opaque and assigned by the store).
pub fn truth(spec: &PatientSpec, now: Instant) -> PatientRecord {
    spec.truth(now)
}

/// Compare an actual record with the truth field by field, ignoring the opaque key and the
/// order of list items (both sides are sorted by item id). Returns one line per difference.
pub fn diff_records(actual: &PatientRecord, expected: &PatientRecord) -> Vec<String> {
    let mut a = actual.clone();
    let mut e = expected.clone();
    a.key = PatientKey(String::new());
    e.key = PatientKey(String::new());
    sort_record(&mut a);
    sort_record(&mut e);
    let mut out = Vec::new();
    if a.patient != e.patient {
        out.push(format!(
            "patient: got {:?}, want {:?}",
            a.patient, e.patient
        ));
    }
    fn cmp_list<T: PartialEq + std::fmt::Debug>(
        out: &mut Vec<String>,
        what: &str,
        a: &[T],
        e: &[T],
        id: impl Fn(&T) -> &str,
    ) {
        let am: BTreeMap<&str, &T> = a.iter().map(|x| (id(x), x)).collect();
        let em: BTreeMap<&str, &T> = e.iter().map(|x| (id(x), x)).collect();
        for (k, ev) in &em {
            match am.get(k) {
                None => out.push(format!("{what} {k}: missing, want {ev:?}")),
                Some(av) if av != ev => out.push(format!("{what} {k}: got {av:?}, want {ev:?}")),
                _ => {}
            }
        }
        for (k, av) in &am {
            if !em.contains_key(k) {
                out.push(format!("{what} {k}: unexpected {av:?}"));
            }
        }
        if am.len() != a.len() {
            out.push(format!("{what}: duplicate ids in actual record"));
        }
    }
    cmp_list(&mut out, "allergy", &a.allergies, &e.allergies, |x| &x.id);
    cmp_list(&mut out, "condition", &a.conditions, &e.conditions, |x| {
        &x.id
    });
    cmp_list(&mut out, "infection", &a.infections, &e.infections, |x| {
        &x.id
    });
    cmp_list(
        &mut out,
        "prescription",
        &a.prescriptions,
        &e.prescriptions,
        |x| &x.id,
    );
    cmp_list(
        &mut out,
        "administration",
        &a.administrations,
        &e.administrations,
        |x| &x.id,
    );
    cmp_list(&mut out, "lab", &a.labs, &e.labs, |x| &x.id);
    cmp_list(&mut out, "vital", &a.vitals, &e.vitals, |x| &x.id);
    cmp_list(&mut out, "flag", &a.flags, &e.flags, |x| &x.id);
    cmp_list(&mut out, "encounter", &a.encounters, &e.encounters, |x| {
        &x.id
    });
    cmp_list(&mut out, "document", &a.documents, &e.documents, |x| &x.id);
    out
}

/// Sort every list of a record by item id (the canonical order for comparisons).
pub fn sort_record(r: &mut PatientRecord) {
    r.allergies.sort_by(|a, b| a.id.cmp(&b.id));
    r.conditions.sort_by(|a, b| a.id.cmp(&b.id));
    r.infections.sort_by(|a, b| a.id.cmp(&b.id));
    r.prescriptions.sort_by(|a, b| a.id.cmp(&b.id));
    r.administrations.sort_by(|a, b| a.id.cmp(&b.id));
    r.labs.sort_by(|a, b| a.id.cmp(&b.id));
    r.vitals.sort_by(|a, b| a.id.cmp(&b.id));
    r.flags.sort_by(|a, b| a.id.cmp(&b.id));
    r.encounters.sort_by(|a, b| a.id.cmp(&b.id));
    r.documents.sort_by(|a, b| a.id.cmp(&b.id));
}

/// A whole hospital in memory (for tests and the test server; up to ~10k patients).
#[derive(Debug, Clone)]
pub struct Hospital {
    pub cfg: SynthConfig,
    pub patients: Vec<PatientSpec>,
}

impl Hospital {
    pub fn generate(cfg: SynthConfig) -> Self {
        let patients = (0..cfg.patients).map(|i| patient(&cfg, i)).collect();
        Hospital { cfg, patients }
    }

    /// Every resource of every patient.
    pub fn resources(&self) -> impl Iterator<Item = Resource> + '_ {
        self.patients
            .iter()
            .flat_map(|p| resources_of(p, &self.cfg))
    }

    /// The truth for every patient, keyed by hospital ID.
    pub fn truth(&self) -> BTreeMap<String, PatientRecord> {
        self.patients
            .iter()
            .map(|p| (p.hospital_id.clone(), p.truth(self.cfg.now)))
            .collect()
    }

    /// Apply a delta to every patient; returns the changes a source would deliver.
    pub fn apply_delta(&mut self, delta: &DeltaConfig) -> DeltaReport {
        let mut report = DeltaReport::default();
        for p in &mut self.patients {
            spec::apply_delta(p, &self.cfg, delta, &mut report);
        }
        report
    }
}

/// How to change an existing hospital: roughly `fraction` of resources are changed,
/// deleted or marked entered-in-error, and about a quarter as many are added.
#[derive(Debug, Clone)]
pub struct DeltaConfig {
    pub seed: u64,
    pub fraction: f64,
    /// `meta.lastUpdated` of everything the delta touches.
    pub at: Instant,
}

impl DeltaConfig {
    pub fn one_percent(seed: u64, at: Instant) -> Self {
        DeltaConfig {
            seed,
            fraction: 0.01,
            at,
        }
    }
}

/// One change a delta makes, as a source would deliver it.
#[derive(Debug, Clone, PartialEq)]
pub enum DeltaChange {
    Upsert(Resource),
    Delete {
        resource_type: &'static str,
        id: String,
    },
}

/// What a delta did.
#[derive(Debug, Clone, Default)]
pub struct DeltaReport {
    pub changes: Vec<DeltaChange>,
    pub changed: u64,
    pub added: u64,
    pub deleted: u64,
    pub entered_in_error: u64,
    /// (hospital ID, allergy id) of each deleted allergy.
    pub deleted_allergies: Vec<(String, String)>,
    /// Hospital IDs of the patients the delta touched.
    pub touched_patients: std::collections::BTreeSet<String>,
}

/// Statistics of an NDJSON export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteStats {
    pub patients: u64,
    pub resources: u64,
    pub bytes: u64,
    pub per_type: BTreeMap<String, u64>,
}

/// Stream the whole hospital to `dir` as one NDJSON file per resource type
/// (`<Type>.ndjson`), patient by patient, without holding the hospital in memory.
pub fn write_ndjson_dir(cfg: &SynthConfig, dir: &Path) -> std::io::Result<WriteStats> {
    write_ndjson_dir_with(cfg, dir, None)
}

/// Like [`write_ndjson_dir`], but writes the patients *after* `delta` was applied.
pub fn write_ndjson_dir_with(
    cfg: &SynthConfig,
    dir: &Path,
    delta: Option<&DeltaConfig>,
) -> std::io::Result<WriteStats> {
    use std::sync::atomic::{AtomicU64, Ordering};

    let render_block = |b: u64| Block::render(cfg, delta, b);
    std::fs::create_dir_all(dir)?;
    let mut files = Vec::new();
    for t in RESOURCE_TYPES {
        let f = std::fs::File::create(dir.join(format!("{t}.ndjson")))?;
        files.push(std::io::BufWriter::with_capacity(1 << 20, f));
    }
    let mut stats = WriteStats::default();
    let blocks = cfg.patients.div_ceil(BLOCK);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let next = AtomicU64::new(0);
    // Workers render blocks in parallel; this thread writes them in patient order, so
    // the output is identical whatever the number of threads.
    std::thread::scope(|s| -> std::io::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Block)>(workers * 2);
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let render_block = &render_block;
            s.spawn(move || loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= blocks || tx.send((b, render_block(b))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u64, Block> = BTreeMap::new();
        let mut expected = 0u64;
        for (b, block) in rx {
            pending.insert(b, block);
            while let Some(block) = pending.remove(&expected) {
                block.write(&mut files, &mut stats)?;
                expected += 1;
            }
        }
        Ok(())
    })?;
    for mut w in files {
        w.flush()?;
    }
    Ok(stats)
}

/// Patients rendered per work unit of [`write_ndjson_dir_with`].
const BLOCK: u64 = 256;

/// One block's NDJSON per resource type (index into [`RESOURCE_TYPES`]), plus counts.
struct Block {
    per_type: Vec<Vec<u8>>,
    counts: Vec<u64>,
    patients: u64,
}

impl Block {
    /// Render block `b` of the hospital (after `delta`, if given).
    fn render(cfg: &SynthConfig, delta: Option<&DeltaConfig>, b: u64) -> Block {
        let mut block = Block {
            per_type: vec![Vec::new(); RESOURCE_TYPES.len()],
            counts: vec![0; RESOURCE_TYPES.len()],
            patients: 0,
        };
        let mut scratch = DeltaReport::default();
        for i in b * BLOCK..((b + 1) * BLOCK).min(cfg.patients) {
            let mut p = patient(cfg, i);
            if let Some(d) = delta {
                spec::apply_delta(&mut p, cfg, d, &mut scratch);
                scratch.changes.clear();
            }
            block.patients += 1;
            for r in resources_of(&p, cfg) {
                let t = RESOURCE_TYPES
                    .iter()
                    .position(|t| *t == r.resource_type)
                    .unwrap_or(0);
                block.per_type[t].extend_from_slice(&r.json);
                block.per_type[t].push(b'\n');
                block.counts[t] += 1;
            }
        }
        block
    }

    /// Append the block to the per-type files and count it.
    fn write(
        &self,
        files: &mut [std::io::BufWriter<std::fs::File>],
        stats: &mut WriteStats,
    ) -> std::io::Result<()> {
        for (t, bytes) in self.per_type.iter().enumerate() {
            files[t].write_all(bytes)?;
            stats.bytes += bytes.len() as u64;
            stats.resources += self.counts[t];
            if self.counts[t] > 0 {
                *stats
                    .per_type
                    .entry(RESOURCE_TYPES[t].to_string())
                    .or_default() += self.counts[t];
            }
        }
        stats.patients += self.patients;
        Ok(())
    }
}

/// Write only the changes of `delta` (against the base hospital) to `dir`: upserts as
/// `<Type>.ndjson`, deletions as `deleted.ndjson` holding Bulk-style `Bundle`s of DELETE
/// entries. Streams patient by patient.
pub fn write_delta_ndjson_dir(
    cfg: &SynthConfig,
    delta: &DeltaConfig,
    dir: &Path,
) -> std::io::Result<DeltaReport> {
    std::fs::create_dir_all(dir)?;
    let mut files: BTreeMap<&str, std::io::BufWriter<std::fs::File>> = BTreeMap::new();
    let mut deleted = std::io::BufWriter::new(std::fs::File::create(dir.join("deleted.ndjson"))?);
    let mut total = DeltaReport::default();
    for i in 0..cfg.patients {
        let mut p = patient(cfg, i);
        spec::apply_delta(&mut p, cfg, delta, &mut total);
        for c in total.changes.drain(..) {
            match c {
                DeltaChange::Upsert(r) => {
                    if !files.contains_key(r.resource_type) {
                        let f =
                            std::fs::File::create(dir.join(format!("{}.ndjson", r.resource_type)))?;
                        files.insert(r.resource_type, std::io::BufWriter::new(f));
                    }
                    if let Some(w) = files.get_mut(r.resource_type) {
                        w.write_all(&r.json)?;
                        w.write_all(b"\n")?;
                    }
                }
                DeltaChange::Delete { resource_type, id } => {
                    let b = deletion_bundle(resource_type, &id, delta.at);
                    deleted.write_all(&b)?;
                    deleted.write_all(b"\n")?;
                }
            }
        }
    }
    for (_, mut w) in files {
        w.flush()?;
    }
    deleted.flush()?;
    Ok(total)
}

/// A Bulk Data style deletion record: a `transaction` Bundle with one DELETE entry.
pub fn deletion_bundle(resource_type: &str, id: &str, at: Instant) -> Vec<u8> {
    let v = serde_json::json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "meta": {"lastUpdated": render::dt(&at)},
        "entry": [{"request": {"method": "DELETE", "url": format!("{resource_type}/{id}")}}]
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: u64) -> SynthConfig {
        SynthConfig {
            patients: n,
            now: "2026-11-21T21:00:00+09:00".parse().unwrap(),
            ..SynthConfig::default()
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let a = Hospital::generate(cfg(50));
        let b = Hospital::generate(cfg(50));
        let ra: Vec<_> = a.resources().collect();
        let rb: Vec<_> = b.resources().collect();
        assert_eq!(ra, rb);
        let mut c = cfg(50);
        c.seed = 7;
        let rc: Vec<_> = Hospital::generate(c).resources().collect();
        assert_ne!(ra, rc);
    }

    #[test]
    fn ids_are_unique_per_type_and_resources_are_valid_json() {
        let h = Hospital::generate(cfg(300));
        let mut seen = std::collections::HashSet::new();
        for r in h.resources() {
            assert!(seen.insert((r.resource_type, r.id.clone())), "dup {}", r.id);
            let v: serde_json::Value = serde_json::from_slice(&r.json).unwrap();
            assert_eq!(v["resourceType"], r.resource_type);
            assert_eq!(v["id"], r.id.as_str());
            assert!(v["meta"]["lastUpdated"].is_string());
        }
    }

    #[test]
    fn a_large_hospital_has_wards_of_40_to_60_beds_in_rooms_of_1_to_4() {
        assert_eq!(spec::inpatient_count(40), 10);
        assert_eq!(spec::inpatient_count(10_000), 400);
        assert_eq!(spec::inpatient_count(100_000), 2_000);
        assert_eq!(spec::inpatient_count(1_000_000), 2_000);
        let mut wards = std::collections::BTreeMap::<String, Vec<(String, String)>>::new();
        for slot in 0..spec::inpatient_count(100_000) {
            let (w, r, b) = spec::bed_of(slot);
            wards.entry(w).or_default().push((r, b));
        }
        // The last ward may be partly filled; every full ward has 40–60 beds.
        let last = spec::bed_of(spec::inpatient_count(100_000) - 1).0;
        for (ward, beds) in &wards {
            assert!(
                beds.len() <= 60 && (beds.len() >= 40 || *ward == last),
                "{ward}: {}",
                beds.len()
            );
            let mut rooms = std::collections::BTreeMap::<&str, usize>::new();
            for (r, _) in beds {
                *rooms.entry(r).or_default() += 1;
            }
            assert!(rooms.values().all(|n| (1..=4).contains(n)), "{rooms:?}");
        }
        assert!((30..=50).contains(&wards.len()), "{}", wards.len());
    }

    #[test]
    fn hospital_has_inpatients_with_beds_variants_and_halfwidth_kana() {
        let h = Hospital::generate(cfg(400));
        let truth = h.truth();
        let inpatients = truth
            .values()
            .filter(|r| r.encounters.iter().any(|e| e.status == "in-progress"))
            .count();
        assert_eq!(inpatients as u64, spec::inpatient_count(400), "a quarter");
        assert_eq!(inpatients, 100);
        let mut beds = std::collections::BTreeMap::<String, Vec<(String, String)>>::new();
        for e in truth.values().flat_map(|r| r.encounters.iter()) {
            if let (Some(w), Some(r), Some(b)) = (&e.ward, &e.room, &e.bed) {
                beds.entry(w.clone())
                    .or_default()
                    .push((r.clone(), b.clone()));
            }
        }
        assert_eq!(beds.len(), 3, "{:?}", beds.keys());
        for (ward, mut b) in beds {
            let n = b.len();
            b.sort();
            b.dedup();
            assert_eq!(b.len(), n, "one patient per bed in {ward}");
        }
        let halfwidth = truth
            .values()
            .filter(|r| {
                r.patient
                    .name_kana
                    .as_deref()
                    .is_some_and(|k| k.chars().any(|c| ('\u{ff66}'..='\u{ff9f}').contains(&c)))
            })
            .count();
        assert!(halfwidth > 0);
        let variants = truth
            .values()
            .filter(|r| {
                r.patient
                    .name_kanji
                    .as_deref()
                    .is_some_and(|k| k.contains('髙') || k.contains('﨑') || k.contains('濱'))
            })
            .count();
        assert!(variants > 0);
        // Windows: everything in the truth's MAR is within 72 h.
        for r in truth.values() {
            for a in &r.administrations {
                assert!(h.cfg.now - a.time <= chrono::Duration::hours(RECENT_WINDOW_HOURS));
            }
        }
    }

    /// The MAR follows each prescription's timing: a once-daily drug is charted once a day
    /// (at its time of day), a three-times-daily one three times; never before the
    /// prescription started and never in the future.
    #[test]
    fn administrations_follow_the_prescription_timing() {
        let h = Hospital::generate(cfg(400));
        let now = h.cfg.now;
        let mut checked = std::collections::BTreeMap::<u32, usize>::new();
        for p in &h.patients {
            let inpatient = p.encounters.iter().any(|e| e.v.0.status == "in-progress");
            for rx in p.prescriptions.iter().map(|i| &i.v.m) {
                let timing = rx.timing.as_deref().unwrap_or("");
                let Some(per_day) = (1..=4u32).find(|n| timing.contains(&format!("1日{n}回")))
                else {
                    continue;
                };
                let times: Vec<_> = p
                    .administrations
                    .iter()
                    .map(|a| &a.v.m)
                    .filter(|a| a.prescription_id.as_deref() == Some(rx.id.as_str()))
                    .map(|a| a.time)
                    .collect();
                if !inpatient || rx.status != "active" || rx.as_needed {
                    assert!(times.is_empty(), "{}: {times:?}", rx.id);
                    continue;
                }
                let hours = spec::dose_hours(timing);
                assert_eq!(hours.len() as u32, per_day, "{timing}");
                for t in &times {
                    assert!(*t < now && Some(*t) >= rx.period_start, "{}: {t}", rx.id);
                    use chrono::Timelike;
                    assert!(hours.contains(&t.hour()), "{timing}: {t}");
                    let in_a_day = times
                        .iter()
                        .filter(|u| **u >= *t && **u - *t < chrono::Duration::hours(24))
                        .count();
                    assert!(in_a_day as u32 <= per_day, "{timing}: {times:?}");
                }
                // Started three days ago or more: every dose of the last two days is there.
                if rx
                    .period_start
                    .is_some_and(|s| now - s >= chrono::Duration::days(3))
                {
                    let recent = times
                        .iter()
                        .filter(|t| now - **t <= chrono::Duration::hours(48))
                        .count() as u32;
                    assert!(
                        (2 * per_day - 1..=2 * per_day).contains(&recent),
                        "{timing}: {recent} in 48 h: {times:?}"
                    );
                    *checked.entry(per_day).or_default() += 1;
                }
            }
        }
        assert!(
            checked.get(&1).is_some_and(|n| *n > 10) && checked.get(&3).is_some_and(|n| *n > 10),
            "{checked:?}"
        );
    }

    /// The README's demo hospital: its ward count is the one the generator makes for the
    /// demo's default number of patients.
    #[test]
    fn the_readme_states_the_demo_hospitals_ward_count() {
        let readme = include_str!("../../../README.md");
        let (patients, wards) = readme
            .split("patients in ")
            .next()
            .and_then(|before| before.rsplit(' ').nth(1))
            .zip(readme.split("patients in ").nth(1))
            .map(|(p, rest)| (p.replace(',', ""), rest.split(' ').next().unwrap_or("")))
            .expect("the README says how many patients in how many wards");
        let patients: u64 = patients.parse().unwrap();
        let counted: std::collections::BTreeSet<String> = (0..spec::inpatient_count(patients))
            .map(|slot| spec::bed_of(slot).0)
            .collect();
        assert_eq!(wards, counted.len().to_string(), "{counted:?}");
    }

    #[test]
    fn xss_knob_puts_payloads_in_names_and_documents() {
        let mut c = cfg(200);
        c.xss = true;
        let h = Hospital::generate(c);
        let all: Vec<u8> = h.resources().flat_map(|r| r.json).collect();
        let s = String::from_utf8(all).unwrap();
        assert!(s.contains("<script>"));
        assert!(s.contains("onerror="));
        let plain: Vec<u8> = Hospital::generate(cfg(200))
            .resources()
            .flat_map(|r| r.json)
            .collect();
        assert!(!String::from_utf8(plain).unwrap().contains("<script>"));
    }

    #[test]
    fn delta_changes_about_one_percent_and_updates_truth() {
        let mut h = Hospital::generate(cfg(1000));
        let before = h.truth();
        let total = h.resources().count() as f64;
        let at: Instant = "2026-11-21T21:05:00+09:00".parse().unwrap();
        let rep = h.apply_delta(&DeltaConfig::one_percent(1, at));
        let n = rep.changes.len() as f64;
        assert!(n > total * 0.005 && n < total * 0.03, "{n} of {total}");
        assert!(rep.deleted > 0 && rep.added > 0 && rep.entered_in_error > 0 && rep.changed > 0);
        assert!(!rep.deleted_allergies.is_empty());
        let after = h.truth();
        for (hid, aid) in &rep.deleted_allergies {
            assert!(before[hid].allergies.iter().any(|a| &a.id == aid));
            assert!(!after[hid].allergies.iter().any(|a| &a.id == aid));
        }
        let differing = before.iter().filter(|(k, v)| after[*k] != **v).count();
        assert!(differing > 0 && differing as u64 <= rep.touched_patients.len() as u64);
        for c in &rep.changes {
            if let DeltaChange::Upsert(r) = c {
                assert_eq!(r.last_updated, at);
            }
        }
    }

    #[test]
    fn streaming_writer_matches_in_memory_and_delta_writer_matches_apply() {
        let dir = tempfile::tempdir().unwrap();
        // Several blocks, rendered in parallel, must come out in patient order.
        let c = cfg(300);
        let stats = write_ndjson_dir(&c, dir.path()).unwrap();
        let h = Hospital::generate(c.clone());
        assert_eq!(stats.resources, h.resources().count() as u64);
        assert_eq!(stats.patients, 300);
        for t in RESOURCE_TYPES {
            let mut want = Vec::new();
            for r in h.resources().filter(|r| r.resource_type == *t) {
                want.extend_from_slice(&r.json);
                want.push(b'\n');
            }
            let got = std::fs::read(dir.path().join(format!("{t}.ndjson"))).unwrap();
            assert!(
                got == want,
                "{t}.ndjson differs from the in-memory hospital"
            );
        }

        let d = DeltaConfig::one_percent(3, "2026-11-21T21:05:00+09:00".parse().unwrap());
        let ddir = tempfile::tempdir().unwrap();
        let rep = write_delta_ndjson_dir(&c, &d, ddir.path()).unwrap();
        let mut h2 = h.clone();
        let rep2 = h2.apply_delta(&d);
        assert_eq!(rep.deleted, rep2.deleted);
        assert_eq!(rep.changed + rep.added, rep2.changed + rep2.added);
    }
}
