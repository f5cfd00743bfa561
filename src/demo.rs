//! `akari demo`: the whole story on one machine, on synthetic data only.
//!
//! 1. a synthetic Japanese hospital (`--patients`, default 2,000: inpatients in wards of 40
//!    to 60 beds, the rest outpatients) served as FHIR R4 by the in-process test server on
//!    loopback;
//! 2. a data directory (a kept temporary one, or an empty `--data-dir`), initialised as
//!    `akari init` does (signing key, TLS certificate, snapshot key pair, recovery key), its
//!    `[sync.source]` pointing at that server;
//! 3. the node started; its scheduler's first full sync goes through the real engine into
//!    the (encrypted) snapshot store while the node is in standby;
//! 4. three sealed demo accounts, their seal sheets printed here, and 5. a drill started —
//!    the same console requests `akari account provision` and `akari mode start-drill`
//!    send ([`akari::console::execute`]);
//! 6. the viewer over TLS (URL and certificate fingerprint printed) and, for the admin
//!    pages, an admin with a one-time enrolment code;
//! 7. Ctrl-C (or SIGTERM): the drill ends (opened accounts are retired), the review summary
//!    of the drill is printed, the audit ledger is exported and the export verified offline
//!    against the node's public key; then the node stops and the command exits 0.
//!
//! This is a module of the `akari` binary (not the library), so it may use `anyhow`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use akari::config::{self, FlagOverride, Sources};
use akari::console::{self, ModeChange, Request};
use akari::Listeners;
use akari::Secret;
use akari::Services;
use akari_accounts::event::Mode;
use akari_accounts::Console;
use akari_testkit::server::{FhirServer, ServerOptions};
use akari_testkit::synth::{Hospital, SynthConfig};
use anyhow::{bail, Context};

use crate::cli::{DemoArgs, DemoSource, LogFormat};
use rand::seq::SliceRandom;
use rand::Rng;
use tokio_util::sync::CancellationToken;

/// Labels of the demo's sealed accounts. The third is limited to one ward.
const ACCOUNT_LABELS: [&str; 3] = ["ER-1", "ER-2", "WARD-1"];
const ADMIN_ID: &str = "demo-admin";
const EXPORT_FILE: &str = "audit-export.ndjson";

