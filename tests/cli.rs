//! End-to-end tests that run the real `akari` binary: help, init, configuration errors,
//! console commands, and graceful shutdown on SIGTERM.

mod common;
#[path = "drill_common/web.rs"]
#[allow(dead_code)]
mod web;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use akari_testkit::poll::{poll_until, poll_until_async};

const BIN: &str = env!("CARGO_BIN_EXE_akari");
/// A command expected to fail must do so promptly; it is killed after this.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

fn akari() -> Command {
    let mut command = Command::new(BIN);
    command.env("AKARI_LOG", "warn");
    for (name, _) in std::env::vars() {
        if name.starts_with("AKARI_") && name != "AKARI_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Kills the child if a test fails before it exits.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits until the child exits, for at most `timeout`.
fn wait_exit(child: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    poll_until(what, timeout, || child.try_wait().unwrap())
}

/// Runs `command`, which must fail; returns its standard error.
fn expect_failure(mut command: Command) -> String {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let status = wait_exit(&mut guard.0, "akari to fail promptly", COMMAND_DEADLINE);
    let mut stderr = String::new();
    std::io::Read::read_to_string(guard.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "expected failure; stderr: {stderr}");
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn init(parent: &Path) -> PathBuf {
    let data = parent.join("data");
    let output = akari()
        .args(["init", "--data-dir"])
        .arg(&data)
        .args([
            "--host-name",
            "localhost",
            "--host-name",
            "akari.test",
            "--ip",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    data
}

fn serve_args(command: &mut Command, data: &Path) {
    command.arg("serve").arg("--data-dir").arg(data).args([
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn init_makes_a_private_data_dir_and_config_check_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("keys/node-signing.key")), 0o600);
    assert_eq!(mode(&data.join("tls/key.pem")), 0o600);
    let config = std::fs::read_to_string(data.join("akari.toml")).unwrap();
    assert!(config.contains("#allow_tls12 = false"), "{config}");

    let output = akari()
        .args(["config", "check", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("configuration OK"), "{stdout}");
    assert!(stdout.contains("certificate SHA-256: "), "{stdout}");
}

/// The standard output of `akari ARGS… --help`, which must succeed.
fn help(args: &[&str]) -> String {
    let output = akari().args(args).arg("--help").output().unwrap();
    assert!(output.status.success(), "akari {args:?} --help: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn help_version_and_default_config_are_printed() {
    let version = akari().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let default = akari().args(["config", "print-default"]).output().unwrap();
    assert!(default.status.success());
    assert_eq!(
        String::from_utf8_lossy(&default.stdout),
        akari::config::DEFAULT_CONFIG_TOML
    );
}

/// Every command is listed with a description, and the common ones show examples a
/// person can copy (each starting with the command itself).
#[test]
fn help_describes_every_command_and_shows_examples_for_the_common_ones() {
    let top = help(&[]);
    for command in [
        "init", "serve", "config", "demo", "status", "unlock", "lock", "sync", "snapshot", "admin",
        "mode", "account", "audit",
    ] {
        let line = top
            .lines()
            .find(|l| l.split_whitespace().next() == Some(command))
            .unwrap_or_else(|| panic!("`{command}` is not listed:\n{top}"));
        assert!(
            line.split_whitespace().count() > 3,
            "`{command}` has no description: {line}"
        );
    }
    let common: &[&[&str]] = &[
        &[],
        &["init"],
        &["serve"],
        &["demo"],
        &["mode"],
        &["mode", "declare-emergency"],
        &["mode", "start-drill"],
        &["mode", "end"],
        &["mode", "standby"],
        &["account", "provision"],
        &["account", "reseal"],
        &["audit", "report"],
        &["audit", "export"],
        &["audit", "verify"],
        &["sync", "now"],
        &["snapshot", "list"],
        &["snapshot", "verify"],
        &["snapshot", "rollback"],
    ];
    for path in common {
        let text = help(path);
        let examples = text
            .split("Examples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("`akari {}` has no examples:\n{text}", path.join(" ")));
        let prefix = format!("akari {}", path.join(" "));
        assert!(
            examples
                .lines()
                .any(|l| l.trim_start().starts_with(prefix.trim_end())),
            "no example of `{prefix}`:\n{examples}"
        );
    }
    // Options and arguments say what they are.
    let rollback = help(&["snapshot", "rollback"]);
    assert!(
        rollback.contains("as `akari snapshot list` shows it"),
        "{rollback}"
    );
    let export = help(&["audit", "export"]);
    assert!(
        export.contains("[possible values: ndjson, fhir, csv]"),
        "{export}"
    );
}

/// `akari demo` never uses the node's default directory, and its help says what it uses.
#[test]
fn demo_help_shows_its_own_data_dir_default() {
    let demo = help(&["demo"]);
    assert!(
        demo.contains("[default: a new temporary directory, kept after exit"),
        "{demo}"
    );
    assert!(!demo.contains("/var/lib/akari"), "{demo}");
    let serve = help(&["serve"]);
    assert!(serve.contains("[default: /var/lib/akari]"), "{serve}");
}

#[test]
fn unknown_key_is_named_with_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    std::fs::write(
        data.join("akari.toml"),
        "[server]\nlisten_adress = \"0.0.0.0:443\"\n",
    )
    .unwrap();
    let mut command = akari();
    serve_args(&mut command, &data);
    let stderr = expect_failure(command);
    assert!(stderr.contains("listen_adress"), "{stderr}");
    assert!(stderr.contains("akari.toml"), "{stderr}");
}

#[test]
fn invalid_port_is_named_in_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    std::fs::write(
        data.join("akari.toml"),
        "[metrics]\nlisten = \"127.0.0.1:70000\"\n",
    )
    .unwrap();
    let mut command = akari();
    command.args(["config", "check", "--data-dir"]).arg(&data);
    let stderr = expect_failure(command);
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    assert!(
        stderr.contains("70000") && stderr.contains("65535"),
        "{stderr}"
    );

    std::fs::write(data.join("akari.toml"), "").unwrap();
    let mut command = akari();
    command
        .args(["serve", "--data-dir"])
        .arg(&data)
        .env("AKARI_SERVER__LISTEN", "127.0.0.1:http");
    let stderr = expect_failure(command);
    assert!(stderr.contains("server.listen"), "{stderr}");
    assert!(stderr.contains("AKARI_SERVER__LISTEN"), "{stderr}");
}

#[test]
fn missing_certificate_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let missing = dir.path().join("nowhere/cert.pem");
    std::fs::write(
        data.join("akari.toml"),
        format!(
            "[tls]\ncert_path = \"{}\"\nkey_path = \"tls/key.pem\"\n",
            missing.display()
        ),
    )
    .unwrap();
    let mut command = akari();
    serve_args(&mut command, &data);
    let stderr = expect_failure(command);
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
fn missing_or_non_directory_data_dir_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent");
    let mut command = akari();
    serve_args(&mut command, &absent);
    let stderr = expect_failure(command);
    assert!(stderr.contains(&absent.display().to_string()), "{stderr}");
    assert!(stderr.contains("akari init"), "{stderr}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let mut command = akari();
    serve_args(&mut command, &file);
    let stderr = expect_failure(command);
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("not a directory"), "{stderr}");
}

#[test]
fn unreadable_data_dir_is_named() {
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let mut command;
    let _bin_dir;
    if nix::unistd::geteuid().is_root() {
        // Root reads everything, so run the binary as `nobody` against root's 0700
        // directory. The binary is copied to a directory `nobody` may enter.
        let bin_dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(bin_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = bin_dir.path().join("akari");
        std::fs::copy(BIN, &bin).unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        command = Command::new(&bin);
        command.env("AKARI_LOG", "warn").uid(65534).gid(65534);
        _bin_dir = Some(bin_dir);
    } else {
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o000)).unwrap();
        command = akari();
        _bin_dir = None;
    }
    serve_args(&mut command, &data);
    let stderr = expect_failure(command);
    assert!(stderr.contains(&data.display().to_string()), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Reads the serve banner: the HTTPS and metrics addresses.
fn read_banner(child: &mut Child) -> (SocketAddr, SocketAddr) {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut https = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("is serving https://").nth(1) {
                https = rest.trim_end_matches('/').parse::<SocketAddr>().ok();
            }
            if let Some(rest) = line.split("metrics: http://").nth(1) {
                let metrics = rest.trim_end_matches("/metrics").parse::<SocketAddr>().ok();
                let _ = tx.send((https, metrics));
            }
        }
    });
    match rx.recv_timeout(COMMAND_DEADLINE) {
        Ok((Some(https), Some(metrics))) => (https, metrics),
        other => panic!("no serve banner from akari: {other:?}"),
    }
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_request_finish_then_exits_zero() {
    const DRAIN_SECS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let mut command = akari();
    serve_args(&mut command, &data);
    command
        .env("AKARI_SERVER__TEST_SLOW_ROUTE", "true")
        .env("AKARI_SERVER__DRAIN_TIMEOUT_SECS", DRAIN_SECS.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = ChildGuard(command.spawn().unwrap());
    let (https, metrics) = read_banner(&mut guard.0);

    let client = common::https_client(&common::read_cert(&data), https);
    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("https://localhost:{}/_test/slow?ms=3000", https.port());
        async move {
            let response = client.get(url).send().await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        }
    });

    // Wait until the server is actually working on the request.
    let metrics_url = format!("http://{metrics}/metrics");
    poll_until_async(
        "the slow request to reach the server",
        Duration::from_secs(10),
        || async {
            let text = reqwest::get(&metrics_url)
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            text.contains("akari_http_requests_in_flight 1\n")
                .then_some(())
        },
    )
    .await;

    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let signalled = Instant::now();

    // New connections are refused while the slow request is still running.
    poll_until_async(
        "the node to refuse new connections after SIGTERM",
        Duration::from_secs(2),
        || async { tokio::net::TcpStream::connect(https).await.err() },
    )
    .await;
    assert!(
        !slow.is_finished(),
        "the slow request finished before the test could check"
    );

    let (status, body) = slow
        .await
        .unwrap()
        .expect("the in-flight request must complete");
    assert_eq!(status, 200);
    assert_eq!(body, "done\n");

    let exit = tokio::task::spawn_blocking(move || {
        wait_exit(
            &mut guard.0,
            "akari to exit within the drain timeout",
            Duration::from_secs(DRAIN_SECS),
        )
    })
    .await
    .unwrap();
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(DRAIN_SECS));
}

/// Runs a console command; returns (success, stdout, stderr).
fn run_console(data: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use std::io::Write;
    let mut command = akari();
    command
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (output.status.success(), stdout, stderr)
}

fn console_ok(data: &Path, args: &[&str]) -> String {
    let (ok, stdout, stderr) = run_console(data, args, None);
    assert!(ok, "akari {args:?} failed: {stderr}\n{stdout}");
    stdout
}

/// `akari sync now` through a running node once its start-up sync (or any other) is done.
fn sync_now_when_idle(data: &Path) -> String {
    poll_until("the running sync to finish", COMMAND_DEADLINE, || {
        let (ok, stdout, stderr) = run_console(data, &["sync", "now"], None);
        if ok {
            Ok(stdout)
        } else {
            assert!(
                stderr.contains("already running"),
                "akari sync now: {stderr}"
            );
            Err(stderr)
        }
    })
}

/// `akari init` for the console tests: prints the recovery key once; a FHIR source and
/// cheap argon2 (tests) in akari.toml.
fn init_with_source(parent: &Path, base_url: &str) -> (PathBuf, String) {
    let data = parent.join("data");
    let output = akari()
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        stdout.contains(&data.join("keys/node-signing.pub").display().to_string()),
        "{stdout}"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("RECOVERY KEY"))
        .unwrap_or_else(|| panic!("no recovery key printed: {stdout}"));
    let recovery = lines[at + 2].trim().to_owned();
    assert!(recovery.len() >= 35, "{recovery}");
    assert!(data.join("keys/snapshot.pub").is_file());
    // Re-running init keeps everything and prints no new recovery key.
    let again = akari()
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(!String::from_utf8_lossy(&again.stdout).contains("RECOVERY KEY"));

    let config = format!(
        "[sync]\ninterval_secs = 86400\njitter_secs = 0\n\n\
         [sync.source]\nkind = \"fhir-rest\"\nbase_url = \"{base_url}\"\n\
         max_attempts = 2\nbackoff_initial_ms = 10\nbackoff_max_secs = 1\n\n\
         [accounts.argon2]\nmemory_kib = 1024\niterations = 1\nparallelism = 1\n"
    );
    std::fs::write(data.join("akari.toml"), config).unwrap();
    (data, recovery)
}

fn current_generation(list: &str) -> u64 {
    list.lines()
        .find_map(|l| l.strip_prefix('*'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|g| g.parse().ok())
        .unwrap_or_else(|| panic!("no current generation in:\n{list}"))
}

/// A FHIR server holding a synthetic hospital of `patients` patients.
fn fhir_server_of(patients: u64) -> akari_testkit::server::FhirServer {
    use akari_testkit::server::{FhirServer, ServerOptions};
    use akari_testkit::synth::{Hospital, SynthConfig};
    let hospital = Hospital::generate(SynthConfig {
        patients,
        ..SynthConfig::default()
    });
    FhirServer::with_resources(ServerOptions::default(), hospital.resources())
}

#[test]
fn console_commands_work_on_the_files_and_through_a_running_node() {
    let fhir = fhir_server_of(40);
    let dir = tempfile::tempdir().unwrap();
    let (data, recovery) = init_with_source(dir.path(), &fhir.base_url());

    // --- no node running: the command opens the files itself ---
    let out = console_ok(&data, &["sync", "now", "--full"]);
    assert!(out.contains("sync full done: generation 1"), "{out}");
    // An incremental pull that changes nothing writes no generation.
    let out = console_ok(&data, &["sync", "now"]);
    assert!(
        out.contains("sync incremental done: no change; generation 1 stays current"),
        "{out}"
    );
    let out = console_ok(&data, &["sync", "now", "--full"]);
    assert!(out.contains("sync full done: generation 2"), "{out}");
    let list = console_ok(&data, &["snapshot", "list"]);
    assert_eq!(current_generation(&list), 2, "{list}");
    assert!(list.contains("full"), "{list}");
    let out = console_ok(&data, &["snapshot", "verify", "1"]);
    assert!(out.contains("generation 1 verifies"), "{out}");
    let out = console_ok(&data, &["snapshot", "pin", "1"]);
    assert!(out.contains("generation 1 is pinned"), "{out}");
    let list = console_ok(&data, &["snapshot", "list"]);
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with("1 ") && l.contains("yes")),
        "{list}"
    );
    let out = console_ok(&data, &["snapshot", "rollback", "1"]);
    assert!(
        out.contains("generation 3 (a copy of generation 1)"),
        "{out}"
    );
    let list = console_ok(&data, &["snapshot", "list"]);
    assert_eq!(current_generation(&list), 3, "{list}");
    let out = console_ok(&data, &["snapshot", "verify"]);
    assert!(out.contains("generation 3 verifies"), "{out}");
    let (ok, _, stderr) = run_console(&data, &["snapshot", "rollback", "99"], None);
    assert!(!ok);
    assert!(stderr.contains("generation 99 does not exist"), "{stderr}");

    // Provisioning needs the snapshot key: the recovery key is asked for on stdin.
    let (ok, sheet, stderr) = run_console(
        &data,
        &[
            "account",
            "provision",
            "--label",
            "ER-1",
            "--wards",
            "3A,5F",
        ],
        Some(&format!("{recovery}\n")),
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("needs the snapshot key"), "{stderr}");
    assert!(
        sheet.contains("ER-1") && sheet.contains("Account ID"),
        "{sheet}"
    );
    let (ok, _, stderr) = run_console(
        &data,
        &["account", "provision", "--label", "ER-2"],
        Some("AAAAA-BBBBB-CCCCC-DDDDD-EEEEE-FFFFF-GGGGG\n"),
    );
    assert!(!ok, "a wrong recovery key must not provision");
    assert!(
        !stderr.contains("AAAAA-BBBBB"),
        "the key is never echoed: {stderr}"
    );

    // --- the node running: the same commands go through the control socket ---
    let mut command = akari();
    serve_args(&mut command, &data);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut guard = ChildGuard(command.spawn().unwrap());
    let (https, _) = read_banner(&mut guard.0);
    let socket = data.join("control.sock");
    assert_eq!(mode(&socket), 0o600);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = common::https_client(&common::read_cert(&data), https);
    let health = |client: &reqwest::Client| -> serde_json::Value {
        rt.block_on(async {
            let url = format!("https://localhost:{}/healthz", https.port());
            client.get(url).send().await.unwrap().json().await.unwrap()
        })
    };
    let h = health(&client);
    assert_eq!(h["mode"], "standby", "{h}");
    assert_eq!(h["snapshot"]["state"], "current", "{h}");
    assert!(h["snapshot"]["generation"].as_u64().unwrap() >= 3, "{h}");

    // (The files are locked by the node: these only work through the socket.)
    let out = console_ok(
        &data,
        &["mode", "start-drill", "--reason", "quarterly drill"],
    );
    assert!(out.contains("mode is now drill"), "{out}");
    // The answer names the number `audit report` knows the episode by.
    let report_arg = out
        .split("akari audit report ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .unwrap_or_else(|| panic!("no report hint in {out}"))
        .to_owned();
    assert_eq!(
        report_arg, "1",
        "the node's first episode is number 1: {out}"
    );
    let h = health(&client);
    assert_eq!(h["mode"], "drill", "{h}");
    let out = console_ok(&data, &["status"]);
    assert!(
        out.contains("mode: drill") && out.contains("snapshot key: locked"),
        "{out}"
    );
    let (ok, out, stderr) = run_console(&data, &["unlock"], Some(&format!("{recovery}\n")));
    assert!(ok, "{stderr}");
    assert!(out.contains("snapshot unlocked"), "{out}");
    let out = console_ok(&data, &["status"]);
    assert!(out.contains("snapshot key: unlocked"), "{out}");
    let out = console_ok(&data, &["mode", "end", "--reason", "drill over"]);
    assert!(out.contains("mode is now recovery"), "{out}");
    let report = console_ok(&data, &["audit", "report", &report_arg]);
    assert!(
        report.contains(&format!("episode {report_arg}")) && report.contains("drill over"),
        "{report}"
    );
    let out = console_ok(&data, &["status"]);
    assert!(
        out.contains("snapshot key: locked"),
        "ending the episode wipes the key: {out}"
    );
    let h = health(&client);
    assert_eq!(h["mode"], "recovery", "{h}");
    let list = console_ok(&data, &["account", "list"]);
    assert!(list.contains("ER-1") && list.contains("sealed"), "{list}");
    let report = console_ok(&data, &["audit", "report"]);
    assert!(report.contains("drill"), "{report}");

    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let exit = wait_exit(&mut guard.0, "the node to stop", COMMAND_DEADLINE);
    assert!(exit.success());
    assert!(
        !socket.exists(),
        "the control socket is removed at shutdown"
    );

    // --- stopped again: in-process ---
    let out = console_ok(&data, &["mode", "standby", "--reason", "review done"]);
    assert!(out.contains("mode is now standby"), "{out}");
    let (ok, _, stderr) = run_console(&data, &["mode", "end", "--reason", "x"], None);
    assert!(!ok);
    assert!(stderr.contains("standby"), "{stderr}");

    // Audit export → offline verify, and a tampered copy is refused.
    let export = dir.path().join("audit.ndjson");
    let out = console_ok(
        &data,
        &[
            "audit",
            "export",
            "--format",
            "ndjson",
            "--out",
            export.to_str().unwrap(),
        ],
    );
    assert!(out.contains("exported entries 1.."), "{out}");
    let key = data.join("keys/node-signing.pub");
    let verify = |file: &Path| {
        akari()
            .args(["audit", "verify"])
            .arg(file)
            .arg("--key")
            .arg(&key)
            .output()
            .unwrap()
    };
    let ok = verify(&export);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert!(stdout.starts_with("OK: entries 1.."), "{stdout}");
    let text = std::fs::read_to_string(&export).unwrap();
    let tampered = dir.path().join("tampered.ndjson");
    std::fs::write(
        &tampered,
        text.replacen("quarterly drill", "quarterly drilL", 1),
    )
    .unwrap();
    let bad = verify(&tampered);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("does NOT verify") && stderr.contains("altered"),
        "{stderr}"
    );
    let fhir_out = console_ok(&data, &["audit", "export", "--format", "fhir"]);
    assert!(
        fhir_out.contains("\"AuditEvent\""),
        "{}",
        &fhir_out[..fhir_out.len().min(500)]
    );
    let cp_dir = dir.path().join("usb");
    std::fs::create_dir(&cp_dir).unwrap();
    console_ok(
        &data,
        &[
            "audit",
            "checkpoint",
            "--write-to",
            cp_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_dir(&cp_dir).unwrap().count(), 1);
}

#[test]
fn admin_create_reads_the_password_twice_and_asks_for_the_recovery_key() {
    let dir = tempfile::tempdir().unwrap();
    let (data, recovery) = init_with_source(dir.path(), "http://127.0.0.1:9/fhir");
    let (ok, _, stderr) = run_console(
        &data,
        &["admin", "create", "--id", "it-1", "--name", "IT One"],
        Some("short\nshort\n"),
    );
    assert!(!ok);
    assert!(stderr.contains("13"), "the policy says why: {stderr}");
    let (ok, _, stderr) = run_console(
        &data,
        &["admin", "create", "--id", "it-1", "--name", "IT One"],
        Some("Correct-Horse-9-Battery\nCorrect-Horse-9-Battery!\n"),
    );
    assert!(!ok);
    assert!(stderr.contains("differ"), "{stderr}");
    let (ok, out, stderr) = run_console(
        &data,
        &["admin", "create", "--id", "it-1", "--name", "IT One"],
        Some(&format!(
            "Correct-Horse-9-Battery\nCorrect-Horse-9-Battery\n{recovery}\n"
        )),
    );
    assert!(ok, "{stderr}");
    assert!(out.contains("admin it-1 created"), "{out}");
    assert!(out.contains("One-time enrolment code"), "{out}");
    assert!(!out.contains("Correct-Horse"), "{out}");
    // Without a reachable source, sync fails with the reason and exit code 1.
    let (ok, _, stderr) = run_console(&data, &["sync", "now"], None);
    assert!(!ok);
    assert!(
        stderr.contains("current generation stays in service"),
        "{stderr}"
    );
}

/// `akari init` with an NDJSON directory source at `<data>/feed` (what removable media and
/// export jobs deliver); returns the data directory and the feed directory.
fn init_with_feed(parent: &Path) -> (PathBuf, PathBuf) {
    let data = init(parent);
    let feed = data.join("feed");
    std::fs::create_dir(&feed).unwrap();
    std::fs::write(
        data.join("akari.toml"),
        "[sync]\ninterval_secs = 86400\njitter_secs = 0\n\n\
         [sync.source]\nkind = \"ndjson-dir\"\ndir = \"feed\"\n",
    )
    .unwrap();
    (data, feed)
}

/// Replace the feed with these resources, one NDJSON file per type.
fn write_feed<'a>(
    feed: &Path,
    resources: impl IntoIterator<Item = &'a akari_testkit::synth::Resource>,
) {
    use std::io::Write;
    for entry in std::fs::read_dir(feed).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for r in resources {
        let path = feed.join(format!("{}.ndjson", r.resource_type));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(&r.json).unwrap();
        f.write_all(b"\n").unwrap();
    }
}

