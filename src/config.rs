//! The node's configuration: the root [`Config`] nests one section per concern, and each
//! crate owns its own section (`[sync]`, `[accounts]`, `[web]`).
//!
//! Sources, later ones winning: built-in defaults → the TOML file (`<data>/akari.toml` by
//! default) → `AKARI_<SECTION>__<KEY>` environment variables → command-line flags. Any key
//! `X` may be given as `X_file` to read its value from a file (see [`crate::secret`]).
//! Every error names the key and where it came from, and says what is expected.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod load;
pub use load::{load, FlagOverride, Sources};

/// Prefix of environment variables that set configuration keys.
pub const ENV_PREFIX: &str = "AKARI_";
/// Separates the section from the key in environment variable names.
pub const ENV_SEPARATOR: &str = "__";
/// Suffix of keys whose value is read from a file.
pub const FILE_SUFFIX: &str = "_file";

/// The commented default configuration written by `akari init` and shown by
/// `akari config print-default`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default-config.toml");

/// The whole configuration of a node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data directory. Chosen on the command line (`--data-dir`), never in the file
    /// that lives inside it.
    #[serde(skip)]
    pub data_dir: PathBuf,
    pub server: ServerConfig,
    pub tls: TlsConfig,
    pub metrics: MetricsConfig,
    pub sync: akari_sync::Config,
    pub accounts: akari_accounts::Config,
    /// `[ledger]`: the audit ledger (checkpoints, removable path, remote copy, review
    /// thresholds in `[ledger.review]`).
    pub ledger: akari_accounts::ledger::LedgerConfig,
    pub web: akari_web::Config,
    pub display: DisplayConfig,
    pub print: PrintConfig,
}

/// `[print]`: the node's own PDF printouts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrintConfig {
    /// A .ttf, .otf or .ttc font with Japanese glyphs for PDFs (relative to the data
    /// directory). Unset: the first Japanese font of Debian's packages (fonts-noto-cjk,
    /// IPAex, ...). Read once at start; without one the node serves HTML printing only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<PathBuf>,
}

/// `[display]`: how people read the node's times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisplayConfig {
    /// The hospital's IANA time zone: every time a person reads (pages, seal sheets,
    /// console reports) is shown in it with its abbreviation. Machine formats keep RFC 3339.
    pub time_zone: akari_accounts::Zone,
    /// `[display.vital_limits]`: when a vital sign is highlighted (▼ L, ▲ H, critical).
    pub vital_limits: akari_web::display::VitalLimits,
    /// `[display.dose_times]`: the meal and bed times timings such as 朝昼夕食後 or
    /// 就寝前 are read against for the doses due next.
    pub dose_times: DoseTimesConfig,
}

/// `[display.dose_times]`: wall-clock times on the hospital's clock, "HH:MM".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoseTimesConfig {
    /// 朝 (breakfast).
    pub morning: String,
    /// 昼 (lunch).
    pub noon: String,
    /// 夕 (supper).
    pub evening: String,
    /// 就寝前 (bedtime).
    pub bedtime: String,
}

impl Default for DoseTimesConfig {
    fn default() -> Self {
        DoseTimesConfig {
            morning: "08:00".into(),
            noon: "12:00".into(),
            evening: "18:00".into(),
            bedtime: "21:00".into(),
        }
    }
}

impl DoseTimesConfig {
    /// The times, or the first that is not "HH:MM" with its key.
    pub fn times(&self) -> Result<akari_web::display::DoseTimes, ConfigError> {
        let parse = |key: &str, v: &str| {
            chrono::NaiveTime::parse_from_str(v.trim(), "%H:%M").map_err(|_| {
                ConfigError::invalid(
                    &format!("display.dose_times.{key}"),
                    format!("`{v}` is not a time; expected hours and minutes such as \"08:00\""),
                )
            })
        };
        Ok(akari_web::display::DoseTimes {
            morning: parse("morning", &self.morning)?,
            noon: parse("noon", &self.noon)?,
            evening: parse("evening", &self.evening)?,
            bedtime: parse("bedtime", &self.bedtime)?,
        })
    }
}

