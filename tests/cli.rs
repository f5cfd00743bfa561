//! End-to-end tests that run the real `akari` binary: init, configuration errors, and
//! graceful shutdown on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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

fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `command`, which must fail; returns its standard error.
fn expect_failure(mut command: Command) -> String {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = ChildGuard(child);
    let status = wait_with_deadline(&mut guard.0, COMMAND_DEADLINE)
        .expect("akari should have failed promptly but kept running");
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

#[test]
fn help_version_and_default_config_are_printed() {
    let help = akari().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["init", "serve", "config", "demo"] {
        assert!(help.contains(command), "{help}");
    }
    let version = akari().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains(env!("CARGO_PKG_VERSION")));
    let default = akari().args(["config", "print-default"]).output().unwrap();
    assert!(default.status.success());
    assert_eq!(
        String::from_utf8_lossy(&default.stdout),
        akari::config::DEFAULT_CONFIG_TOML
    );
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
    let mut in_flight = false;
    for _ in 0..400 {
        let text = reqwest::get(&metrics_url)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("akari_http_requests_in_flight 1\n") {
            in_flight = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(in_flight, "the slow request never reached the server");

    let pid = nix::unistd::Pid::from_raw(guard.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let signalled = Instant::now();

    // New connections are refused while the slow request is still running.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(https).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the node kept accepting connections after SIGTERM");
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
        let status = wait_with_deadline(&mut guard.0, Duration::from_secs(DRAIN_SECS));
        (status, guard)
    })
    .await
    .unwrap()
    .0
    .expect("akari did not exit within the drain timeout");
    assert!(exit.success(), "exit status {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(DRAIN_SECS));
}
