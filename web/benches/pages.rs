//! Pages benchmark: the patient summary under load, over TLS, from a real snapshot.
//!
//! Builds a snapshot of N synthetic patients (testkit NDJSON → sync engine), serves the
//! node's router over TLS 1.3 on 127.0.0.1, logs C clients in (each its own TLS
//! connection and session), and has them read inpatients' summaries concurrently.
//! Reports latency percentiles as each client sees them, the size of every page kind, and
//! the time the largest ward's MAR packet takes as a PDF through the real handler.
//!
//! Run: `cargo bench -p akari-web --bench pages -- [patients] [clients] [requests-per-client]`
//! (defaults 100000 200 50). Temporary files go under $TMPDIR.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use akari_sync::engine::CancellationToken;
use akari_sync::source::NdjsonDirSource;
use akari_sync::SnapshotReader;
use akari_testkit::synth::{self, SynthConfig};
use akari_web::pages::{Pages, PagesConfig};

fn csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field");
    let rest = &body[at + 19..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-akari="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// One virtual clinician: its own client (TLS connection) and session.
struct Clinician {
    http: reqwest::Client,
    cookie: String,
    base: String,
}

impl Clinician {
    async fn log_in(base: &str, account: &str, credential: &str) -> Clinician {
        // The benchmark measures latency; the certificate is the one we just generated.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http.get(format!("{base}/login")).send().await.unwrap();
        let mut cookie = session_cookie(&r).unwrap();
        let token = csrf(&r.text().await.unwrap());
        let r = http
            .post(format!("{base}/login"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("account_id", account),
                ("credential", credential),
            ])
            .send()
            .await
            .unwrap();
        cookie = session_cookie(&r).expect("login succeeded");
        let r = http
            .get(format!("{base}/declare"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let token = csrf(&r.text().await.unwrap());
        let r = http
            .post(format!("{base}/declare"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("name", "負荷 試験"),
                ("staff_number", "B-1"),
                ("profession", "看護師"),
                ("department", "ベンチ"),
                ("reason", "drill"),
            ])
            .send()
            .await
            .unwrap();
        cookie = session_cookie(&r).expect("declared");
        Clinician {
            http,
            cookie,
            base: base.to_owned(),
        }
    }

    async fn get(&self, path: &str) -> (Duration, usize) {
        let t = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let body = r.bytes().await.unwrap();
        (t.elapsed(), body.len())
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let patients = args.first().copied().unwrap_or(100_000);
    let clients = args.get(1).copied().unwrap_or(200) as usize;
    let per_client = args.get(2).copied().unwrap_or(50) as usize;

    let tmp = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let cfg = SynthConfig {
        patients,
        ..SynthConfig::default()
    };
    synth::write_ndjson_dir(&cfg, &tmp.path().join("ndjson")).unwrap();
    let store =
        akari_sync::Store::open(&tmp.path().join("snapshot.redb"), Default::default()).unwrap();
    let config = akari_sync::Config::default();
    let reader = SnapshotReader::open(store.clone(), config.windows).unwrap();
    akari_sync::Engine::new(
        store,
        Arc::new(NdjsonDirSource::new(tmp.path().join("ndjson"))),
        config,
    )
    .with_reader(reader.clone())
    .sync_now(true, &CancellationToken::new())
    .unwrap();
    eprintln!(
        "snapshot of {} patients ready in {:.1} s",
        reader.patient_count(),
        t.elapsed().as_secs_f64()
    );
    let census = reader.census().expect("census");
    let keys: Vec<String> = census
        .iter()
        .flat_map(|w| w.beds.iter().map(|b| b.patient.key.0.clone()))
        .collect();
    let biggest_ward = census.iter().max_by_key(|w| w.beds.len()).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The real accounts service and a durable (fsynced) ledger file: every page read
        // below waits for its audit entry, as in production.
        let node = common::node("https://localhost", Some(&tmp.path().join("ledger.redb")));
        let (account, credential) = (node.account_id.clone(), node.credential.clone());
        let pages = Pages::new(
            Arc::new(reader.clone()),
            node.ledger.clone(),
            node.accounts.clone(),
            PagesConfig::default(),
        );
        let (addr, _) = common::serve(pages).await;
        let base = format!("https://127.0.0.1:{}", addr.port());

        // Page sizes: every page kind, the biggest ward for census and print.
        let one = Clinician::log_in(&base, &account, &credential).await;
        let mut sizes = Vec::new();
        let mut largest_patient = 0;
        for key in keys.iter().take(2000) {
            largest_patient = largest_patient.max(one.get(&format!("/patients/{key}")).await.1);
        }
        sizes.push((
            "patient summary (largest of 2,000 inpatients)",
            largest_patient,
        ));
        sizes.push(("search form", one.get("/search").await.1));
        let ward = encode(&biggest_ward.ward);
        sizes.push((
            "ward census (largest ward)",
            one.get(&format!("/wards/{ward}")).await.1,
        ));
        sizes.push((
            "ward print, whole ward in one job (largest ward)",
            one.get(&format!("/wards/{ward}/print")).await.1,
        ));
        // The ward MAR packet as the node's PDF through the real handler (session check,
        // audit entry, read, layout, font subset), five runs on the largest ward.
        let mut packet_runs = Vec::new();
        let mut packet_bytes = 0;
        for _ in 0..5 {
            let (took, bytes) = one.get(&format!("/wards/{ward}/mar.pdf")).await;
            packet_runs.push(took);
            packet_bytes = bytes;
        }
        packet_runs.sort();
        sizes.push(("ward MAR packet PDF (largest ward)", packet_bytes));

        let mut logged_in = Vec::new();
        for _ in 0..clients {
            logged_in.push(Clinician::log_in(&base, &account, &credential).await);
        }
        let keys = Arc::new(keys);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (c, clinician) in logged_in.into_iter().enumerate() {
            let keys = keys.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let key = &keys[(c * 7919 + i * 104_729) % keys.len()];
                    lat.push(clinician.get(&format!("/patients/{key}")).await.0);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let wall = start.elapsed();
        all.sort();
        println!("| patients | clients | requests | p50 ms | p90 ms | p99 ms | max ms | req/s |");
        println!("|---|---|---|---|---|---|---|---|");
        println!(
            "| {} | {clients} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |",
            reader.patient_count(),
            all.len(),
            pct(&all, 0.50),
            pct(&all, 0.90),
            pct(&all, 0.99),
            pct(&all, 1.0),
            all.len() as f64 / wall.as_secs_f64()
        );
        println!();
        println!("| page | bytes |");
        println!("|---|---|");
        for (name, bytes) in sizes {
            println!("| {name} | {bytes} |");
        }
        println!(
            "\nward MAR packet PDF, {} beds, 5 runs: min {:.0} ms, median {:.0} ms, max {:.0} ms",
            biggest_ward.beds.len(),
            pct(&packet_runs, 0.0),
            pct(&packet_runs, 0.5),
            pct(&packet_runs, 1.0)
        );
        println!(
            "\n(largest ward: {} beds; inpatients: {})",
            biggest_ward.beds.len(),
            keys.len()
        );
    });
}