/// `[server]`: the HTTPS listener and shutdown behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port of the HTTPS listener. Port 0 picks a free port (tests).
    #[serde(with = "socket_addr")]
    pub listen: SocketAddr,
    /// Optional plain-HTTP listener that only redirects browsers to HTTPS.
    #[serde(with = "opt_socket_addr", skip_serializing_if = "Option::is_none")]
    pub http_redirect_listen: Option<SocketAddr>,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish (1–3600 s).
    pub drain_timeout_secs: u64,
    /// A TLS handshake must finish within this many seconds (1–300).
    pub handshake_timeout_secs: u64,
    /// An HTTP/1 request's headers must arrive within this many seconds of the connection
    /// becoming ready for them, which also ends an idle keep-alive connection (1–300).
    pub header_read_timeout_secs: u64,
    /// A connection with no request in progress and no bytes either way for this many
    /// seconds is closed (1–3600).
    pub idle_timeout_secs: u64,
    /// At most this many client connections are open at once; at the cap a new one takes
    /// the place of the longest idle (16–1,000,000).
    pub max_connections: usize,
    /// File descriptors kept free for the node's own files: the connection cap is lowered
    /// to the open-file limit minus this (16–100,000).
    pub fd_reserve: usize,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    /// Empty: the header is ignored and the peer's address is recorded.
    pub trusted_proxies: Vec<crate::connections::ProxyNet>,
    /// Mounts `GET /_test/slow?ms=N` to exercise graceful shutdown. Exists only in builds
    /// with the `test-hooks` feature; elsewhere the key is unknown and refused.
    #[cfg(feature = "test-hooks")]
    #[serde(skip_serializing_if = "is_false")]
    pub test_slow_route: bool,
}

/// `[tls]`: certificate and protocol versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain. Default: `<data>/tls/cert.pem` (self-signed by `akari init`).
    /// Relative paths are relative to the data directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1). Default: `<data>/tls/key.pem`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_path: Option<PathBuf>,
    /// Also accept TLS 1.2 (ECDHE key exchange with AEAD ciphers only). Off: TLS 1.3 only.
    pub allow_tls12: bool,
    /// DNS names put into the self-signed certificate by `akari init`.
    pub host_names: Vec<String>,
    /// IP addresses put into the self-signed certificate by `akari init`.
    pub ip_addresses: Vec<IpAddr>,
}

/// `[metrics]`: the Prometheus listener, separate from the HTTPS one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Plain HTTP, so keep it on loopback unless a firewall protects it.
    #[serde(with = "socket_addr")]
    pub listen: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8443)),
            http_redirect_listen: None,
            drain_timeout_secs: 30,
            handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 4096,
            fd_reserve: 256,
            trusted_proxies: Vec::new(),
            #[cfg(feature = "test-hooks")]
            test_slow_route: false,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_path: None,
            key_path: None,
            allow_tls12: false,
            host_names: vec!["localhost".to_owned()],
            ip_addresses: vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        }
    }
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 9464)),
        }
    }
}

#[cfg(feature = "test-hooks")]
fn is_false(value: &bool) -> bool {
    !*value
}

impl Config {
    /// Where the TLS certificate is read from.
    pub fn tls_cert_path(&self) -> PathBuf {
        self.resolve(self.tls.cert_path.as_deref(), crate::datadir::TLS_CERT)
    }

    /// Where the TLS private key is read from.
    pub fn tls_key_path(&self) -> PathBuf {
        self.resolve(self.tls.key_path.as_deref(), crate::datadir::TLS_KEY)
    }

    /// True when the certificate is the node's own (generated by `akari init`).
    pub fn uses_generated_certificate(&self) -> bool {
        self.tls.cert_path.is_none()
    }

