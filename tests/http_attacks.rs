//! Attacks on the node's HTTPS face, each run against the real `akari` binary on loopback:
//! idle sockets past the open-file limit, a client that never starts its handshake, an
//! open redirect through the language toggle, and the client address in the audit trail.

mod common;
#[path = "drill_common/web.rs"]
#[allow(dead_code)]
mod web;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use web::Web;

const BIN: &str = env!("CARGO_BIN_EXE_akari");
/// Guards against a hang: a step that has not finished by then has failed.
const DEADLINE: Duration = Duration::from_secs(120);

/// `akari` with this test's environment only.
fn akari() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("AKARI_") {
            command.env_remove(name);
        }
    }
    command.env("AKARI_LOG", "warn");
    command
}

fn run(data: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let mut child = akari()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "akari {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// A stopped node's data directory: `akari init`, cheap password hashing, `server`
/// settings of the test, and (with `account`) a sealed account and a drill under way.
struct Data {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// Account ID and credential from the seal sheet.
    account: Option<(String, String)>,
}

impl Data {
    fn new(server_settings: &str, account: bool) -> Data {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let out = run(&path, &["init"], None);
        let lines: Vec<&str> = out.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("RECOVERY KEY"))
            .unwrap_or_else(|| panic!("no recovery key printed: {out}"));
        let recovery = lines[at + 2].trim().to_owned();
        std::fs::write(
            path.join("akari.toml"),
            format!(
                "[server]\n{server_settings}\n\n\
                 [accounts.argon2]\nmemory_kib = 256\niterations = 1\nparallelism = 1\n"
            ),
        )
        .unwrap();
        let account = account.then(|| {
            let sheet = run(
                &path,
                &["account", "provision", "--label", "ER-1"],
                Some(&format!("{recovery}\n")),
            );
            run(&path, &["mode", "start-drill", "--reason", "drill"], None);
            (field(&sheet, "Account ID"), field(&sheet, "Credential"))
        });
        Data {
            _dir: dir,
            path,
            account,
        }
    }

    fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_file(self.path.join("tls/cert.pem")).unwrap()
    }
}

/// `Label : value` on a printed seal sheet.
fn field(sheet: &str, english: &str) -> String {
    sheet
        .lines()
        .find(|l| l.contains(english) && l.contains(':'))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no `{english}` on the seal sheet:\n{sheet}"))
}

/// `akari serve` in its own process, started by `sh` after `ulimit` (e.g. `-n 1024`, the
/// limit services often start with). Killed when dropped.
struct Node {
    child: Child,
    https: SocketAddr,
}

