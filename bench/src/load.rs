//! Load generator: the patient page over real TLS against a `node` child process.
//!
//! Each virtual clinician has its own reqwest client (its own TLS 1.3 connection, the
//! node's certificate as the only trusted root) and its own sealed-account session.
//! Two phases: *closed loop* (every client asks again as soon as it has its page: the
//! node's saturation throughput, where latency ≈ clients / throughput) and *paced*
//! (each client asks for one page every `interval`, latency measured from the scheduled
//! send time so a stalled node is not hidden — the load 200 clinicians actually make).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::node::{CERT, KEYS};
use crate::stats::{loadavg, pct_ms, process_cpu, rss_kb};
use crate::BenchError;

fn csrf(body: &str) -> Result<String, BenchError> {
    let at = body
        .find("name=\"csrf\" value=\"")
        .ok_or_else(|| BenchError::Setup("no CSRF field in the form".into()))?;
    let rest = &body[at + 19..];
    Ok(rest[..rest.find('"').unwrap_or(0)].to_owned())
}

fn session_cookie(r: &reqwest::Response) -> Result<String, BenchError> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-akari="))
        .map(|v| v.split(';').next().unwrap_or_default().to_owned())
        .ok_or_else(|| {
            BenchError::Setup(format!(
                "no session cookie from {} (status {})",
                r.url().path(),
                r.status()
            ))
        })
}

struct Clinician {
    http: reqwest::Client,
    cookie: String,
    base: String,
}

fn client(cert: &reqwest::Certificate) -> Result<reqwest::Client, BenchError> {
    Ok(reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

impl Clinician {
    async fn log_in(
        http: reqwest::Client,
        base: &str,
        account: &str,
        credential: &str,
    ) -> Result<Clinician, BenchError> {
        let r = http.get(format!("{base}/login")).send().await?;
        let cookie = session_cookie(&r)?;
        let token = csrf(&r.text().await?)?;
        let r = http
            .post(format!("{base}/login"))
            .header("cookie", &cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("account_id", account),
                ("credential", credential),
            ])
            .send()
            .await?;
        let cookie = session_cookie(&r)?;
        let r = http
            .get(format!("{base}/declare"))
            .header("cookie", &cookie)
            .send()
            .await?;
        let token = csrf(&r.text().await?)?;
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
            .await?;
        let cookie = session_cookie(&r)?;
        Ok(Clinician {
            http,
            cookie,
            base: base.to_owned(),
        })
    }

    async fn get(&self, path: &str) -> Result<usize, BenchError> {
        Ok(self.body(path).await?.len())
    }

    async fn body(&self, path: &str) -> Result<Vec<u8>, BenchError> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(BenchError::Setup(format!("{path}: HTTP {}", r.status())));
        }
        Ok(r.bytes().await?.to_vec())
    }
}