    fn resolve(&self, configured: Option<&Path>, default: &str) -> PathBuf {
        match configured {
            Some(path) => self.data_dir.join(path),
            None => self.data_dir.join(default),
        }
    }

    /// Checks rules that span keys or ranges that types cannot express, section by
    /// section; the first broken rule is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_server()?;
        self.validate_tls_files()?;
        self.validate_metrics()?;
        self.validate_web()?;
        self.validate_display()?;
        self.display.dose_times.times()?;
        self.validate_sync()?;
        self.validate_tls_names()
    }

    /// `[server]`: timeouts and connection limits within their ranges.
    fn validate_server(&self) -> Result<(), ConfigError> {
        if !(1..=3600).contains(&self.server.drain_timeout_secs) {
            return Err(ConfigError::invalid(
                "server.drain_timeout_secs",
                format!(
                    "{} is out of range; expected a number of seconds from 1 to 3600",
                    self.server.drain_timeout_secs
                ),
            ));
        }
        let ranges: [(&str, u64, u64, u64); 5] = [
            (
                "server.handshake_timeout_secs",
                self.server.handshake_timeout_secs,
                1,
                300,
            ),
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
                1,
                300,
            ),
            (
                "server.idle_timeout_secs",
                self.server.idle_timeout_secs,
                1,
                3600,
            ),
            (
                "server.max_connections",
                self.server.max_connections as u64,
                16,
                1_000_000,
            ),
            (
                "server.fd_reserve",
                self.server.fd_reserve as u64,
                16,
                100_000,
            ),
        ];
        for (key, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                return Err(ConfigError::invalid(
                    key,
                    format!("{value} is out of range; expected a number from {min} to {max}"),
                ));
            }
        }
        Ok(())
    }

    /// `[tls]`: a configured certificate comes with its private key and the other way round.
    fn validate_tls_files(&self) -> Result<(), ConfigError> {
        match (&self.tls.cert_path, &self.tls.key_path) {
            (Some(_), None) => Err(ConfigError::invalid(
                "tls.key_path",
                "missing: tls.cert_path is set, so tls.key_path must name its private key",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                "tls.cert_path",
                "missing: tls.key_path is set, so tls.cert_path must name its certificate",
            )),
            _ => Ok(()),
        }
    }

    /// `[metrics]`: an enabled metrics listener has its own address.
    fn validate_metrics(&self) -> Result<(), ConfigError> {
        if self.metrics.enabled
            && self.metrics.listen == self.server.listen
            && self.server.listen.port() != 0
        {
            return Err(ConfigError::invalid(
                "metrics.listen",
                "is the same address as server.listen; the metrics listener needs its own port",
            ));
        }
        Ok(())
    }

    /// `[display.vital_limits]`: each kind's limits in order.
    fn validate_display(&self) -> Result<(), ConfigError> {
        self.display
            .vital_limits
            .check()
            .map_err(|m| ConfigError::invalid("display.vital_limits", m))
    }

    /// `[web]`: the staleness threshold within its range.
    fn validate_web(&self) -> Result<(), ConfigError> {
        if !(1..=10_080).contains(&self.web.stale_after_minutes) {
            return Err(ConfigError::invalid(
                "web.stale_after_minutes",
                format!(
                    "{} is out of range; expected minutes from 1 to 10080 (one week)",
                    self.web.stale_after_minutes
                ),
            ));
        }
        Ok(())
    }

    /// `[sync]`: the section's own rules, reported under `sync.`.
    fn validate_sync(&self) -> Result<(), ConfigError> {
        self.sync
            .validate()
            .map_err(|(key, message)| ConfigError::Invalid {
                key: format!("sync.{key}"),
                origin: "the configuration".to_owned(),
                message,
            })
    }

    /// `[tls]`: the certificate names at least one host name or address.
    fn validate_tls_names(&self) -> Result<(), ConfigError> {
        if self.tls.host_names.is_empty() && self.tls.ip_addresses.is_empty() {
            return Err(ConfigError::invalid(
                "tls.host_names",
                "tls.host_names and tls.ip_addresses are both empty; the certificate needs \
                 at least one name or address clients use to reach the node",
            ));
        }
        Ok(())
    }
}