/// `: > file` for every file of the feed.
fn empty_feed(feed: &Path) {
    for entry in std::fs::read_dir(feed).unwrap() {
        std::fs::File::create(entry.unwrap().path()).unwrap();
    }
}

fn expect_console_failure(data: &Path, args: &[&str]) -> String {
    let (ok, _, stderr) = run_console(data, args, None);
    assert!(!ok, "akari {args:?} should have failed");
    stderr
}

/// Starts `akari serve` on `data`; returns the guard, the HTTPS and metrics addresses.
fn serve(data: &Path) -> (ChildGuard, SocketAddr, SocketAddr) {
    let mut command = akari();
    serve_args(&mut command, data);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut guard = ChildGuard(command.spawn().unwrap());
    let (https, metrics) = read_banner(&mut guard.0);
    (guard, https, metrics)
}

fn stop(mut guard: ChildGuard) {
    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let exit = wait_exit(&mut guard.0, "the node to stop", COMMAND_DEADLINE);
    assert!(exit.success());
}

fn get_json(
    rt: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: String,
) -> serde_json::Value {
    rt.block_on(async { client.get(url).send().await.unwrap().json().await.unwrap() })
}

fn get_text(rt: &tokio::runtime::Runtime, url: String) -> String {
    rt.block_on(async { reqwest::get(url).await.unwrap().text().await.unwrap() })
}

