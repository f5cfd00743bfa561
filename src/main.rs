//! The `akari` command: parses the command line and calls the library.

mod cli;
#[cfg(feature = "demo")]
mod demo;

use std::process::ExitCode;

use akari::config::{self, FlagOverride, Sources};
use akari::control::{self, ModeChange, Request, Response, SecretText};
use akari::datadir::DataDir;
use akari::{Config, Listeners};
use anyhow::Context;
use clap::Parser;
use cli::{
    AccountCommand, AdminCommand, AuditCommand, Cli, Command, ConfigCommand, InitArgs, LogFormat,
    ModeCommand, ServeArgs, SnapshotCommand, SyncCommand,
};
use tokio_util::sync::CancellationToken;

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
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args, cli.data_dir.as_deref()).await,
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
    DataDir::new(cli.data_dir()).check_readable()?;
    Ok(match send_to_node(cli.data_dir(), &request).await? {
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

fn sources(cli: &Cli, flags: Vec<FlagOverride>) -> Sources {
    Sources {
        data_dir: cli.data_dir().to_path_buf(),
        file: cli.config.clone(),
        env: Sources::process_env(),
        flags,
    }
}

/// Checks the data directory first (the config file lives in it), then loads.
fn load_config(cli: &Cli, flags: Vec<FlagOverride>) -> anyhow::Result<Config> {
    DataDir::new(cli.data_dir()).check_readable()?;
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
        DataDir::new(cli.data_dir()).public_key().display()
    );
    if let Some(key) = &init.snapshot_key {
        println!(
            "snapshot encryption key: {} (fingerprint {})",
            DataDir::new(cli.data_dir()).snapshot_public_key().display(),
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
