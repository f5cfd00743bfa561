//! The `akari` command: parses the command line and calls the library.

mod cli;
mod console_command;
#[cfg(feature = "demo")]
mod demo;

use std::process::ExitCode;

use akari::config::{self, FlagOverride, Sources};
use akari::console;
use akari::datadir::DataDir;
use akari::{Config, Listeners};
use anyhow::Context;
use clap::Parser;
use cli::{
    AuditCommand, Cli, Command, ConfigCommand, DowntimeCommand, InitArgs, LogFormat, ServeArgs,
};
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo logs to a file in its data directory, which it knows only once it runs.
    #[cfg(feature = "demo")]
    let own_log = matches!(cli.command, Command::Demo(_));
    #[cfg(not(feature = "demo"))]
    let own_log = false;
    if !own_log {
        init_tracing(cli.log_format);
    }
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
        Command::Config { command } => config_command(&cli, command),
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args, cli.data_dir.as_deref(), cli.log_format).await,
        Command::Audit {
            command: AuditCommand::Verify { export, key },
        } => audit_verify(&cli, export, key),
        Command::Downtime {
            command: DowntimeCommand::Verify { dir, key },
        } => downtime_verify(dir, key),
        _ => match console_command::run(&cli).await {
            Some(result) => result,
            None => Err(anyhow::anyhow!("this command has no handler")),
        },
    }
}

/// `akari config print-default|check|show`.
fn config_command(cli: &Cli, command: &ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::PrintDefault => {
            print!("{}", config::DEFAULT_CONFIG_TOML);
            Ok(())
        }
        ConfigCommand::Check => check(cli),
        ConfigCommand::Show => {
            let config = load_config(cli, Vec::new())?;
            print!(
                "{}",
                toml::to_string(&config).context("cannot print the configuration")?
            );
            Ok(())
        }
    }
}

/// `akari downtime verify`: offline, no node or data directory needed; the export
/// directory or the zip archive downloaded from the admin page.
fn downtime_verify(dir: &std::path::Path, key: &std::path::Path) -> anyhow::Result<()> {
    let key = akari::datadir::load_public_key(key)?;
    let manifest = akari_downtime::sign::verify_path(dir, &key)
        .map_err(|e| anyhow::anyhow!("NOT VERIFIED: {e}"))?;
    println!(
        "verified: {} files signed by node key {} at {} ({})",
        manifest.files.len(),
        &manifest.node_key[..16],
        manifest.exported_at,
        manifest
            .episode
            .map(|e| format!("episode {e}"))
            .unwrap_or_else(|| "every episode".into())
    );
    for f in &manifest.files {
        println!("  {}  {} bytes  sha256 {}", f.name, f.bytes, f.sha256);
    }
    Ok(())
}

/// `akari audit verify`: offline, no node or data directory needed. Times are on the
/// data directory's clock when its configuration loads, else on the default clock, with
/// the RFC 3339 value beside them.
fn audit_verify(cli: &Cli, export: &std::path::Path, key: &std::path::Path) -> anyhow::Result<()> {
    let zone = load_config(cli, Vec::new())
        .map(|c| c.display.time_zone)
        .unwrap_or_default();
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
                "last checkpoint: size {} at {} ({})",
                report.last_checkpoint.size,
                zone.second(&report.last_checkpoint.time),
                report
                    .last_checkpoint
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
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
pub(crate) fn load_config(cli: &Cli, flags: Vec<FlagOverride>) -> anyhow::Result<Config> {
    DataDir::new(cli.data_dir()).check_readable()?;
    Ok(config::load(&sources(cli, flags))?)
}

/// A repeated command-line flag as a configuration list; `None` when not given.
fn list_flag<T: ToString>(
    key: &'static str,
    flag: &'static str,
    values: &[T],
) -> Option<FlagOverride> {
    (!values.is_empty()).then(|| FlagOverride {
        key,
        value: toml::Value::Array(
            values
                .iter()
                .map(|v| toml::Value::String(v.to_string()))
                .collect(),
        ),
        flag,
    })
}

fn init(cli: &Cli, args: &InitArgs) -> anyhow::Result<()> {
    let flags = [
        list_flag("tls.host_names", "--host-name", &args.host_names),
        list_flag("tls.ip_addresses", "--ip", &args.ip_addresses),
    ]
    .into_iter()
    .flatten()
    .collect();
    let config = config::load(&sources(cli, flags))?;
    let init = tokio::task::block_in_place(|| {
        akari::services::init_node(&config, &console::current_user())
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
