//! `akari-synth`: write a deterministic synthetic Japanese hospital as NDJSON files
//! (one file per resource type), optionally followed by a delta directory, or as an
//! SS-MIX2 storage (`--format ss-mix2`). Synthetic data only.

use std::path::PathBuf;
use std::process::ExitCode;

use akari_testkit::synth::ssmix2::{write_ssmix2_delta, write_ssmix2_tree, Ssmix2Delta};
use akari_testkit::synth::{self, DeltaConfig, SynthConfig};
use clap::{Parser, ValueEnum};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// FHIR R4 NDJSON, one `<Type>.ndjson` per resource type.
    Ndjson,
    /// SS-MIX2: `standard/`, `extended/` (vital signs), `transaction/` and
    /// `extended-transaction/` under `--out`, ISO-2022-JP, CR segment ends.
    #[value(name = "ss-mix2")]
    SsMix2,
}

#[derive(Parser, Debug)]
#[command(
    name = "akari-synth",
    about = "Write a synthetic Japanese hospital as FHIR R4 NDJSON or as an SS-MIX2 storage"
)]
struct Args {
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: Format,
    /// SS-MIX2: after writing, change 1 % of the patients in place as a storage gateway
    /// does (new `_1`, old renamed `_2`, deletions `_0`, cancels, transfers, journal).
    #[arg(long)]
    apply_delta: bool,
    /// Number of patients.
    #[arg(long, default_value_t = 2000)]
    patients: u64,
    /// Seed; the same seed and size always give the same hospital.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Clinical "now" (RFC 3339); defaults to the current time.
    #[arg(long)]
    now: Option<String>,
    /// Put XSS payloads into some names, allergies and documents.
    #[arg(long)]
    xss: bool,
    /// Also write a ~1 % delta (changes only, deletions in deleted.ndjson) to this directory.
    #[arg(long)]
    delta_out: Option<PathBuf>,
    /// Seed of the delta.
    #[arg(long, default_value_t = 1)]
    delta_seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let now = match args
        .now
        .as_deref()
        .map(chrono::DateTime::parse_from_rfc3339)
    {
        None => synth::jst_now(),
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("--now must be an RFC 3339 time such as 2026-11-21T09:00:00+09:00: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = SynthConfig {
        seed: args.seed,
        patients: args.patients,
        now,
        xss: args.xss,
        ..SynthConfig::default()
    };
    let started = std::time::Instant::now();
    if args.format == Format::SsMix2 {
        if args.delta_out.is_some() {
            eprintln!(
                "an SS-MIX2 storage changes in place: use --apply-delta instead of --delta-out"
            );
            return ExitCode::from(2);
        }
        return ssmix2(&cfg, &args, started);
    }
    if args.apply_delta {
        eprintln!("--apply-delta is for --format ss-mix2; NDJSON deltas go to --delta-out");
        return ExitCode::from(2);
    }
    match synth::write_ndjson_dir(&cfg, &args.out) {
        Ok(s) => eprintln!(
            "wrote {} patients, {} resources, {} bytes to {} in {:.1}s",
            s.patients,
            s.resources,
            s.bytes,
            args.out.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("could not write to {}: {e}", args.out.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(dir) = args.delta_out {
        let d = DeltaConfig::one_percent(args.delta_seed, synth::jst_now());
        match synth::write_delta_ndjson_dir(&cfg, &d, &dir) {
            Ok(r) => eprintln!(
                "delta: {} changed, {} added, {} deleted, {} entered-in-error → {}",
                r.changed,
                r.added,
                r.deleted,
                r.entered_in_error,
                dir.display()
            ),
            Err(e) => {
                eprintln!("could not write the delta to {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn ssmix2(cfg: &SynthConfig, args: &Args, started: std::time::Instant) -> ExitCode {
    match write_ssmix2_tree(cfg, &args.out) {
        Ok(s) => eprintln!(
            "wrote {} patients as SS-MIX2: {} message files, {} bytes under {} in {:.1}s",
            s.patients,
            s.files,
            s.bytes,
            args.out.display(),
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!(
                "could not write the SS-MIX2 storage to {}: {e}",
                args.out.display()
            );
            return ExitCode::FAILURE;
        }
    }
    if args.apply_delta {
        let d = Ssmix2Delta::one_percent(args.delta_seed, synth::jst_now());
        match write_ssmix2_delta(cfg, &d, &args.out) {
            Ok(r) => eprintln!(
                "delta: {} patients changed, {} files written, {} renamed",
                r.patients.len(),
                r.written,
                r.renamed
            ),
            Err(e) => {
                eprintln!("could not change the SS-MIX2 storage: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
