//! The `akari` command: parses the command line and calls the library.

mod demo;

use std::path::PathBuf;
use std::process::ExitCode;

use akari::config::{self, FlagOverride, Sources};
use akari::control::{self, ModeChange, Request, Response, SecretText};
use akari::datadir::DataDir;
use akari::{Config, Listeners};
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

const ABOUT: &str =
    "Akari: emergency read-only EHR viewer for when the main hospital system is down.";
const LONG_ABOUT: &str = "\
Akari: emergency read-only EHR viewer for when the main hospital system is down.

A node keeps a read-only copy of essential patient data (allergies, medications, labs,
problems, ward census). During an outage or a drill, clinicians log in with sealed
emergency accounts; every access is recorded in a tamper-evident audit log first.

First time: `akari init --data-dir /var/lib/akari`, then `akari serve --data-dir /var/lib/akari`.
To try it out on this machine: `akari demo`.";

#[derive(Parser)]
#[command(name = "akari", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Directory holding this node's configuration, keys, certificate and databases.
    #[arg(
        long,
        global = true,
        env = "AKARI_DATA_DIR",
        default_value = "/var/lib/akari"
    )]
    data_dir: PathBuf,

    /// Configuration file to use instead of <data-dir>/akari.toml.
    #[arg(long, global = true, env = "AKARI_CONFIG")]
    config: Option<PathBuf>,

    /// Log format on standard error: `text` for people, `json` for log collectors.
    #[arg(long, global = true, env = "AKARI_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare a new node: create the data directory (readable only by this user), the
    /// node's signing key, a self-signed TLS certificate and a commented config file.
    /// Safe to re-run: existing files are never overwritten.
    Init(InitArgs),
    /// Start the node: serve the viewer over HTTPS until stopped with Ctrl-C or SIGTERM,
    /// letting requests in progress finish first.
    Serve(ServeArgs),
    /// Show or check the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Try Akari on this machine: a throw-away node on loopback with a synthetic hospital
    /// synced from an in-process FHIR source, three sealed demo accounts and a drill;
    /// Ctrl-C ends the drill and prints the review and the ledger verification.
    Demo(demo::DemoArgs),
    /// Show the node's mode, snapshot and sync state.
    Status,
    /// Unlock the encrypted snapshot on the running node with the recovery key.
    Unlock,
    /// Wipe the snapshot key from the running node's memory now.
    Lock,
    /// Pull from the main EHR now.
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// List, verify, pin or roll back snapshot generations.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Hospital IT administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Declare or end an emergency or drill (recorded as the console user).
    Mode {
        #[command(subcommand)]
        command: ModeCommand,
    },
    /// Sealed emergency accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The audit ledger: export, offline verification, review report, checkpoints.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Run one sync now (incremental from the last one; --full pulls everything).
    Now {
        #[arg(long)]
        full: bool,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// List the generations kept (the current one is marked *).
    List,
    /// Re-check a generation's items, counts and hash (default: the current one).
    Verify { generation: Option<u64> },
    /// Make an older generation current again (e.g. when the source was poisoned).
    Rollback { generation: u64 },
    /// Serve a quarantined generation (a sync that would have lost much of the data)
    /// after all, once you have checked that the loss is real.
    Promote { generation: u64 },
    /// Keep a generation whatever the retention (--unpin to release it).
    Pin {
        generation: u64,
        #[arg(long)]
        unpin: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator. The password is read twice from the terminal (or from
    /// --password-file); a one-time enrolment code is printed for registering a passkey.
    Create {
        /// Login ID: letters, digits, '-', '_' or '.'.
        #[arg(long)]
        id: String,
        /// Name shown in the audit log.
        #[arg(long)]
        name: String,
        /// Read the password from this file (first line) instead of the terminal.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ModeCommand {
    /// Standby → emergency: sealed accounts can log in.
    DeclareEmergency {
        #[arg(long)]
        reason: String,
    },
    /// Standby → drill: like an emergency, every event flagged as a drill.
    StartDrill {
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Emergency or drill → recovery: logins end, opened accounts are retired.
    End {
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Recovery → standby, once accounts are re-sealed and the review is done.
    Standby {
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create a sealed emergency account and print its seal sheet (the credential is
    /// shown only this once).
    Provision {
        /// Name staff recognise, e.g. ER-1 or 5F-West-2.
        #[arg(long)]
        label: String,
        /// Wards it may see (comma-separated or repeated); default all wards.
        #[arg(long, value_delimiter = ',')]
        wards: Vec<String>,
        /// Expiry: 2027-03-31 or an RFC 3339 time (UTC if no offset).
        #[arg(long, value_parser = parse_time)]
        expires: Option<DateTime<Utc>>,
    },
    /// List emergency accounts and their seal state.
    List,
    /// Issue a new credential and seal sheet (the old credential stops working).
    Reseal { account_id: String },
    /// Revoke an account for good.
    Revoke {
        account_id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Export ledger entries (with hashes and signed checkpoints in ndjson).
    Export {
        /// From this time (2027-01-31 or RFC 3339; UTC if no offset).
        #[arg(long, value_parser = parse_time)]
        from: Option<DateTime<Utc>>,
        /// Up to (not including) this time.
        #[arg(long, value_parser = parse_time)]
        to: Option<DateTime<Utc>>,
        /// ndjson (verifiable), fhir (R4 AuditEvent Bundle) or csv.
        #[arg(long, default_value = "ndjson")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify an ndjson export offline: the hash chain and every checkpoint signature.
    Verify {
        export: PathBuf,
        /// The node's public key (keys/node-signing.pub, or 64 hex digits in a file).
        #[arg(long, value_name = "PUBKEY_FILE")]
        key: PathBuf,
    },
    /// Summary of an episode for the incident report (without EPISODE: list them).
    Report { episode: Option<u64> },
    /// Sign a checkpoint now and print it; --write-to copies it to removable media.
    Checkpoint {
        #[arg(long, value_name = "DIR")]
        write_to: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the default configuration file, with an explanation of every setting.
    PrintDefault,
    /// Check the configuration, data directory, keys and certificate without starting;
    /// prints what is wrong and exits non-zero if anything is.
    Check,
    /// Print the configuration in effect (file + environment), secrets hidden.
    Show,
}

#[derive(Args)]
struct InitArgs {
    /// Host name clinicians type to reach this node (repeat for several); goes into the
    /// self-signed certificate. Default: localhost.
    #[arg(long = "host-name", value_name = "NAME")]
    host_names: Vec<String>,
    /// IP address clinicians use to reach this node (repeat for several); goes into the
    /// self-signed certificate. Default: 127.0.0.1 and ::1.
    #[arg(long = "ip", value_name = "ADDRESS")]
    ip_addresses: Vec<std::net::IpAddr>,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// HTTPS address and port, e.g. 0.0.0.0:443 (overrides server.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Metrics address and port (overrides metrics.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    metrics_listen: Option<String>,
    /// Also listen on plain HTTP here, only to redirect browsers to HTTPS.
    #[arg(long, value_name = "ADDR:PORT")]
    http_redirect_listen: Option<String>,
    /// Also accept TLS 1.2 for old browsers (overrides tls.allow_tls12).
    #[arg(long)]
    allow_tls12: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AKARI_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Init(args) => init(&cli, args),
        Command::Serve(args) => serve(&cli, args).await,
        Command::Config { command } => match command {
            ConfigCommand::PrintDefault => {
                print!("{}", config::DEFAULT_CONFIG_TOML);
                Ok(())
            }
            ConfigCommand::Check => check(&cli),
            ConfigCommand::Show => {
                let config = load_config(&cli, Vec::new())?;
                print!(
                    "{}",
                    toml::to_string(&config).context("cannot print the configuration")?
                );
                Ok(())
            }
        },
        Command::Demo(args) => demo::run(args, &cli.data_dir).await,
        Command::Status => console(&cli, Request::Status).await,
        Command::Unlock => {
            let key = prompt_secret("Recovery key: ")?;
            console(&cli, Request::Unlock { recovery_key: key }).await
        }
        Command::Lock => console(&cli, Request::Lock).await,
        Command::Sync { command } => match command {
            SyncCommand::Now { full } => console(&cli, Request::SyncNow { full: *full }).await,
        },
        Command::Snapshot { command } => {
            let request = match command {
                SnapshotCommand::List => Request::SnapshotList,
                SnapshotCommand::Verify { generation } => Request::SnapshotVerify {
                    generation: *generation,
                },
                SnapshotCommand::Rollback { generation } => Request::SnapshotRollback {
                    generation: *generation,
                },
                SnapshotCommand::Promote { generation } => Request::SnapshotPromote {
                    generation: *generation,
                },
                SnapshotCommand::Pin { generation, unpin } => Request::SnapshotPin {
                    generation: *generation,
                    pinned: !unpin,
                },
            };
            console(&cli, request).await
        }
        Command::Admin { command } => match command {
            AdminCommand::Create {
                id,
                name,
                password_file,
            } => {
                let password = read_password(password_file.as_deref())?;
                // Say what is wrong with the password before asking for anything else.
                akari_accounts::check_password_policy(&akari_accounts::Password::new(
                    password.expose(),
                ))
                .map_err(|e| anyhow::anyhow!("{e}; nothing was created"))?;
                let request = Request::AdminCreate {
                    admin_id: id.clone(),
                    display_name: name.clone(),
                    password,
                    recovery_key: None,
                };
                console(&cli, request).await
            }
        },
        Command::Mode { command } => {
            let (change, reason) = match command {
                ModeCommand::DeclareEmergency { reason } => (ModeChange::DeclareEmergency, reason),
                ModeCommand::StartDrill { reason } => (ModeChange::StartDrill, reason),
                ModeCommand::End { reason } => (ModeChange::End, reason),
                ModeCommand::Standby { reason } => (ModeChange::Standby, reason),
            };
            let request = Request::Mode {
                change,
                reason: reason.clone(),
            };
            console(&cli, request).await
        }
        Command::Account { command } => {
            let request = match command {
                AccountCommand::Provision {
                    label,
                    wards,
                    expires,
                } => Request::AccountProvision {
                    label: label.clone(),
                    wards: wards
                        .iter()
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty())
                        .collect(),
                    expires_at: *expires,
                    recovery_key: None,
                },
                AccountCommand::List => Request::AccountList,
                AccountCommand::Reseal { account_id } => Request::AccountReseal {
                    account_id: account_id.clone(),
                    recovery_key: None,
                },
                AccountCommand::Revoke { account_id, reason } => Request::AccountRevoke {
                    account_id: account_id.clone(),
                    reason: reason.clone(),
                },
            };
            console(&cli, request).await
        }
        Command::Audit { command } => match command {
            AuditCommand::Verify { export, key } => audit_verify(export, key),
            AuditCommand::Export {
                from,
                to,
                format,
                out,
            } => {
                // Fail on a bad format before touching the node.
                format
                    .parse::<akari_accounts::ledger::ExportFormat>()
                    .map_err(anyhow::Error::msg)?;
                let out = match out {
                    Some(path) => Some(
                        std::path::absolute(path)
                            .with_context(|| format!("bad --out path {}", path.display()))?,
                    ),
                    None => None,
                };
                let request = Request::AuditExport {
                    from: *from,
                    to: *to,
                    format: format.clone(),
                    out,
                };
                console(&cli, request).await
            }
            AuditCommand::Report { episode } => {
                console(&cli, Request::AuditReport { episode: *episode }).await
            }
            AuditCommand::Checkpoint { write_to } => {
                let write_to = match write_to {
                    Some(dir) => Some(
                        std::path::absolute(dir)
                            .with_context(|| format!("bad --write-to path {}", dir.display()))?,
                    ),
                    None => None,
                };
                console(&cli, Request::AuditCheckpoint { write_to }).await
            }
        },
    }
}

/// Runs a console command: through the running node's control socket if one answers,
/// otherwise on the data directory's files opened in this process.
async fn console(cli: &Cli, request: Request) -> anyhow::Result<()> {
    let mut response = run_console(cli, request.clone()).await?;
    if response.needs_recovery_key {
        if let Some(error) = &response.error {
            eprintln!("{error}");
        }
        let key = prompt_secret("Recovery key (from the sheet printed at `akari init`): ")?;
        if let Some(request) = with_recovery_key(request, key) {
            response = run_console(cli, request).await?;
        }
    }
    print!("{}", response.output);
    match response.error {
        Some(error) if !response.ok => Err(anyhow::Error::msg(error)),
        _ if !response.ok => Err(anyhow::Error::msg("the command failed")),
        _ => Ok(()),
    }
}

/// The same request carrying the recovery key, for commands that accept one.
fn with_recovery_key(request: Request, key: SecretText) -> Option<Request> {
    match request {
        Request::AdminCreate {
            admin_id,
            display_name,
            password,
            ..
        } => Some(Request::AdminCreate {
            admin_id,
            display_name,
            password,
            recovery_key: Some(key),
        }),
        Request::AccountProvision {
            label,
            wards,
            expires_at,
            ..
        } => Some(Request::AccountProvision {
            label,
            wards,
            expires_at,
            recovery_key: Some(key),
        }),
        Request::AccountReseal { account_id, .. } => Some(Request::AccountReseal {
            account_id,
            recovery_key: Some(key),
        }),
        _ => None,
    }
}

async fn run_console(cli: &Cli, request: Request) -> anyhow::Result<Response> {
    DataDir::new(&cli.data_dir).check_readable()?;
    Ok(match send_to_node(&cli.data_dir, &request).await? {
        Some(response) => response,
        None => {
            let config = load_config(cli, Vec::new())?;
            tokio::task::spawn_blocking(move || -> anyhow::Result<Response> {
                let services = akari::Services::open(&config)?;
                let console = akari_accounts::Console::new(control::current_user());
                Ok(control::execute(&services, &console, request))
            })
            .await
            .context("the command failed")??
        }
    })
}

async fn send_to_node(
    data_dir: &std::path::Path,
    request: &Request,
) -> anyhow::Result<Option<Response>> {
    let data_dir = data_dir.to_owned();
    let request = request.clone();
    Ok(
        tokio::task::spawn_blocking(move || control::send(&data_dir, &request))
            .await
            .context("the control socket client failed")??,
    )
}

/// Reads the new admin's password: from a file, or twice from the terminal without echo
/// (or two lines of standard input when it is not a terminal).
fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<SecretText> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            anyhow::bail!("the password file {} is empty", path.display());
        }
        return Ok(SecretText::new(line));
    }
    let first = prompt_secret("New admin password: ")?;
    let second = prompt_secret("Repeat the password: ")?;
    if first.expose() != second.expose() {
        anyhow::bail!("the two passwords differ; nothing was created, try again");
    }
    if first.expose().is_empty() {
        anyhow::bail!("no password given; nothing was created");
    }
    Ok(first)
}

fn prompt_secret(prompt: &str) -> anyhow::Result<SecretText> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        let saved =
            nix::sys::termios::tcgetattr(&stdin).context("cannot read terminal settings")?;
        let mut quiet = saved.clone();
        quiet
            .local_flags
            .remove(nix::sys::termios::LocalFlags::ECHO);
        nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &quiet)
            .context("cannot turn off terminal echo")?;
        Some(saved)
    } else {
        None
    };
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &saved);
        eprintln!();
    }
    read.context("cannot read the password")?;
    Ok(SecretText::new(line.trim_end_matches(['\n', '\r'])))
}