/// Runs the demo until Ctrl-C / SIGTERM. `data_dir` is `--data-dir` (or `AKARI_DATA_DIR`),
/// given before or after `demo`; without it the demo makes a fresh temporary directory
/// (kept, its path printed), never the default node directory.
pub async fn run(
    args: &DemoArgs,
    data_dir: Option<&Path>,
    log_format: LogFormat,
) -> anyhow::Result<()> {
    let data_dir = match args.data_dir.as_deref().or(data_dir) {
        Some(dir) => prepare_given_dir(dir)?,
        None => tempfile::Builder::new()
            .prefix("akari-demo-")
            .tempdir()
            .context("cannot create a temporary directory for the demo")?
            .keep(),
    };
    let log = init_logging(&data_dir, log_format)?;
    println!("Akari demo: synthetic data only, no real patient.");
    println!("Data directory (kept after exit; delete it when done):");
    println!("  {}", data_dir.display());
    println!("Log (requests, syncs; only warnings and errors are shown here):");
    println!("  {}", log.display());

    // Stop signals are watched from the start, so Ctrl-C during set-up also ends cleanly.
    let stop = CancellationToken::new();
    spawn_signal_handler(stop.clone())?;

    // 1. The synthetic hospital, served on loopback by the FHIR test server or written as
    //    an SS-MIX2 storage. The FHIR server must outlive the demo.
    let (fhir, source_flags, scoped_ward) = hospital_source(args, &data_dir).await?;

    // 2. The node's data directory, configured to pull from that server, and the node
    //    serving it over TLS. Its sync scheduler pulls at once (standby).
    let https = bind_https(args.listen).await?;
    let port = https
        .local_addr()
        .context("the HTTPS listener has no address")?
        .port();
    let sources = demo_sources(&data_dir, source_flags, port);
    let config = config::load(&sources)?;
    let os_user = console::current_user();
    let recovery_key = init_data_dir(&config, &os_user).await?;
    let listeners = Listeners::bind_others(&config, https).await?;
    let node = akari::start(config, listeners, stop.clone())
        .await
        .context("starting the node failed")?;
    let services = node.services.clone();
    let console = Services::console(&os_user);

    // 3. Standby: the first (full) sync through the real engine.
    let out = wait_for_first_sync(&services, &stop).await?;
    print!("[3/6] Synced through the engine: {out}");

    // 4. and 5. Sealed accounts and the drill, as the console commands do them.
    let sheets =
        provision_and_start_drill(&services, &console, &scoped_ward, &recovery_key).await?;

    // 6. The viewer.
    let url = format!("https://localhost:{}/", node.https_addr.port());
    println!("[6/6] The viewer is serving {url}");
    println!("      certificate SHA-256: {}", node.cert_fingerprint);
    println!(
        "      (self-signed: compare this fingerprint with the one your browser shows, then \
         accept it)"
    );
    let admin = admin_instructions(&services, &console, &url, recovery_key.clone()).await;
    println!(
        "\nTry it: open {url}, log in with ER-1's account ID and credential from its sheet, \
         declare who you are, search a patient (kanji, kana — half-width ｶﾅ too — hospital ID \
         or birth date), open one (allergies come first), print a ward."
    );
    // Start-up is complete and the node listens: everything needed, in one place at the
    // bottom of the terminal.
    print!(
        "{}",
        summary(&url, &node.cert_fingerprint, &sheets, admin.as_ref(), &log)
    );
    println!(
        "Press Ctrl-C to end the drill: the review summary and the verified audit export \
         follow."
    );

    stop.cancelled().await;
    println!("\nEnding the drill…");
    let outcome = finish(&services, &console, &data_dir).await;
    node.wait().await.context("the node did not stop cleanly")?;
    drop(fhir);
    outcome
}