/// Why configuration could not be loaded. Messages name the key or file and what is
/// expected; they never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    ReadFile { path: PathBuf, source: io::Error },
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration `{key}` (set in {origin}): {message}")]
    Invalid {
        key: String,
        origin: String,
        message: String,
    },
    #[error("cannot read `{key}_file` (set in {origin}): {path}: {source}")]
    KeyFile {
        key: String,
        origin: String,
        path: PathBuf,
        source: io::Error,
    },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
}

impl ConfigError {
    fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            origin: "the configuration".to_owned(),
            message: message.into(),
        }
    }
}

const ADDR_EXPECTED: &str =
    "expected an IP address and a port from 1 to 65535, like \"0.0.0.0:8443\" or \"[::]:8443\"";

fn parse_socket_addr<E: serde::de::Error>(text: &str) -> Result<SocketAddr, E> {
    text.parse().map_err(|_| {
        E::custom(format!(
            "\"{text}\" is not a valid listen address; {ADDR_EXPECTED}"
        ))
    })
}

mod socket_addr {
    use super::*;

    pub fn serialize<S: serde::Serializer>(addr: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(addr)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
        let text = String::deserialize(d)?;
        parse_socket_addr(&text)
    }
}

mod opt_socket_addr {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        addr: &Option<SocketAddr>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match addr {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        parse_socket_addr(&text).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path, file_text: Option<&str>, env: &[(&str, &str)]) -> Sources {
        let file = file_text.map(|text| {
            let path = dir.join("test.toml");
            std::fs::write(&path, text).unwrap();
            path
        });
        Sources {
            data_dir: dir.to_owned(),
            file,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            flags: Vec::new(),
        }
    }