/// `akari audit verify`: offline, no node or data directory needed.
fn audit_verify(export: &std::path::Path, key: &std::path::Path) -> anyhow::Result<()> {
    let key = akari::datadir::load_public_key(key)?;
    let file = std::fs::File::open(export)
        .with_context(|| format!("cannot open the export {}", export.display()))?;
    match akari_accounts::ledger::verify(std::io::BufReader::new(file), &key) {
        Ok(report) => {
            println!(
                "OK: entries {}..{} ({} entries) verify: hash chain intact, {} signed checkpoints valid",
                report.first_seq, report.last_seq, report.entries, report.checkpoints
            );
            println!(
                "last checkpoint: size {} at {}",
                report.last_checkpoint.size,
                report.last_checkpoint.time.to_rfc3339()
            );
            if report.clock_back_entries > 0 {
                println!(
                    "note: {} entries carry a time earlier than the entry before them (the clock went back)",
                    report.clock_back_entries
                );
            }
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("{} does NOT verify: {e}", export.display())),
    }
}

/// `2027-03-31` (midnight UTC) or an RFC 3339 time; without an offset, UTC.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    Err(format!(
        "`{text}` is not a time: use 2027-03-31, 2027-03-31T09:00:00 (UTC) or 2027-03-31T09:00:00+09:00"
    ))
}