/// Step 1: the synthetic hospital (`--patients`), served on loopback by the FHIR test
/// server or written as an SS-MIX2 storage (with a stored delta) under the data directory.
/// Returns the server (`None` for SS-MIX2, which is files), the configuration that points
/// the node's source at it, and the ward the third account is limited to.
async fn hospital_source(
    args: &DemoArgs,
    data_dir: &Path,
) -> anyhow::Result<(Option<FhirServer>, Vec<(&'static str, toml::Value)>, String)> {
    let started = Instant::now();
    let patients = args.patients;
    let hospital = tokio::task::spawn_blocking(move || {
        Hospital::generate(SynthConfig {
            patients,
            ..SynthConfig::default()
        })
    })
    .await
    .context("generating the synthetic hospital failed")?;
    // The ward the third account is limited to (the snapshot is encrypted and locked in
    // standby, so the node itself cannot list its wards until someone logs in).
    let scoped_ward = hospital
        .truth()
        .into_values()
        .flat_map(|r| r.encounters.into_iter().filter_map(|e| e.ward))
        .min()
        .context("the synthetic hospital has no ward")?;
    let (fhir, source_flags) = match args.source {
        DemoSource::Fhir => {
            let fhir = tokio::task::spawn_blocking(move || {
                FhirServer::with_resources(ServerOptions::default(), hospital.resources())
            })
            .await
            .context("starting the FHIR test server failed")?;
            println!(
                "\n[1/6] Synthetic hospital: {patients} patients, {} FHIR resources, served at {} ({:.1} s)",
                fhir.resource_count(),
                fhir.base_url(),
                started.elapsed().as_secs_f64()
            );
            let base = toml::Value::String(fhir.base_url());
            (Some(fhir), vec![("sync.source.base_url", base)])
        }
        DemoSource::SsMix2 => {
            let dir = data_dir.join("demo-ss-mix2");
            let cfg = hospital.cfg.clone();
            let tree = dir.clone();
            let stats = tokio::task::spawn_blocking(move || {
                let s = akari_testkit::synth::ssmix2::write_ssmix2_tree(&cfg, &tree)?;
                let d = akari_testkit::synth::ssmix2::Ssmix2Delta::one_percent(
                    1,
                    akari_testkit::synth::jst_now(),
                );
                akari_testkit::synth::ssmix2::write_ssmix2_delta(&cfg, &d, &tree)?;
                std::io::Result::Ok(s)
            })
            .await
            .context("writing the SS-MIX2 storage failed")?
            .context("writing the SS-MIX2 storage failed")?;
            println!(
                "\n[1/6] Synthetic hospital: {patients} patients written as an SS-MIX2 storage ({} files) under {} ({:.1} s)",
                stats.files,
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            let path = |p: &str| toml::Value::String(dir.join(p).display().to_string());
            (
                None,
                vec![
                    ("sync.source.kind", toml::Value::String("ss-mix2".into())),
                    ("sync.source.root", path("standard")),
                    ("sync.source.extended_root", path("extended")),
                    ("sync.source.transaction_dir", path("transaction")),
                    (
                        "sync.source.extended_transaction_dir",
                        path("extended-transaction"),
                    ),
                ],
            )
        }
    };
    Ok((fhir, source_flags, scoped_ward))
}

/// Step 2: the data directory initialised as `akari init` does; returns the recovery key
/// (printed here, as `akari init` prints it once) when the snapshot is encrypted.
async fn init_data_dir(config: &config::Config, os_user: &str) -> anyhow::Result<Option<Secret>> {
    let init_config = config.clone();
    let user = os_user.to_owned();
    let init = tokio::task::spawn_blocking(move || akari::services::init_node(&init_config, &user))
        .await
        .context("initialising the data directory failed")??;
    let recovery_key = init
        .recovery_key
        .as_ref()
        .map(|k| Secret::new(k.to_string()));
    println!(
        "[2/6] Node initialised as `akari init` does: signing key, self-signed TLS \
         certificate{}",
        if init.snapshot_key.is_some() {
            ", snapshot key pair (the snapshot is stored encrypted)"
        } else {
            ""
        }
    );
    if let Some(key) = &recovery_key {
        println!(
            "      Recovery key (a real node prints it once, at `akari init`, to be written \
             down and locked away; it opens the encrypted snapshot):\n        {}",
            key.expose()
        );
    }
    Ok(recovery_key)
}

/// Steps 4 and 5: three sealed accounts (the third limited to `scoped_ward`), their
/// sheets printed, then the drill started — as the console commands do them.
async fn provision_and_start_drill(
    services: &Arc<Services>,
    console: &Console,
    scoped_ward: &str,
    recovery_key: &Option<Secret>,
) -> anyhow::Result<Vec<SheetLine>> {
    let mut sheets = Vec::new();
    println!(
        "[4/6] Three sealed demo accounts. In a hospital each sheet is printed, sealed in an \
         envelope and kept where the clinicians can reach it:\n"
    );
    for label in ACCOUNT_LABELS {
        let wards = if label.starts_with("WARD") {
            vec![scoped_ward.to_owned()]
        } else {
            Vec::new()
        };
        let sheet = execute(
            services,
            console,
            Request::AccountProvision {
                label: label.into(),
                wards,
                expires_at: None,
                recovery_key: recovery_key.clone(),
            },
        )
        .await?;
        println!("{}", boxed(&sheet));
        sheets.push(SheetLine {
            label,
            account_id: sheet_value(&sheet, "Account ID"),
            credential: zeroize::Zeroizing::new(sheet_value(&sheet, "Credential")),
        });
    }
    let out = execute(
        services,
        console,
        Request::Mode {
            change: ModeChange::StartDrill,
            reason: "Akari demo drill".into(),
        },
    )
    .await?;
    print!("[5/6] Drill started: {out}");
    Ok(sheets)
}

/// Ends the running episode; when none is running (it was ended before Ctrl-C, or is being
/// ended by someone else at this moment) says so and goes on to the review.
async fn end_drill_unless_ended(services: &Arc<Services>, console: &Console) -> anyhow::Result<()> {
    let running = || services.mode().is_some_and(Mode::allows_emergency_login);
    if running() {
        let ended = execute(
            services,
            console,
            Request::Mode {
                change: ModeChange::End,
                reason: "Akari demo finished (Ctrl-C)".into(),
            },
        )
        .await;
        match ended {
            Ok(out) => {
                print!("Drill ended: {out}");
                println!(
                    "Opened demo accounts are now retired; `akari account reseal` issues new \
                     sheets."
                );
                return Ok(());
            }
            // Ended by someone else between the look and the change: nothing is lost.
            Err(_) if !running() => {}
            Err(e) => return Err(e),
        }
    }
    let mode = services
        .mode()
        .map_or_else(|| "unknown".to_owned(), |m| m.to_string());
    println!(
        "The drill was already ended (mode is now {mode}); its opened accounts were retired \
         then."
    );
    Ok(())
}

/// After Ctrl-C: end the drill (unless it was already ended, on the admin page or with
/// `akari mode end`), print the review, export and verify the ledger.
async fn finish(
    services: &Arc<Services>,
    console: &Console,
    data_dir: &Path,
) -> anyhow::Result<()> {
    end_drill_unless_ended(services, console).await?;

    let episode = akari_accounts::review::episodes(&services.ledger)
        .context("reading the episodes from the audit ledger failed")?
        .into_iter()
        .rev()
        .find(|e| e.drill)
        .context("the audit ledger holds no drill episode")?;
    let report = execute(
        services,
        console,
        Request::AuditReport {
            episode: Some(episode.id),
            review: Default::default(),
        },
    )
    .await?;
    println!(
        "\n=== Review summary (akari audit report {}) ===",
        episode.id
    );
    print!("{report}");

    let path = data_dir.join(EXPORT_FILE);
    let out = execute(
        services,
        console,
        Request::AuditExport {
            from: None,
            to: None,
            format: "ndjson".into(),
            out: Some(path.clone()),
        },
    )
    .await?;
    println!("\n=== Audit ledger export ===");
    print!("{out}");
    let key = services.ledger.public_key();
    let verify_path = path.clone();
    let verified = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let file = std::fs::File::open(&verify_path)
            .with_context(|| format!("cannot read {}", verify_path.display()))?;
        Ok(akari_accounts::ledger::verify::verify(
            std::io::BufReader::new(file),
            &key,
        ))
    })
    .await??;
    match verified {
        Ok(report) => {
            println!(
                "Offline verification of {}: OK — entries {}..{} ({} entries), {} signed \
                 checkpoints, hash chain intact, signed by node key {}",
                path.display(),
                report.first_seq,
                report.last_seq,
                report.entries,
                report.checkpoints,
                hex::encode(key.as_bytes())
            );
            Ok(())
        }
        Err(e) => bail!("offline verification of {} FAILED: {e}", path.display()),
    }
}