    #[test]
    fn default_config_file_matches_built_in_defaults() {
        let parsed: Config = toml::from_str(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn env_overrides_file_and_flags_override_env() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(
            dir.path(),
            Some("[server]\nlisten = \"127.0.0.1:1000\"\ndrain_timeout_secs = 5\n"),
            &[
                ("AKARI_SERVER__LISTEN", "127.0.0.1:2000"),
                ("AKARI_TLS__ALLOW_TLS12", "true"),
                ("AKARI_DATA_DIR", "/ignored/here"),
            ],
        );
        let config = load(&s).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(config.server.drain_timeout_secs, 5);
        assert!(config.tls.allow_tls12);
        s.flags.push(FlagOverride {
            key: "server.listen",
            value: toml::Value::String("127.0.0.1:3000".into()),
            flag: "--listen",
        });
        let config = load(&s).unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:3000".parse().unwrap());
    }

    #[test]
    fn the_display_time_zone_is_an_iana_name_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let config = load(&sources(dir.path(), None, &[])).unwrap();
        assert_eq!(config.display.time_zone.name(), "Asia/Tokyo");
        let config = load(&sources(
            dir.path(),
            Some("[display]\ntime_zone = \"America/New_York\"\n"),
            &[],
        ))
        .unwrap();
        assert_eq!(config.display.time_zone.name(), "America/New_York");
        let err = load(&sources(
            dir.path(),
            Some("[display]\ntime_zone = \"Asia/Tokio\"\n"),
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("display.time_zone")
                && err.contains("`Asia/Tokio`")
                && err.contains("IANA"),
            "{err}"
        );
    }

    #[test]
    fn vital_limits_default_to_news2_and_a_kind_given_replaces_its_table() {
        let dir = tempfile::tempdir().unwrap();
        let config = load(&sources(dir.path(), None, &[])).unwrap();
        assert_eq!(
            config.display.vital_limits,
            akari_web::display::VitalLimits::default()
        );
        let config = load(&sources(
            dir.path(),
            Some("[display.vital_limits]\nspo2 = { low = 92, critical_low = 88 }\n"),
            &[],
        ))
        .unwrap();
        let limits = &config.display.vital_limits;
        assert_eq!(
            (limits.spo2.low, limits.spo2.critical_low),
            (Some(92.0), Some(88.0))
        );
        assert_eq!(
            limits.heart_rate,
            akari_web::display::VitalLimits::default().heart_rate
        );
        let err = load(&sources(
            dir.path(),
            Some("[display.vital_limits]\nheart_rate = { low = 100, high = 60 }\n"),
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("display.vital_limits") && err.contains("heart_rate.low"),
            "{err}"
        );
        let err = load(&sources(
            dir.path(),
            Some("[display.vital_limits]\npulse = { low = 50 }\n"),
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("pulse"), "an unknown kind is refused: {err}");
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&sources(
            dir.path(),
            Some("[server]\nlistne = \"x\"\n"),
            &[],
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("listne") && msg.contains("test.toml"), "{msg}");
    }

    #[test]
    fn connection_limits_and_trusted_proxies_are_checked_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let config = load(&sources(
            dir.path(),
            Some("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nidle_timeout_secs = 5\n"),
            &[],
        ))
        .unwrap();
        assert_eq!(config.server.trusted_proxies.len(), 2);
        assert_eq!(config.server.idle_timeout_secs, 5);
        let err = load(&sources(
            dir.path(),
            Some("[server]\ntrusted_proxies = [\"proxy.local\"]\n"),
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.trusted_proxies") && err.contains("10.0.0.0/8"),
            "{err}"
        );
        let err = load(&sources(
            dir.path(),
            None,
            &[("AKARI_SERVER__MAX_CONNECTIONS", "3")],
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("server.max_connections") && err.contains("from 16"),
            "{err}"
        );
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&sources(
            dir.path(),
            None,
            &[("AKARI_SERVER__LISTEN", "1.2.3.4:99999")],
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server.listen")
                && msg.contains("AKARI_SERVER__LISTEN")
                && msg.contains("65535"),
            "{msg}"
        );
    }

    #[test]
    fn file_keys_are_read_and_conflicts_rejected() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("addr"), "127.0.0.1:4444\n").unwrap();
        let config = load(&sources(
            dir.path(),
            Some("[server]\nlisten_file = \"addr\"\n"),
            &[],
        ))
        .unwrap();
        assert_eq!(config.server.listen, "127.0.0.1:4444".parse().unwrap());

        let err = load(&sources(
            dir.path(),
            Some("[server]\nlisten_file = \"missing\"\n"),
            &[],
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server.listen_file") && msg.contains("missing"),
            "{msg}"
        );

        let err = load(&sources(
            dir.path(),
            Some("[server]\nlisten_file = \"addr\"\nlisten = \"127.0.0.1:1\"\n"),
            &[],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("set only one"), "{err}");
    }

    #[test]
    fn cross_key_rules_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&sources(
            dir.path(),
            Some("[tls]\ncert_path = \"c.pem\"\n"),
            &[],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("tls.key_path"), "{err}");
        let err = load(&sources(
            dir.path(),
            None,
            &[("AKARI_SERVER__DRAIN_TIMEOUT_SECS", "0")],
        ))
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("server.drain_timeout_secs")
                && msg.contains("AKARI_SERVER__DRAIN_TIMEOUT_SECS"),
            "{msg}"
        );
    }

    #[test]
    fn explicit_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sources(dir.path(), None, &[]);
        s.file = Some(dir.path().join("nope.toml"));
        let err = load(&s).unwrap_err();
        assert!(err.to_string().contains("nope.toml"), "{err}");
    }
}