impl Clinician {
    /// The search form is a POST with the session's CSRF token.
    async fn search(&self, q: &str) -> Result<usize, BenchError> {
        let form = self
            .http
            .get(format!("{}/search", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await?
            .text()
            .await?;
        let token = csrf(&form)?;
        let r = self
            .http
            .post(format!("{}/search", self.base))
            .header("cookie", &self.cookie)
            .form(&[("csrf", token.as_str()), ("q", q)])
            .send()
            .await?;
        if !r.status().is_success() {
            return Err(BenchError::Setup(format!("search: HTTP {}", r.status())));
        }
        Ok(r.bytes().await?.len())
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Kills the node child if the run stops early (it is our own child, by its pid).
struct NodeChild(Child);

impl Drop for NodeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn row(name: &str, lat: &mut [Duration], wall: Duration, cpu: Duration) {
    lat.sort();
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} |",
        lat.len(),
        pct_ms(lat, 0.50),
        pct_ms(lat, 0.90),
        pct_ms(lat, 0.99),
        pct_ms(lat, 1.0),
        lat.len() as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / lat.len().max(1) as f64
    );
}

/// The pages benchmark: start the node, time its cold start, measure page sizes, run the
/// closed-loop and paced phases and print the report (one function of ~90 lines so the
/// phases and their timings read in order).
pub fn run(
    data: &Path,
    clients: usize,
    requests: usize,
    interval_ms: u64,
    paced_secs: u64,
) -> Result<(), BenchError> {
    if clients == 0 || interval_ms == 0 {
        return Err(BenchError::Setup(
            "--clients and --interval-ms must be at least 1".into(),
        ));
    }
    let started = Instant::now();
    let mut node = Node::start(data, started)?;
    let (cert, keys) = trust_and_keys(data)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::Setup(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        // Cold start: process spawn → first page served (the login page) → first
        // patient page (after sealed login and declaration).
        let first = client(&cert)?;
        first
            .get(format!("{}/login", node.base))
            .send()
            .await?
            .error_for_status()?;
        let first_page = started.elapsed();
        let one = node.log_in(first).await?;
        one.get(&format!("/patients/{}", keys[0])).await?;
        let first_patient = started.elapsed();
        let sizes = PageSizes::measure(&one, &keys, &node.ward, data).await?;

        let mut logged_in = Vec::with_capacity(clients);
        for _ in 0..clients {
            logged_in.push(Arc::new(node.log_in(client(&cert)?).await?));
        }
        let keys = Arc::new(keys);

        // Closed loop. The node's CPU per page: its user + system time over the phase
        // (TLS, handler, audit append, everything the process does) / pages served.
        let node_pid: i32 = node.pid.parse().unwrap_or(0);
        let cpu0 = process_cpu(node_pid);
        let t = Instant::now();
        let mut closed = closed_loop(&logged_in, &keys, requests).await?;
        let closed_wall = t.elapsed();
        let closed_cpu = process_cpu(node_pid) - cpu0;
        let load_closed = loadavg();
        let cpu1 = process_cpu(node_pid);
        let interval = Duration::from_millis(interval_ms);
        let mut paced = paced(&logged_in, &keys, interval, paced_secs).await?;
        let paced_cpu = process_cpu(node_pid) - cpu1;
        let (hwm, rss_end) = rss_kb(&node.pid);

        println!(
            "### Patient page over TLS ({clients} clients, {} inpatients' pages)\n",
            keys.len()
        );
        node.print_start(first_page, first_patient, load_closed, rss_end, hwm);
        println!(
            "| phase | requests | p50 ms | p90 ms | p99 ms | max ms | req/s | node CPU µs/page |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        row(
            &format!("closed loop ({clients} clients, no think time)"),
            &mut closed,
            closed_wall,
            closed_cpu,
        );
        row(
            &format!(
                "paced ({clients} clients, 1 page / client / {interval_ms} ms, {paced_secs} s)"
            ),
            &mut paced,
            Duration::from_secs(paced_secs),
            paced_cpu,
        );
        sizes.print(keys.len());
        Ok::<(), BenchError>(())
    })?;
    // Closing the node's standard input ends it; Drop waits for it.
    drop(node.child.0.stdin.take());
    let _ = node.child.0.wait();
    let path = data.join(crate::node::AUDIT_LATENCY);
    if let Ok(line) = std::fs::read_to_string(&path) {
        println!("Durable audit appends in the node (the wait before any page shows data), whole run: {line}.\n");
    }
    Ok(())
}

/// The `node` child process, once it serves, and what its ready line said.
struct Node {
    child: NodeChild,
    pid: String,
    base: String,
    account: String,
    credential: String,
    /// The ward with the most beds.
    ward: String,
    /// Snapshot open and index build, as the node measured it.
    index_ms: serde_json::Value,
    /// From spawn to the ready line.
    listening: Duration,
    /// RSS when it started serving.
    rss_idle: Option<u64>,
}

impl Node {
    /// Spawn `akari-bench node --data DATA` and wait for its ready line.
    fn start(data: &Path, started: Instant) -> Result<Node, BenchError> {
        let exe =
            std::env::current_exe().map_err(|e| BenchError::Setup(format!("own path: {e}")))?;
        let mut child = NodeChild(
            Command::new(exe)
                .args(["node", "--data"])
                .arg(data)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| BenchError::Setup(format!("starting the node process: {e}")))?,
        );
        let pid = child.0.id().to_string();
        let stdout = child
            .0
            .stdout
            .take()
            .ok_or_else(|| BenchError::Setup("no node stdout".into()))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| BenchError::Setup(format!("reading the node's ready line: {e}")))?;
        let listening = started.elapsed();
        let ready: serde_json::Value = serde_json::from_str(&line).map_err(|_| {
            BenchError::Setup("the node exited before serving (see its error above)".into())
        })?;
        let (_, rss_idle) = rss_kb(&pid);
        let text = |k: &str| ready[k].as_str().unwrap_or_default().to_owned();
        Ok(Node {
            base: format!(
                "https://127.0.0.1:{}",
                ready["port"].as_u64().unwrap_or_default()
            ),
            account: text("account"),
            credential: text("credential"),
            ward: text("ward"),
            index_ms: ready["index_ms"].clone(),
            child,
            pid,
            listening,
            rss_idle,
        })
    }

    /// The node's start-up and memory figures.
    fn print_start(
        &self,
        first_page: Duration,
        first_patient: Duration,
        load_closed: String,
        rss_end: Option<u64>,
        hwm: Option<u64>,
    ) {
        let mb = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0));
        println!(
            "Node process: listening {:.2} s after spawn (snapshot open + index build {} ms); \
             cold start to first served page (login) {:.2} s, to first patient page \
             (after sealed login + declaration) {:.2} s. RSS when serving {} MB, at the end {} MB, \
             peak (VmHWM) {} MB. Load average: {} after the closed loop, {} at the end.\n",
            self.listening.as_secs_f64(),
            self.index_ms,
            first_page.as_secs_f64(),
            first_patient.as_secs_f64(),
            mb(self.rss_idle),
            mb(rss_end),
            mb(hwm),
            load_closed,
            loadavg()
        );
    }

    /// A clinician logged in with the node's sealed account, on its own client.
    async fn log_in(&self, http: reqwest::Client) -> Result<Clinician, BenchError> {
        Clinician::log_in(http, &self.base, &self.account, &self.credential).await
    }
}