/// Creates the demo admin (as `akari admin create` does) and says how to log in; returns
/// the password and enrolment code for the summary (`None`: no admin could be created).
async fn admin_instructions(
    services: &Arc<Services>,
    console: &Console,
    url: &str,
    recovery_key: Option<Secret>,
) -> Option<AdminLine> {
    let password = admin_password();
    let out = execute(
        services,
        console,
        Request::AdminCreate {
            admin_id: ADMIN_ID.into(),
            display_name: "Demo administrator".into(),
            password: Secret::new(password.as_str()),
            recovery_key,
        },
    )
    .await;
    match out {
        Ok(out) => {
            println!("\nAdmin pages: {url}admin/login");
            println!("      admin ID {ADMIN_ID}, password {}", password.as_str());
            for line in out.lines() {
                println!("      {line}");
            }
            println!(
                "      The admin pages need two factors: the password AND a passkey or security \
                 key with a PIN (WebAuthn). Enrol one at {url}admin/enrol with the code above; \
                 without one, use the console commands (`akari mode`, `akari account`, \
                 `akari audit`) instead."
            );
            Some(AdminLine {
                code: zeroize::Zeroizing::new(sheet_value(&out, "One-time enrolment code")),
                password,
            })
        }
        Err(e) => {
            println!("\nAdmin pages: no demo admin could be created ({e:#}).");
            None
        }
    }
}

