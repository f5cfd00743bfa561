//! akari-bench: the performance suite, run by `scripts/perf-suite.sh`.
//!
//! Subcommands (all in the release profile; see docs/benchmarks.md for figures):
//! - `search`: search latency at N patients, Akari's in-memory index side by side with
//!   the same patients in PostgreSQL (JSONB + pg_trgm GIN), same queries, same run.
//! - `prepare`: build a full snapshot (all resource types) of N synthetic patients.
//! - `node`: serve a prepared snapshot over TLS 1.3 with the real accounts service and a
//!   durable audit ledger (the process whose cold start and peak RSS are measured).
//! - `pages`: start `node` as a child process, measure cold start to first served page,
//!   drive 200 concurrent TLS clients at the patient page, read the node's peak RSS.

mod error;
mod kana;
mod load;
mod node;
mod pg;
mod search;
mod stats;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use error::BenchError;

#[derive(Parser)]
#[command(
    name = "akari-bench",
    about = "Akari performance suite (not part of CI)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Search p50/p99: Akari's index and, with --pg, PostgreSQL JSONB + pg_trgm.
    Search {
        /// Number of synthetic patients.
        #[arg(long)]
        patients: u64,
        /// Work directory (NDJSON and the search-only snapshot go there; removed after).
        #[arg(long)]
        work: PathBuf,
        /// PostgreSQL connection string (e.g. "host=127.0.0.1 port=5433 user=akari
        /// dbname=akari"); without it only Akari is measured.
        #[arg(long)]
        pg: Option<String>,
        /// Sample patients the queries are made from (10 query forms each).
        #[arg(long, default_value_t = 100)]
        samples: u64,
        /// Timed passes over the query set (after one warm-up pass).
        #[arg(long, default_value_t = 3)]
        passes: usize,
    },
    /// Build a full snapshot of N patients into DIR/snapshot.redb (kept for `pages`).
    Prepare {
        #[arg(long)]
        patients: u64,
        #[arg(long)]
        data: PathBuf,
    },
    /// Serve DIR/snapshot.redb over TLS on 127.0.0.1:0 until standard input closes.
    Node {
        #[arg(long)]
        data: PathBuf,
    },
    /// Patient page under load over TLS against a `node` child process.
    Pages {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 200)]
        clients: usize,
        /// Requests per client in the closed-loop (saturation) phase.
        #[arg(long, default_value_t = 25)]
        requests: usize,
        /// Paced phase: each client asks for one page every this many milliseconds.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Paced phase length in seconds.
        #[arg(long, default_value_t = 30)]
        paced_secs: u64,
    },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search {
            patients,
            work,
            pg,
            samples,
            passes,
        } => search::run(patients, &work, pg.as_deref(), samples, passes),
        Command::Prepare { patients, data } => node::prepare(patients, &data),
        Command::Node { data } => node::serve_until_stdin_closes(&data),
        Command::Pages {
            data,
            clients,
            requests,
            interval_ms,
            paced_secs,
        } => load::run(&data, clients, requests, interval_ms, paced_secs),
    };
    if let Err(e) = result {
        eprintln!("akari-bench: {e}");
        std::process::exit(1);
    }
}