fn sources(cli: &Cli, flags: Vec<FlagOverride>) -> Sources {
    Sources {
        data_dir: cli.data_dir.clone(),
        file: cli.config.clone(),
        env: Sources::process_env(),
        flags,
    }
}

/// Checks the data directory first (the config file lives in it), then loads.
fn load_config(cli: &Cli, flags: Vec<FlagOverride>) -> anyhow::Result<Config> {
    DataDir::new(&cli.data_dir).check_readable()?;
    Ok(config::load(&sources(cli, flags))?)
}

fn init(cli: &Cli, args: &InitArgs) -> anyhow::Result<()> {
    let mut flags = Vec::new();
    if !args.host_names.is_empty() {
        flags.push(FlagOverride {
            key: "tls.host_names",
            value: toml::Value::Array(
                args.host_names
                    .iter()
                    .cloned()
                    .map(toml::Value::String)
                    .collect(),
            ),
            flag: "--host-name",
        });
    }
    if !args.ip_addresses.is_empty() {
        flags.push(FlagOverride {
            key: "tls.ip_addresses",
            value: toml::Value::Array(
                args.ip_addresses
                    .iter()
                    .map(|ip| toml::Value::String(ip.to_string()))
                    .collect(),
            ),
            flag: "--ip",
        });
    }
    let config = config::load(&sources(cli, flags))?;
    let init = tokio::task::block_in_place(|| {
        akari::services::init_node(&config, &control::current_user())
    })?;
    let report = &init.report;
    for path in &report.created {
        println!("created  {}", path.display());
    }
    for path in &report.kept {
        println!("kept     {}", path.display());
    }
    let material = akari::tls::TlsMaterial::load(&config.tls_cert_path(), &config.tls_key_path())?;
    println!("certificate SHA-256: {}", material.fingerprint());
    println!(
        "node public key (for `akari audit verify --key`): {}",
        DataDir::new(&cli.data_dir).public_key().display()
    );
    if let Some(key) = &init.snapshot_key {
        println!(
            "snapshot encryption key: {} (fingerprint {})",
            DataDir::new(&cli.data_dir).snapshot_public_key().display(),
            key.fingerprint_hex()
        );
    }
    if let Some(note) = init.note {
        println!("note: {note}");
    }
    if let Some(recovery) = &init.recovery_key {
        println!();
        println!("RECOVERY KEY (shown only now) / リカバリーキー（この一度だけ表示）:");
        println!();
        println!("    {recovery}");
        println!();
        println!("Write it on paper and keep it in IT's safe. It unlocks the encrypted snapshot");
        println!("and is asked for by `akari admin create`, `akari unlock` and, when no admin is");
        println!("logged in, `akari account provision|reseal`. It is not stored anywhere.");
        println!("紙に書き写し、情報システム部門の金庫に保管してください。");
        println!();
    }
    println!("Next: check with `akari config check`, then start with `akari serve`.");
    Ok(())
}