/// One sealed demo account, for the summary.
struct SheetLine {
    label: &'static str,
    account_id: String,
    credential: zeroize::Zeroizing<String>,
}

/// The demo admin's secrets, for the summary.
struct AdminLine {
    password: zeroize::Zeroizing<String>,
    code: zeroize::Zeroizing<String>,
}

/// The value after the `:` on the first line of `text` that names `field`.
fn sheet_value(text: &str, field: &str) -> String {
    text.lines()
        .find(|l| l.contains(field))
        .and_then(|l| l.rsplit_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .unwrap_or_default()
}

/// What the demo prints once it is up, again, below the start-up output: the URLs, the
/// certificate fingerprint, the accounts' credentials, the admin's password and code.
fn summary(
    url: &str,
    fingerprint: &str,
    sheets: &[SheetLine],
    admin: Option<&AdminLine>,
    log: &Path,
) -> String {
    let mut out = String::from("\n=== Akari demo is up: summary ===\n");
    out.push_str(&format!("Viewer:               {url}\n"));
    out.push_str(&format!("Admin pages:          {url}admin/login\n"));
    out.push_str(&format!("Certificate SHA-256:  {fingerprint}\n"));
    out.push_str("Sealed accounts (label, account ID, credential):\n");
    for s in sheets {
        out.push_str(&format!(
            "  {:<8} {:<12} {}\n",
            s.label,
            s.account_id,
            s.credential.as_str()
        ));
    }
    if let Some(admin) = admin {
        out.push_str(&format!(
            "Admin:                {ADMIN_ID}, password {}, enrolment code {}\n",
            admin.password.as_str(),
            admin.code.as_str()
        ));
    }
    out.push_str(&format!("Log:                  {}\n", log.display()));
    out.push_str("=================================\n");
    out
}

/// The demo's log file in its data directory.
const LOG_FILE: &str = "demo.log";

/// Sends the demo's log to `<data dir>/demo.log` at the configured level (`AKARI_LOG`,
/// default info) and only warnings and errors to the terminal, so the request and sync
/// lines never push the seal sheets and the admin password off the screen.
fn init_logging(data_dir: &Path, format: LogFormat) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};
    // The data directory is private, as `akari init` makes it; so is the log.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let path = data_dir.join(LOG_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open the demo's log file {}", path.display()))?;
    let filter = EnvFilter::try_from_env("AKARI_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let to_file = fmt::layer()
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file));
    let to_file: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => to_file.boxed(),
        LogFormat::Json => to_file.json().boxed(),
    };
    let to_terminal = fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(LevelFilter::WARN);
    tracing_subscriber::registry()
        .with(to_file.with_filter(filter))
        .with(to_terminal)
        .try_init()
        .context("cannot set up the demo's log")?;
    Ok(path)
}