#[test]
fn an_emptied_or_poisoned_feed_never_replaces_the_good_generation() {
    use akari_testkit::synth::{Hospital, SynthConfig};
    let hospital = Hospital::generate(SynthConfig {
        patients: 1000,
        ..SynthConfig::default()
    });
    let all: Vec<_> = hospital.resources().collect();
    let first = all
        .iter()
        .find(|r| r.resource_type == "Patient")
        .unwrap()
        .id
        .clone();
    let reference = format!("\"Patient/{first}\"");
    // One patient, their items and what they refer to that belongs to no patient
    // (medications, locations): exactly as the full feed sent them.
    let one_patient: Vec<_> = all
        .iter()
        .filter(|r| {
            let json = String::from_utf8_lossy(&r.json);
            (r.resource_type == "Patient" && r.id == first)
                || json.contains(&reference)
                || (r.resource_type != "Patient" && !json.contains("\"Patient/"))
        })
        .collect();
    assert!(one_patient.len() > 1, "the patient and their items");
    let dir = tempfile::tempdir().unwrap();
    let (data, feed) = init_with_feed(dir.path());

    write_feed(&feed, &all);
    let out = console_ok(&data, &["sync", "now", "--full"]);
    assert!(out.contains("sync full done: generation 1"), "{out}");
    // Ransomware empties the feed: `: > feed.ndjson; akari sync now --full`.
    empty_feed(&feed);
    let stderr = expect_console_failure(&data, &["sync", "now", "--full"]);
    assert!(
        stderr.contains("patient 1000 → 0")
            && stderr.contains("quarantined generation 2")
            && stderr.contains("generation 1 stays in service")
            && stderr.contains("akari snapshot promote 2"),
        "{stderr}"
    );
    // Then a feed of one patient.
    write_feed(&feed, one_patient.iter().copied());
    let stderr = expect_console_failure(&data, &["sync", "now", "--full"]);
    assert!(
        stderr.contains("patient 1000 → 1") && stderr.contains("quarantined generation 3"),
        "{stderr}"
    );
    let status = console_ok(&data, &["status"]);
    assert!(
        status.contains("ALERT: sync quarantined") && status.contains("generation 3"),
        "{status}"
    );
    assert!(
        status.contains("snapshot: generation 1 (1000 patients)"),
        "{status}"
    );

    // The running node tells monitoring too: /healthz, the metric.
    let (guard, https, metrics) = serve(&data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = common::https_client(&common::read_cert(&data), https);
    let health_url = format!("https://localhost:{}/healthz", https.port());
    let h = get_json(&rt, &client, health_url.clone());
    assert_eq!(h["status"], "alert", "{h}");
    assert_eq!(h["snapshot"]["generation"], 1, "{h}");
    assert_eq!(h["alerts"][0]["kind"], "snapshot_quarantine", "{h}");
    let m = get_text(&rt, format!("http://{metrics}/metrics"));
    assert!(
        m.contains("akari_alert{kind=\"snapshot_quarantine\"} 1"),
        "{m}"
    );
    assert!(m.contains("akari_snapshot_generation 1"), "{m}");

    // Two incremental syncs of the unchanged feed (through the running node): the
    // 1,000-patient data stays served, generation 1 and both quarantined generations stay
    // listed. (The feed's files are newer than generation 1, so each incremental re-sends
    // the one patient; on this encrypted store the re-sealed items hash differently, so
    // such a pull may write a generation of the same content — never one that loses data.)
    sync_now_when_idle(&data);
    sync_now_when_idle(&data);
    let list = console_ok(&data, &["snapshot", "list"]);
    let row = |g: u64| {
        list.lines()
            .find(|l| l.trim_start_matches('*').split_whitespace().next() == Some(&g.to_string()))
            .unwrap_or_else(|| panic!("generation {g} listed:\n{list}"))
            .to_owned()
    };
    assert!(row(1).contains(" 1000 "), "{list}");
    assert!(row(current_generation(&list)).contains(" 1000 "), "{list}");
    // The node's start-up sync pulled the 1-patient feed once more: quarantined again
    // (its sealed content hashes differently); the two newest quarantined are kept.
    assert!(row(3).contains("QUARANTINED"), "{list}");
    assert_eq!(list.matches("QUARANTINED").count(), 2, "{list}");

    // Only an admin's promotion serves a quarantined generation (through the socket).
    let stderr = expect_console_failure(&data, &["snapshot", "promote", "1"]);
    assert!(stderr.contains("not quarantined"), "{stderr}");
    let out = console_ok(&data, &["snapshot", "promote", "3"]);
    assert!(
        out.contains("generation 3 (1 patients) is now current"),
        "{out}"
    );
    let h = get_json(&rt, &client, health_url);
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["snapshot"]["generation"], 3, "{h}");
    stop(guard);

    // Every quarantine (the emptied feed, the 1-patient feed, each time it was pulled) and
    // the promotion are in the audit ledger.
    let export = console_ok(&data, &["audit", "export", "--format", "ndjson"]);
    assert!(
        export.matches("\"snapshot_quarantined\"").count() >= 2,
        "{export}"
    );
    assert_eq!(
        export.matches("\"snapshot_promoted\"").count(),
        1,
        "{export}"
    );
}