impl Node {
    fn serve(data: &Data, ulimit: &str) -> Node {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit {ulimit} && exec \"$0\" \"$@\""))
            .arg(BIN)
            .arg("serve")
            .arg("--data-dir")
            .arg(&data.path)
            .args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"])
            .env("AKARI_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (name, _) in std::env::vars() {
            if name.starts_with("AKARI_") && name != "AKARI_LOG" {
                command.env_remove(name);
            }
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("is serving https://").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('/').parse::<SocketAddr>());
                }
            }
        });
        let https = match rx.recv_timeout(DEADLINE) {
            Ok(Ok(addr)) => addr,
            other => {
                let _ = child.kill();
                panic!("no serve banner from akari: {other:?}")
            }
        };
        Node { child, https }
    }

    /// The node's open-file limits (soft, hard) as the kernel reports them.
    fn fd_limits(&self) -> (u64, u64) {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id())).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (numbers[0], numbers[1])
    }

    /// SIGTERM, then wait for a clean exit.
    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the node stopped with {status}");
                return;
            }
            assert!(started.elapsed() < DEADLINE, "the node did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Logs in with the seal sheet, declares, and reads the search page.
async fn clinician_reads_a_page(web: &Web, account_id: &str, credential: &str) {
    let form = web.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let declare = web
        .post(
            "/login",
            &[
                ("csrf", csrf.as_str()),
                ("account_id", account_id),
                ("credential", credential),
            ],
        )
        .await;
    assert_eq!(declare.path, "/declare", "{}", declare.body);
    let csrf = declare.csrf();
    let search = web
        .post(
            "/declare",
            &[
                ("csrf", csrf.as_str()),
                ("name", "灯 花子"),
                ("staff_number", "N-1"),
                ("profession", "看護師"),
                ("department", "救急外来"),
                ("reason", "drill"),
            ],
        )
        .await;
    assert_eq!(search.status, StatusCode::OK, "{}", search.body);
    let page = web.get("/search").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<form"), "the search page is served");
}

fn tls_connector(cert: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let config = common::tls_client_config(std::slice::from_ref(cert), &[&rustls::version::TLS13]);
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

const HELD: usize = 1_100;
/// The attacker's connections are opened this many at a time.
const BATCH: usize = 100;

/// An attacker's idle connection: TLS completed, then no request, ever. `None` where the
/// node did not complete the handshake within a few seconds (it ran out of descriptors).
async fn idle_tls(
    connector: &tokio_rustls::TlsConnector,
    addr: SocketAddr,
) -> Option<tokio_rustls::client::TlsStream<TcpStream>> {
    tokio::time::timeout(Duration::from_secs(5), async {
        let tcp = TcpStream::connect(addr).await.ok()?;
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .ok()
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_hundred_idle_connections_under_a_1024_file_limit_do_not_keep_a_clinician_out() {
    // This test holds the attacker's sockets itself: make room for them.
    akari::connections::raise_fd_limit().unwrap();
    // Timeouts far longer than the test: only the cap and its reserve can defend.
    let data = Data::new(
        "handshake_timeout_secs = 300\nheader_read_timeout_secs = 300\nidle_timeout_secs = 3600",
        true,
    );
    // Soft and hard limit 1,024: the node cannot raise it.
    let node = Node::serve(&data, "-n 1024");
    assert_eq!(node.fd_limits(), (1024, 1024));
    let cert = data.cert();
    let connector = tls_connector(&cert);

    let mut held = Vec::with_capacity(HELD);
    for _ in 0..HELD / BATCH {
        let batch = (0..BATCH).map(|_| idle_tls(&connector, node.https));
        held.extend(futures_util::future::join_all(batch).await);
    }
    let completed = held.iter().filter(|c| c.is_some()).count();

    // With the attacker's sockets still open, a clinician logs in and reads a page.
    let web = Web::new(&cert, node.https);
    let (account_id, credential) = data.account.clone().unwrap();
    tokio::time::timeout(
        DEADLINE,
        clinician_reads_a_page(&web, &account_id, &credential),
    )
    .await
    .expect("the clinician got in while 1,100 idle connections were held");
    assert_eq!(
        completed, HELD,
        "every attacker's handshake completed too (older idle connections gave way)"
    );
    drop(held);
    node.stop();
}

/// Reads until the node closes the connection (end of stream or reset).
async fn closed_by_the_node(stream: &mut (impl AsyncReadExt + Unpin)) {
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    read.expect("the node closed the silent connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_by_the_handshake_and_idle_timeouts() {
    let data = Data::new(
        "handshake_timeout_secs = 1\nheader_read_timeout_secs = 1\nidle_timeout_secs = 1",
        false,
    );
    // Soft limit 1,024 under a higher hard limit: the node raises its own.
    let hard: u64 = {
        let (_, hard) =
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
        hard
    };
    let node = Node::serve(&data, "-Sn 1024");
    let (soft, node_hard) = node.fd_limits();
    assert_eq!(node_hard, hard);
    if hard > 1024 {
        assert_eq!(
            soft,
            hard.min(1 << 20),
            "the node raised its soft limit toward the hard limit"
        );
    }

    // A client that connects and never starts its TLS handshake.
    let mut tcp = TcpStream::connect(node.https).await.unwrap();
    closed_by_the_node(&mut tcp).await;

    // A client that completes its handshake and never sends a request.
    let connector = tls_connector(&data.cert());
    let handshake = || async {
        idle_tls(&connector, node.https)
            .await
            .expect("TLS handshake")
    };
    let mut tls = handshake().await;
    closed_by_the_node(&mut tls).await;

    // A client that starts a request and never finishes its headers.
    let mut tls = handshake().await;
    tokio::io::AsyncWriteExt::write_all(&mut tls, b"GET /healthz HTTP/1.1\r\nHost: l")
        .await
        .unwrap();
    closed_by_the_node(&mut tls).await;

    // The node still serves.
    let web = Web::new(&data.cert(), node.https);
    assert_eq!(web.get("/healthz").await.status, StatusCode::OK);
    node.stop();
}

/// A login form fetched by a plain HTTPS client (no cookie jar): its cookie and token.
struct LoginForm {
    client: reqwest::Client,
    base: String,
    cookie: String,
    csrf: String,
}

impl LoginForm {
    async fn fetch(data: &Data, node: &Node) -> LoginForm {
        let client = common::https_client(&data.cert(), node.https);
        let base = format!("https://localhost:{}", node.https.port());
        let form = client.get(format!("{base}/login")).send().await.unwrap();
        let cookie = form
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("the login form sets a cookie")
            .to_owned();
        let body = form.text().await.unwrap();
        let csrf = body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a CSRF token on the login form")
            .to_owned();
        LoginForm {
            client,
            base,
            cookie,
            csrf,
        }
    }

    /// Submits a wrong credential for `account_id`; returns the status.
    async fn fail(&self, account_id: &str, forwarded_for: Option<&str>) -> StatusCode {
        let mut request = self
            .client
            .post(format!("{}/login", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(&[
                ("csrf", self.csrf.as_str()),
                ("account_id", account_id),
                ("credential", "wrong"),
            ]);
        if let Some(forwarded) = forwarded_for {
            request = request.header("x-forwarded-for", forwarded);
        }
        request.send().await.unwrap().status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_audit_entries_carry_the_client_address_and_backoff_applies_per_address() {
    let data = Data::new("", true);
    let node = Node::serve(&data, "-Sn 1024");
    let (account_id, credential) = data.account.clone().unwrap();
    let web = Web::new(&data.cert(), node.https);
    clinician_reads_a_page(&web, &account_id, &credential).await;
    // A forged X-Forwarded-For (no trusted proxy configured) on a failed login.
    let other = LoginForm::fetch(&data, &node).await;
    assert_eq!(
        other.fail("NO-SUCH-ACCOUNT", Some("203.0.113.9")).await,
        StatusCode::UNAUTHORIZED
    );
    // The address is known, so backoff per address applies: failures spread over ever
    // new account IDs from one address are slowed down too.
    let mut backoff = false;
    for i in 0..30 {
        if other.fail(&format!("GUESS-{i}"), None).await == StatusCode::TOO_MANY_REQUESTS {
            backoff = true;
            break;
        }
    }
    assert!(backoff, "failed logins from one address met no backoff");
    node.stop();

    let export = data.path.parent().unwrap().join("audit.ndjson");
    run(
        &data.path,
        &[
            "audit",
            "export",
            "--format",
            "ndjson",
            "--out",
            export.to_str().unwrap(),
        ],
        None,
    );
    let entries: Vec<serde_json::Value> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let text = |v: &serde_json::Value| v.to_string();
    let web_kinds = ["login_succeeded", "seal_broken", "declared", "login_failed"];
    let mut seen = Vec::new();
    for entry in &entries {
        let line = text(entry);
        for kind in web_kinds {
            if line.contains(&format!("\"kind\":\"{kind}\"")) {
                assert!(
                    line.contains("\"address\":\"127.0.0.1\""),
                    "{kind} without the loopback address: {line}"
                );
                assert!(
                    !line.contains("203.0.113.9"),
                    "forged address believed: {line}"
                );
                seen.push(kind);
            }
        }
    }
    for kind in web_kinds {
        assert!(
            seen.contains(&kind),
            "no {kind} entry in the ledger: {seen:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_toggle_never_redirects_off_site() {
    let data = Data::new("", false);
    let node = Node::serve(&data, "-Sn 1024");
    let web = Web::new(&data.cert(), node.https);
    for attack in [
        "/%09/evil.example",
        "/%0a/evil.example",
        "/%0d%0a/evil.example",
        "//evil.example",
        "/%5Cevil.example",
        "%5C%5Cevil.example",
        "/%20/evil.example",
        "%09//evil.example",
        "/%00/evil.example",
        "/%C2%A0/evil.example",
        "https://evil.example",
        "https:evil.example",
        "javascript:alert(1)",
    ] {
        let page = web.get_once(&format!("/lang/en?back={attack}")).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{attack}");
        assert_eq!(page.location.as_deref(), Some("/"), "{attack}");
    }
    // A path on the node is where the toggle returns.
    let page = web.get_once("/lang/ja?back=/search").await;
    assert_eq!(page.location.as_deref(), Some("/search"));
    node.stop();
}