/// The node's certificate (the only root the clients trust) and the inpatients' keys.
fn trust_and_keys(data: &Path) -> Result<(reqwest::Certificate, Vec<String>), BenchError> {
    let cert_path = data.join(CERT);
    let pem = std::fs::read(&cert_path).map_err(|e| BenchError::io(&cert_path, e))?;
    let cert = reqwest::Certificate::from_pem(&pem)?;
    let keys_path = data.join(KEYS);
    let keys: Vec<String> = std::fs::read_to_string(&keys_path)
        .map_err(|e| BenchError::io(&keys_path, e))?
        .lines()
        .map(str::to_owned)
        .collect();
    if keys.is_empty() {
        return Err(BenchError::Setup(
            "the snapshot has no inpatients to read".into(),
        ));
    }
    Ok((cert, keys))
}

/// Page sizes: the heaviest inpatient's summary (all of them), a search that hits the
/// page's row cap, the largest ward's census and its whole-ward print job.
struct PageSizes {
    largest: usize,
    search_page: usize,
    result_page: usize,
    census_page: usize,
    print_page: usize,
    print_patients: usize,
    print_times: Vec<Duration>,
}

/// Timed whole-ward print jobs.
const PRINT_SAMPLES: usize = 20;

impl PageSizes {
    async fn measure(
        one: &Clinician,
        keys: &[String],
        ward: &str,
        data: &Path,
    ) -> Result<PageSizes, BenchError> {
        let mut largest = 0;
        for key in keys.iter() {
            largest = largest.max(one.get(&format!("/patients/{key}")).await?);
        }
        let search_page = one.get("/search").await?;
        let result_page = one.search("タナカ").await?;
        let census_page = one.get(&format!("/wards/{}", encode(ward))).await?;
        // Kept beside the snapshot for inspection (synthetic data only).
        let print = one.body(&format!("/wards/{}/print", encode(ward))).await?;
        // The whole-ward print job, timed (one client, keep-alive: the node's time plus a
        // loopback round trip).
        let mut print_times = Vec::with_capacity(PRINT_SAMPLES);
        for _ in 0..PRINT_SAMPLES {
            let t = Instant::now();
            one.body(&format!("/wards/{}/print", encode(ward))).await?;
            print_times.push(t.elapsed());
        }
        let print_path = data.join("ward-print.html");
        std::fs::write(&print_path, &print).map_err(|e| BenchError::io(&print_path, e))?;
        Ok(PageSizes {
            largest,
            search_page,
            result_page,
            census_page,
            print_page: print.len(),
            print_patients: String::from_utf8_lossy(&print)
                .matches("class=\"patient-name\"")
                .count(),
            print_times,
        })
    }