#[test]
fn a_zeroed_snapshot_file_starts_the_node_from_the_second_copy_and_says_so() {
    use akari_testkit::synth::{Hospital, SynthConfig};
    let hospital = Hospital::generate(SynthConfig {
        patients: 20,
        ..SynthConfig::default()
    });
    let all: Vec<_> = hospital.resources().collect();
    let dir = tempfile::tempdir().unwrap();
    let (data, feed) = init_with_feed(dir.path());
    write_feed(&feed, &all);
    console_ok(&data, &["sync", "now", "--full"]);
    assert!(data.join("snapshot-copy.redb").is_file());
    let snapshot = data.join("snapshot.redb");
    let len = std::fs::metadata(&snapshot).unwrap().len() as usize;
    std::fs::write(&snapshot, vec![0u8; len]).unwrap();

    let (guard, https, _) = serve(&data);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = common::https_client(&common::read_cert(&data), https);
    let h = get_json(
        &rt,
        &client,
        format!("https://localhost:{}/healthz", https.port()),
    );
    assert_eq!(h["snapshot"]["state"], "current", "{h}");
    assert_eq!(h["snapshot"]["generation"], 1, "{h}");
    assert_eq!(h["status"], "alert", "{h}");
    assert_eq!(h["alerts"][0]["kind"], "snapshot_integrity", "{h}");
    let status = console_ok(&data, &["status"]);
    // The node's scheduled sync may already have pulled the feed again on top of the
    // restored generation (generation 2): either way the 20 patients are served.
    assert!(
        status.contains("ALERT: snapshot damage")
            && status.contains("generation 1 was restored from the second copy")
            && (status.contains("snapshot: generation 1 (20 patients)")
                || status.contains("snapshot: generation 2 (20 patients)")),
        "{status}"
    );
    stop(guard);
    let aside = std::fs::read_dir(&data)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("snapshot.redb.damaged-")
        })
        .count();
    assert_eq!(aside, 1, "the damaged file is kept for inspection");
}