/// A password that passes the admin policy: 20 characters, letters, digits and symbols.
fn admin_password() -> zeroize::Zeroizing<String> {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGITS: &[u8] = b"23456789";
    const SYMBOLS: &[u8] = b"!#%+-=?@";
    let mut rng = rand::rngs::OsRng;
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .map(|set| set[rng.gen_range(0..set.len())])
        .collect();
    while chars.len() < 20 {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    zeroize::Zeroizing::new(chars.into_iter().map(char::from).collect())
}

/// Runs one console command on a blocking thread; a refusal becomes an error.
async fn execute(
    services: &Arc<Services>,
    console: &Console,
    request: Request,
) -> anyhow::Result<String> {
    let name = request.name();
    let response = console::execute_async(services.clone(), console.clone(), request).await;
    if response.ok {
        Ok(response.output)
    } else {
        bail!(
            "the `{name}` command failed: {}",
            response.error.unwrap_or_default()
        )
    }
}

/// A directory given with `--data-dir` must be new or empty: the demo never touches an
/// existing node's data.
fn prepare_given_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty; the demo needs a new or empty directory (it never \
                     touches an existing node's data). Choose another --data-dir, or leave \
                     it out for a temporary one",
                    dir.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => bail!("cannot read {}: {e}", dir.display()),
    }
    Ok(dir.to_path_buf())
}

/// The demo node's settings: the source (`source_flags`), WebAuthn on this origin,
/// metrics on a free loopback port. (Scheduled syncs pause by themselves during the drill.)
fn demo_sources(
    data_dir: &Path,
    source_flags: Vec<(&'static str, toml::Value)>,
    port: u16,
) -> Sources {
    let flag = |key: &'static str, value: toml::Value| FlagOverride {
        key,
        value,
        flag: "(demo)",
    };
    Sources {
        data_dir: data_dir.to_path_buf(),
        file: None,
        env: Vec::new(),
        flags: [flag(
            "metrics.listen",
            toml::Value::String("127.0.0.1:0".into()),
        )]
        .into_iter()
        .chain(source_flags.into_iter().map(|(k, v)| flag(k, v)))
        .chain([
            flag(
                "accounts.webauthn.rp_origin",
                toml::Value::String(format!("https://localhost:{port}")),
            ),
            flag(
                "accounts.webauthn.rp_id",
                toml::Value::String("localhost".into()),
            ),
        ])
        .collect(),
    }
}

/// Waits for the scheduler's first sync (it starts at once on a node in standby) and
/// describes it; a failed sync is an error, Ctrl-C meanwhile stops the demo.
async fn wait_for_first_sync(
    services: &Arc<Services>,
    stop: &CancellationToken,
) -> anyhow::Result<String> {
    loop {
        let status = services.engine.status();
        if status.last_success.is_some() && !status.running {
            if let Some(m) = services.reader.generation() {
                let locked = if services.reader.is_locked() {
                    "; encrypted at rest, locked until a sealed account or an admin logs in"
                } else {
                    ""
                };
                return Ok(format!(
                    "generation {} holds {} patients (full sync, {} items){locked}\n",
                    m.generation,
                    m.patients(),
                    m.total_items()
                ));
            }
        }
        if let (Some(e), false) = (&status.last_error, status.running) {
            bail!("the first sync from the demo FHIR server failed: {e}");
        }
        tokio::select! {
            () = stop.cancelled() => bail!("stopped before the first sync finished"),
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
        }
    }
}

async fn bind_https(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            println!("{listen} is in use; using a free port instead.");
            Ok(akari::server::bind("--listen", SocketAddr::new(listen.ip(), 0)).await?)
        }
        Err(source) => Err(akari::Error::Bind {
            key: "--listen",
            addr: listen,
            source,
        }
        .into()),
    }
}

fn spawn_signal_handler(stop: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        stop.cancel();
    });
    Ok(())
}

/// Frames a seal sheet so the three stand apart in the terminal.
fn boxed(text: &str) -> String {
    let rule = "-".repeat(72);
    let mut out = format!("{rule}\n");
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&rule);
    out
}