    fn print(&self, inpatients: usize) {
        println!("\n| page | bytes |\n|---|---|");
        println!(
            "| patient summary (largest of all {inpatients} inpatients) | {} |",
            self.largest
        );
        println!("| search form | {} |", self.search_page);
        println!(
            "| search results (タナカ, at the page's row cap) | {} |",
            self.result_page
        );
        println!("| ward census (largest ward) | {} |", self.census_page);
        println!(
            "| ward print, whole largest ward in one job | {} |",
            self.print_page
        );
        let mut times = self.print_times.clone();
        times.sort();
        println!(
            "\nWard print of the largest ward ({} patients) in one job, {PRINT_SAMPLES} jobs one \
             after another on one keep-alive TLS connection: p50 {:.1} ms, p99 {:.1} ms.",
            self.print_patients,
            pct_ms(&times, 0.5),
            pct_ms(&times, 0.99)
        );
        println!();
    }
}

/// Closed loop: every client asks for its next patient page as soon as it has one.
async fn closed_loop(
    logged_in: &[Arc<Clinician>],
    keys: &Arc<Vec<String>>,
    requests: usize,
) -> Result<Vec<Duration>, BenchError> {
    let mut tasks = Vec::new();
    for (c, clinician) in logged_in.iter().enumerate() {
        let (clinician, keys) = (clinician.clone(), keys.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(requests);
            for i in 0..requests {
                let key = &keys[(c * 7919 + i * 104_729) % keys.len()];
                let s = Instant::now();
                clinician.get(&format!("/patients/{key}")).await?;
                lat.push(s.elapsed());
            }
            Ok::<_, BenchError>(lat)
        }));
    }
    let mut closed = Vec::new();
    for task in tasks {
        closed.extend(task.await.map_err(|e| BenchError::Setup(e.to_string()))??);
    }
    Ok(closed)
}

/// Paced: one page per client per `interval` for `paced_secs`, sends spread evenly over
/// the interval; latency from the scheduled send time.
async fn paced(
    logged_in: &[Arc<Clinician>],
    keys: &Arc<Vec<String>>,
    interval: Duration,
    paced_secs: u64,
) -> Result<Vec<Duration>, BenchError> {
    let clients = logged_in.len();
    let t0 = tokio::time::Instant::now() + Duration::from_millis(100);
    let end = t0 + Duration::from_secs(paced_secs);
    let mut tasks = Vec::new();
    for (c, clinician) in logged_in.iter().enumerate() {
        let (clinician, keys) = (clinician.clone(), keys.clone());
        let offset = interval * c as u32 / clients as u32;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = 0u32;
            loop {
                let scheduled = t0 + offset + interval * i;
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled).await;
                let key = &keys[(c * 7919 + i as usize * 104_729 + 31) % keys.len()];
                clinician.get(&format!("/patients/{key}")).await?;
                lat.push(scheduled.elapsed());
                i += 1;
            }
            Ok::<_, BenchError>(lat)
        }));
    }
    let mut paced = Vec::new();
    for task in tasks {
        paced.extend(task.await.map_err(|e| BenchError::Setup(e.to_string()))??);
    }
    Ok(paced)
}