#[test]
fn config_check_refuses_a_plain_http_source_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let data = init(dir.path());
    let write = |extra: &str| {
        std::fs::write(
            data.join("akari.toml"),
            format!(
                "[sync.source]\nkind = \"fhir-rest\"\nbase_url = \"http://ehr.hospital.example/fhir\"\n{extra}"
            ),
        )
        .unwrap()
    };
    write("");
    let mut command = akari();
    command.args(["config", "check", "--data-dir"]).arg(&data);
    let stderr = expect_failure(command);
    assert!(
        stderr.contains("sync.source.base_url")
            && stderr.contains("allow_plain_http")
            && stderr.contains("akari.toml"),
        "{stderr}"
    );
    // `serve` refuses it the same way.
    let mut command = akari();
    serve_args(&mut command, &data);
    let stderr = expect_failure(command);
    assert!(stderr.contains("sync.source.base_url"), "{stderr}");
    // An explicit, documented opt-in, https, and this machine are accepted.
    write("allow_plain_http = true\n");
    console_ok(&data, &["config", "check"]);
    for base in [
        "https://ehr.hospital.example/fhir",
        "http://127.0.0.1:8080/fhir",
        "http://localhost/fhir",
    ] {
        std::fs::write(
            data.join("akari.toml"),
            format!("[sync.source]\nkind = \"fhir-rest\"\nbase_url = \"{base}\"\n"),
        )
        .unwrap();
        console_ok(&data, &["config", "check"]);
    }
}