fn check(cli: &Cli) -> anyhow::Result<()> {
    let config = load_config(cli, Vec::new())?;
    let material = akari::tls::TlsMaterial::load(&config.tls_cert_path(), &config.tls_key_path())?;
    akari::tls::server_config(&material, config.tls.allow_tls12)?;
    akari::datadir::load_signing_key(&DataDir::new(&config.data_dir).signing_key())?;
    println!("configuration OK");
    println!(
        "  HTTPS on {} (TLS 1.3{})",
        config.server.listen,
        if config.tls.allow_tls12 {
            " and 1.2"
        } else {
            " only"
        }
    );
    println!("  certificate SHA-256: {}", material.fingerprint());
    Ok(())
}

fn serve_flags(args: &ServeArgs) -> Vec<FlagOverride> {
    let mut flags = Vec::new();
    let mut push = |key, flag, value: &Option<String>| {
        if let Some(value) = value {
            flags.push(FlagOverride {
                key,
                value: toml::Value::String(value.clone()),
                flag,
            });
        }
    };
    push("server.listen", "--listen", &args.listen);
    push("metrics.listen", "--metrics-listen", &args.metrics_listen);
    push(
        "server.http_redirect_listen",
        "--http-redirect-listen",
        &args.http_redirect_listen,
    );
    if args.allow_tls12 {
        flags.push(FlagOverride {
            key: "tls.allow_tls12",
            value: toml::Value::Boolean(true),
            flag: "--allow-tls12",
        });
    }
    flags
}

