//! The `akari` command: parses the command line and calls the library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use akari::config::{self, FlagOverride, Sources};
use akari::datadir::DataDir;
use akari::{Config, Listeners};
use anyhow::Context;
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
    /// Try Akari on this machine: make a throw-away data directory and serve a node on
    /// this computer only (loopback), printing its address and certificate fingerprint.
    Demo(DemoArgs),
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

#[derive(Args)]
struct DemoArgs {
    /// Address and port for the demo node; a free port is chosen if this one is taken.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
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
        Command::Demo(args) => demo(args).await,
    }
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
    let report = DataDir::new(&cli.data_dir).init(&config)?;
    for path in &report.created {
        println!("created  {}", path.display());
    }
    for path in &report.kept {
        println!("kept     {}", path.display());
    }
    let material = akari::tls::TlsMaterial::load(&config.tls_cert_path(), &config.tls_key_path())?;
    println!("certificate SHA-256: {}", material.fingerprint());
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

async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("akari-demo-")
        .tempdir()
        .context("cannot create a temporary directory for the demo")?;
    let data_dir = dir.path().join("data");
    let sources = Sources {
        data_dir: data_dir.clone(),
        file: None,
        env: Vec::new(),
        flags: vec![FlagOverride {
            key: "metrics.listen",
            value: toml::Value::String("127.0.0.1:0".to_owned()),
            flag: "(demo)",
        }],
    };
    DataDir::new(&data_dir).init(&config::load(&sources)?)?;
    let config = config::load(&sources)?;
    println!(
        "Demo data directory (deleted on exit): {}",
        data_dir.display()
    );
    let https = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            println!("{} is in use; using a free port instead.", args.listen);
            akari::server::bind("--listen", SocketAddr::new(args.listen.ip(), 0)).await?
        }
        Err(source) => {
            return Err(akari::Error::Bind {
                key: "--listen",
                addr: args.listen,
                source,
            }
            .into())
        }
    };
    serve_until_signal(config, https).await
}