/// A time on the New York clock, as the console shows it: `2026-12-06 09:00:05 EST`.
fn on_new_york_clock(text: &str) -> bool {
    text.contains(" EST") || text.contains(" EDT")
}

/// Human console output carries no other clock's label.
fn assert_only_new_york(what: &str, text: &str) {
    assert!(
        on_new_york_clock(text),
        "{what} shows no EST/EDT time:\n{text}"
    );
    for other in ["UTC", "JST", "+00:00", "+09:00"] {
        assert!(!text.contains(other), "{what} shows {other}:\n{text}");
    }
}

/// The CSV export's rows as (time, local_time, action).
fn csv_rows(csv: &str) -> Vec<(String, String, String)> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (time, local, action) = (column("time"), column("local_time"), column("action"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[time].to_owned(),
                r[local].to_owned(),
                r[action].to_owned(),
            )
        })
        .collect()
}

#[test]
fn reports_and_typed_times_are_on_the_configured_clock() {
    let fhir = fhir_server_of(10);
    let dir = tempfile::tempdir().unwrap();
    let (data, recovery) = init_with_source(dir.path(), &fhir.base_url());
    let config = std::fs::read_to_string(data.join("akari.toml")).unwrap();
    std::fs::write(
        data.join("akari.toml"),
        format!("{config}\n[display]\ntime_zone = \"America/New_York\"\n"),
    )
    .unwrap();
    let new_york: akari_accounts::Zone = "America/New_York".parse().unwrap();

    console_ok(&data, &["sync", "now", "--full"]);
    assert_only_new_york("akari status", &console_ok(&data, &["status"]));
    assert_only_new_york(
        "akari snapshot list",
        &console_ok(&data, &["snapshot", "list"]),
    );
    let report = console_ok(&data, &["sync", "report"]);
    assert_only_new_york("akari sync report", &report);
    assert!(report.contains("started 20"), "{report}");

    console_ok(&data, &["mode", "start-drill", "--reason", "clock drill"]);
    console_ok(&data, &["mode", "end", "--reason", "drill over"]);
    assert_only_new_york(
        "akari audit report",
        &console_ok(&data, &["audit", "report"]),
    );
    assert_only_new_york(
        "akari audit report 1",
        &console_ok(&data, &["audit", "report", "1"]),
    );

    // An expiry date lasts through that day on the hospital's clock (EDT on 31 March).
    let (ok, _, stderr) = run_console(
        &data,
        &[
            "account",
            "provision",
            "--label",
            "ER-NY",
            "--expires",
            "2027-03-31",
        ],
        Some(&format!("{recovery}\n")),
    );
    assert!(ok, "{stderr}");
    let accounts = console_ok(&data, &["account", "list"]);
    assert!(
        accounts.contains("until 2027-03-31 23:59 EDT"),
        "{accounts}"
    );

    // The CSV export: `time` stays RFC 3339 in UTC, `local_time` is the same instant on the
    // hospital's clock.
    let rows = csv_rows(&console_ok(&data, &["audit", "export", "--format", "csv"]));
    let (time, local, _) = rows
        .iter()
        .find(|(_, _, action)| action == "mode_changed")
        .unwrap_or_else(|| panic!("no mode change in {rows:?}"))
        .clone();
    let instant = chrono::DateTime::parse_from_rfc3339(&time).unwrap();
    assert!(time.ends_with('Z'), "{time}");
    assert_eq!(local, new_york.second(&instant), "{time}");
    assert!(on_new_york_clock(&local), "{local}");

    // A time without an offset on --from/--to is on the hospital's clock: the minute of the
    // drill's start in New York holds it (read as UTC it would be five hours away).
    let minute = new_york
        .local(&instant)
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let next = (new_york.local(&instant) + chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let export = |from: &str, to: &str| {
        csv_rows(&console_ok(
            &data,
            &[
                "audit", "export", "--format", "csv", "--from", from, "--to", to,
            ],
        ))
    };
    let window = export(&minute, &next);
    assert!(
        window.iter().any(|(t, _, _)| *t == time),
        "--from {minute} --to {next} misses the drill's start at {time}: {window:?}"
    );
    // A date is midnight on that clock: the day of the drill in New York holds it, the
    // next day starts after it.
    let day = new_york.date(&instant);
    let following = day.succ_opt().unwrap();
    let whole_day = export(&day.to_string(), &following.to_string());
    assert!(
        whole_day.iter().any(|(t, _, _)| *t == time),
        "{whole_day:?}"
    );
    let later = export(
        &following.to_string(),
        &following.succ_opt().unwrap().to_string(),
    );
    assert!(later.iter().all(|(t, _, _)| *t != time), "{later:?}");

    // The offline verifier prints its checkpoint time on the data directory's clock.
    let export_file = dir.path().join("audit.ndjson");
    console_ok(
        &data,
        &["audit", "export", "--out", export_file.to_str().unwrap()],
    );
    let verify = akari()
        .args(["audit", "verify"])
        .arg(&export_file)
        .arg("--key")
        .arg(data.join("keys/node-signing.pub"))
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{verify:?}");
    let checkpoint = stdout
        .lines()
        .find(|l| l.starts_with("last checkpoint"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(on_new_york_clock(checkpoint), "{checkpoint}");
}

/// The one-time code or password a recovery command printed.
fn printed_after(out: &str, label: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"));
    line.rsplit(": ").next().unwrap().trim().to_owned()
}

#[test]
fn admin_recovery_commands_replace_the_secret_and_are_in_the_ledger_first() {
    let dir = tempfile::tempdir().unwrap();
    let (data, recovery) = init_with_source(dir.path(), "http://127.0.0.1:9/fhir");
    let password = "Correct-Horse-9-Battery";
    let (ok, created, stderr) = run_console(
        &data,
        &["admin", "create", "--id", "it-1", "--name", "IT One"],
        Some(&format!("{password}\n{password}\n{recovery}\n")),
    );
    assert!(ok, "{stderr}");
    let first = printed_after(&created, "One-time enrolment code");
    let again = console_ok(&data, &["admin", "new-code", "--id", "it-1"]);
    let second = printed_after(&again, "One-time enrolment code");
    assert_ne!(first, second, "a new code each time");
    assert!(
        again.contains("any earlier code no longer works"),
        "{again}"
    );
    let added = console_ok(&data, &["admin", "add-passkey", "--id", "it-1"]);
    let third = printed_after(&added, "One-time enrolment code");
    let replaced = console_ok(&data, &["admin", "replace-passkeys", "--id", "it-1"]);
    assert!(replaced.contains("passkeys replaced"), "{replaced}");
    let fourth = printed_after(&replaced, "One-time enrolment code");
    // The snapshot is encrypted and locked: the new password's key slot needs the
    // recovery key, which the command asks for.
    let (ok, reset, stderr) = run_console(
        &data,
        &["admin", "reset-password", "--id", "it-1"],
        Some(&format!("{recovery}\n")),
    );
    assert!(ok, "{stderr}\n{reset}");
    let new_password = printed_after(&reset, "New password");
    assert_ne!(new_password, password);
    akari_accounts::check_password_policy(&akari_accounts::Password::new(new_password.as_str()))
        .unwrap();
    // Unknown admins and emergency accounts are not recovered.
    let unknown = expect_console_failure(&data, &["admin", "new-code", "--id", "nobody"]);
    assert!(unknown.contains("no admin \"nobody\""), "{unknown}");

    let export = console_ok(&data, &["audit", "export", "--format", "ndjson"]);
    for secret in [&first, &second, &third, &fourth, &new_password] {
        assert!(!export.contains(secret.as_str()), "a secret in the ledger");
    }
    assert!(!export.contains(password), "a secret in the ledger");
    let entries: Vec<serde_json::Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let recoveries: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| {
            let text = e.to_string();
            if !text.contains("\"admin_recovered\"") {
                return None;
            }
            assert!(text.contains("\"it-1\""), "{text}");
            assert!(
                text.contains("\"console\""),
                "the operator is named: {text}"
            );
            let change = [
                "enrolment_code_reissued",
                "passkeys_replaced",
                "password_reset",
            ]
            .into_iter()
            .find(|c| text.contains(&format!("\"{c}\"")))
            .unwrap_or_else(|| panic!("{text}"));
            Some((change.to_owned(), text))
        })
        .collect();
    let changes: Vec<&str> = recoveries.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        changes,
        [
            "enrolment_code_reissued",
            "enrolment_code_reissued",
            "passkeys_replaced",
            "password_reset"
        ],
        "{export}"
    );
    // The old password's key slot was replaced with the reset, after its record.
    let reset_at = export.find("\"password_reset\"").unwrap();
    let slot = export[reset_at..]
        .find("admin:it-1")
        .map(|i| &export[reset_at + i..]);
    assert!(
        slot.is_some_and(|s| s[..s.find('\n').unwrap_or(s.len())].contains("replaced")),
        "{export}"
    );
}

/// The ledger's entries of one kind, from an NDJSON export.
fn exported_entries(data: &Path, dir: &Path, kind: &str) -> Vec<serde_json::Value> {
    let file = dir.join(format!("{kind}.ndjson"));
    console_ok(data, &["audit", "export", "--out", file.to_str().unwrap()]);
    std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("entry").cloned().or(Some(v)))
        .filter(|e| e["action"]["kind"] == kind)
        .collect()
}