async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let config = load_config(cli, serve_flags(args))?;
    let https = akari::server::bind("server.listen", config.server.listen).await?;
    serve_until_signal(config, https).await
}

async fn serve_until_signal(config: Config, https: tokio::net::TcpListener) -> anyhow::Result<()> {
    let listeners = Listeners::bind_others(&config, https).await?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone())?;
    let node = akari::start(config, listeners, shutdown).await?;
    println!(
        "Akari {} is serving https://{}/",
        env!("CARGO_PKG_VERSION"),
        node.https_addr
    );
    println!("  certificate SHA-256: {}", node.cert_fingerprint);
    if let Some(addr) = node.metrics_addr {
        println!("  metrics: http://{addr}/metrics");
    }
    if let Some(addr) = node.http_redirect_addr {
        println!("  plain HTTP redirect: http://{addr}/");
    }
    println!("Stop with Ctrl-C or SIGTERM; requests in progress are allowed to finish.");
    node.wait().await?;
    Ok(())
}

/// Cancels `shutdown` on SIGINT or SIGTERM. Installed before serving starts, so a signal
/// arriving at any later moment shuts down gracefully.
fn spawn_signal_handler(shutdown: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        tracing::info!(signal = name, "shutting down");
        shutdown.cancel();
    });
    Ok(())
}