/// After a drill in which a clinician listed one patient in search results and opened
/// another: `akari audit report --resolve` names them once the recovery key unlocks the
/// snapshot for that command (and says what to do without it), `--patient` lists the
/// session that saw a patient in search results, `--csv` writes the review, `audit
/// sign-off` records a verdict; each resolution and lookup is a ledger entry.
#[test]
fn audit_report_names_patients_looks_one_up_exports_csv_and_signs_off() {
    use akari_testkit::synth::{Hospital, SynthConfig};
    let fhir = fhir_server_of(30);
    let hospital = Hospital::generate(SynthConfig {
        patients: 30,
        ..SynthConfig::default()
    });
    let people: Vec<(String, String)> = hospital
        .truth()
        .into_values()
        .filter_map(|r| Some((r.patient.hospital_id?, r.patient.name_kanji?)))
        .take(2)
        .collect();
    let [(listed_id, listed_name), (opened_id, opened_name)] = &people[..] else {
        panic!("two named patients with hospital IDs")
    };
    let dir = tempfile::tempdir().unwrap();
    let (data, recovery) = init_with_source(dir.path(), &fhir.base_url());
    console_ok(&data, &["sync", "now", "--full"]);
    let (ok, sheet, stderr) = run_console(
        &data,
        &["account", "provision", "--label", "ER-1"],
        Some(&format!("{recovery}\n")),
    );
    assert!(ok, "{stderr}");
    let (account, credential) = (
        web::sheet_field(&sheet, "Account ID"),
        web::sheet_field(&sheet, "Credential"),
    );

    let mut command = akari();
    serve_args(&mut command, &data);
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut guard = ChildGuard(command.spawn().unwrap());
    let (https, _) = read_banner(&mut guard.0);
    console_ok(&data, &["mode", "start-drill", "--reason", "privacy drill"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let web = web::Web::new(&common::read_cert(&data), https);
        let form = web.get("/login").await;
        let declare = web
            .post(
                "/login",
                &[
                    ("csrf", form.csrf().as_str()),
                    ("account_id", account.as_str()),
                    ("credential", credential.as_str()),
                ],
            )
            .await;
        let search = web
            .post(
                "/declare",
                &[
                    ("csrf", declare.csrf().as_str()),
                    ("name", "灯 花子"),
                    ("staff_number", "N-20931"),
                    ("profession", "看護師"),
                    ("department", "救急外来"),
                    ("reason", "drill"),
                ],
            )
            .await;
        assert_eq!(
            search.location.as_deref(),
            Some("/search"),
            "{}",
            search.body
        );
        let csrf = search.csrf();
        let results = web
            .post(
                "/search",
                &[("csrf", csrf.as_str()), ("q", listed_id.as_str())],
            )
            .await;
        assert!(results.has(listed_name), "{}", results.body);
        let results = web
            .post(
                "/search",
                &[("csrf", csrf.as_str()), ("q", opened_id.as_str())],
            )
            .await;
        let link = results.links("/patients/").into_iter().next().unwrap();
        assert!(web.get(&link).await.has(opened_id));
    });
    console_ok(&data, &["mode", "end", "--reason", "drill over"]);

    // The episode's end wiped the key: naming needs it, and the error says so.
    let resolve = [
        "audit",
        "report",
        "1",
        "--resolve",
        "--purpose",
        "complaint 2026-014",
    ];
    let (ok, _, stderr) = run_console(&data, &resolve, Some("\n"));
    assert!(!ok);
    assert!(
        stderr.contains("naming patients needs the snapshot key")
            && stderr.contains("recovery key"),
        "{stderr}"
    );
    let (ok, report, stderr) = run_console(&data, &resolve, Some(&format!("{recovery}\n")));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("needs the snapshot key"), "{stderr}");
    assert!(
        report.contains(opened_name) && report.contains(opened_id),
        "{report}"
    );
    assert!(
        report.contains("Patients listed in search results or ward lists")
            && report.contains(listed_name),
        "{report}"
    );
    let status = console_ok(&data, &["status"]);
    assert!(
        status.contains("snapshot key: locked"),
        "locked again: {status}"
    );
    let plain = console_ok(&data, &["audit", "report", "1"]);
    assert!(
        !plain.contains(opened_name),
        "no names unless asked: {plain}"
    );

    // From a patient: the session that saw them in search results.
    let (ok, out, stderr) = run_console(
        &data,
        &[
            "audit",
            "report",
            "--patient",
            listed_id,
            "--purpose",
            "disclosure request",
        ],
        Some(&format!("{recovery}\n")),
    );
    assert!(ok, "{stderr}");
    assert!(out.contains(listed_name), "{out}");
    assert!(out.contains("Sessions that saw this patient: 1"), "{out}");
    assert!(
        out.contains(&account) && out.contains("listed in search results"),
        "{out}"
    );

    // Sign-off, then the CSV carries it (formula neutralised) and the patients.
    let (ok, _, stderr) = run_console(
        &data,
        &["audit", "sign-off", "1", "--verdict", "needs-check"],
        None,
    );
    assert!(!ok && stderr.contains("needs a comment"), "{stderr}");
    let out = console_ok(
        &data,
        &[
            "audit",
            "sign-off",
            "1",
            "--verdict",
            "needs-check",
            "--comment",
            "=cmd|' /C calc'!A0",
        ],
    );
    assert!(
        out.contains("episode 1 signed off: needs checking"),
        "{out}"
    );
    let csv = dir.path().join("episode1.csv");
    let pdf = dir.path().join("episode1.pdf");
    let out = console_ok(
        &data,
        &[
            "audit",
            "report",
            "1",
            "--csv",
            csv.to_str().unwrap(),
            "--pdf",
            pdf.to_str().unwrap(),
        ],
    );
    assert!(out.contains("Sign-off: needs checking"), "{out}");
    assert!(out.contains("written as PDF"), "{out}");
    // The printable PDF of the same review, read back.
    let text = Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8"])
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is installed");
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("監査レビュー報告") && text.contains("要確認") && text.contains(&account),
        "{text}"
    );
    assert!(text.contains("1 / 1 ページ"), "{text}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("section,episode,session_id"), "{text}");
    assert!(
        text.contains("sign_off") && text.contains("needs checking"),
        "{text}"
    );
    assert!(text.contains("'=cmd"), "formula neutralised: {text}");
    assert!(!text.contains(opened_name), "keys only without --resolve");

    // Every resolution and lookup is in the ledger, with who and why.
    let resolved = exported_entries(&data, dir.path(), "review_resolved");
    assert!(
        resolved
            .iter()
            .any(|e| e["action"]["purpose"] == "complaint 2026-014"
                && e["actor"]["kind"] == "console"),
        "{resolved:?}"
    );
    let lookups = exported_entries(&data, dir.path(), "review_patient_lookup");
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert_eq!(lookups[0]["action"]["purpose"], "disclosure request");
    assert!(lookups[0]["patient"].is_string());
    assert_eq!(
        exported_entries(&data, dir.path(), "review_sign_off").len(),
        1
    );
    stop(guard);
}
