//! The data directory: one place for everything a node keeps.
//!
//! ```text
//! <data>/akari.toml              configuration (commented defaults written by init)
//! <data>/keys/node-signing.key   Ed25519 node signing key, PKCS#8 PEM, mode 0600
//! <data>/keys/node-signing.pub   its public key (SPKI PEM): give it to auditors for
//!                                `akari audit verify EXPORT --key node-signing.pub`
//! <data>/keys/snapshot.pub       X25519 key the snapshot is encrypted to (its secret exists
//!                                only in key slots in accounts.redb; see `akari init`)
//! <data>/tls/cert.pem            TLS certificate (self-signed by init unless configured)
//! <data>/tls/key.pem             its private key, mode 0600
//! <data>/snapshot.redb           snapshot generations
//! <data>/snapshot-copy.redb      the newest good generation again, in a file of its own
//! <data>/accounts.redb           accounts, sessions and mode
//! <data>/ledger.redb             audit ledger
//! <data>/downtime.redb           downtime records (append-only; entries sealed to
//!                                keys/snapshot.pub like the snapshot)
//! <data>/control.sock            console commands to the running node (0600)
//! ```
//!
//! Directories are created with mode 0700 and key files with 0600. `init` never
//! overwrites anything that exists: re-running it only fills in what is missing.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey};

use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::error::Error;

pub const CONFIG_FILE: &str = "akari.toml";
pub const SIGNING_KEY: &str = "keys/node-signing.key";
pub const PUBLIC_KEY: &str = "keys/node-signing.pub";
pub const SNAPSHOT_PUBLIC_KEY: &str = "keys/snapshot.pub";
pub const TLS_CERT: &str = "tls/cert.pem";
pub const TLS_KEY: &str = "tls/key.pem";
pub const SNAPSHOT_DB: &str = "snapshot.redb";
pub const SNAPSHOT_COPY_DB: &str = "snapshot-copy.redb";
pub const ACCOUNTS_DB: &str = "accounts.redb";
pub const LEDGER_DB: &str = "ledger.redb";
pub const DOWNTIME_DB: &str = "downtime.redb";

/// Paths inside one data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// What `init` did, for the operator.
#[derive(Debug, Default)]
pub struct InitReport {
    pub created: Vec<PathBuf>,
    pub kept: Vec<PathBuf>,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_file(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    pub fn signing_key(&self) -> PathBuf {
        self.root.join(SIGNING_KEY)
    }
    /// The node's Ed25519 public key (PEM), written by `init`.
    pub fn public_key(&self) -> PathBuf {
        self.root.join(PUBLIC_KEY)
    }
    /// The X25519 key the snapshot is encrypted to, written by `akari init`.
    pub fn snapshot_public_key(&self) -> PathBuf {
        self.root.join(SNAPSHOT_PUBLIC_KEY)
    }
    pub fn snapshot_db(&self) -> PathBuf {
        self.root.join(SNAPSHOT_DB)
    }
    /// The second copy of the newest good snapshot generation (see `akari_sync::store::copy`).
    pub fn snapshot_copy_db(&self) -> PathBuf {
        self.root.join(SNAPSHOT_COPY_DB)
    }
    pub fn accounts_db(&self) -> PathBuf {
        self.root.join(ACCOUNTS_DB)
    }
    pub fn ledger_db(&self) -> PathBuf {
        self.root.join(LEDGER_DB)
    }
    pub fn downtime_db(&self) -> PathBuf {
        self.root.join(DOWNTIME_DB)
    }

    /// Fails unless the directory exists and can be listed: the first check of `serve`
    /// and `config check`, so that a wrong path or wrong owner is reported as such.
    pub fn check_readable(&self) -> Result<(), Error> {
        let source = match fs::read_dir(&self.root) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let hint = match source.kind() {
            io::ErrorKind::NotFound => {
                "it does not exist; create it with `akari init --data-dir <dir>`"
            }
            io::ErrorKind::PermissionDenied => {
                "permission denied; run Akari as the user that owns it"
            }
            io::ErrorKind::NotADirectory => {
                "it is not a directory; point --data-dir at the directory made by `akari init`"
            }
            _ => "it cannot be read",
        };
        Err(Error::DataDir {
            path: self.root.clone(),
            hint,
            source,
        })
    }

    /// Creates the directory layout, the signing key, the self-signed certificate (unless
    /// one is configured) and the commented config file. Existing files are kept.
    pub fn init(&self, config: &Config) -> Result<InitReport, Error> {
        let mut report = InitReport::default();
        for dir in [
            self.root.clone(),
            self.root.join("keys"),
            self.root.join("tls"),
        ] {
            create_private_dir(&dir, &mut report)?;
        }

        let config_path = self.config_file();
        write_new(
            &config_path,
            DEFAULT_CONFIG_TOML.as_bytes(),
            0o600,
            &mut report,
        )?;

        let key_path = self.signing_key();
        if !key_path.exists() {
            let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| Error::KeyGeneration(e.to_string()))?;
            write_new(&key_path, pem.as_bytes(), 0o600, &mut report)?;
        } else {
            report.kept.push(key_path.clone());
        }
        let public_path = self.public_key();
        if !public_path.exists() {
            use ed25519_dalek::pkcs8::EncodePublicKey;
            let key = load_signing_key(&key_path)?;
            let pem = key
                .verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| Error::KeyGeneration(e.to_string()))?;
            write_new(&public_path, pem.as_bytes(), 0o644, &mut report)?;
        } else {
            report.kept.push(public_path);
        }

        if config.uses_generated_certificate() {
            let cert_path = config.tls_cert_path();
            let tls_key_path = config.tls_key_path();
            if cert_path.exists() || tls_key_path.exists() {
                report.kept.push(cert_path);
            } else {
                let generated = crate::tls::generate_self_signed(
                    &config.tls.host_names,
                    &config.tls.ip_addresses,
                )?;
                write_new(
                    &tls_key_path,
                    generated.key_pem.as_bytes(),
                    0o600,
                    &mut report,
                )?;
                write_new(
                    &cert_path,
                    generated.cert_pem.as_bytes(),
                    0o644,
                    &mut report,
                )?;
            }
        }
        Ok(report)
    }
}

fn create_private_dir(dir: &Path, report: &mut InitReport) -> Result<(), Error> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            report.created.push(dir.to_owned());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => {
            report.kept.push(dir.to_owned());
            Ok(())
        }
        Err(source) => Err(Error::Io {
            action: "create directory",
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Writes a file that must not exist yet; an existing file is kept untouched.
fn write_new(
    path: &Path,
    contents: &[u8],
    mode: u32,
    report: &mut InitReport,
) -> Result<(), Error> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path);
    let mut file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            report.kept.push(path.to_owned());
            return Ok(());
        }
        Err(source) => {
            return Err(Error::Io {
                action: "create file",
                path: path.to_owned(),
                source,
            })
        }
    };
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|source| Error::Io {
            action: "write file",
            path: path.to_owned(),
            source,
        })?;
    report.created.push(path.to_owned());
    Ok(())
}

/// Reads an Ed25519 public key: SPKI PEM (`node-signing.pub`) or 64 hex digits.
pub fn load_public_key(path: &Path) -> Result<ed25519_dalek::VerifyingKey, Error> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let text = fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read the public key",
        path: path.to_owned(),
        source,
    })?;
    let bad = |message: String| Error::BadKeyFile {
        path: path.to_owned(),
        message,
    };
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return ed25519_dalek::VerifyingKey::from_public_key_pem(trimmed)
            .map_err(|e| bad(format!("not an Ed25519 public key in PEM form ({e})")));
    }
    let bytes: [u8; 32] = hex::decode(trimmed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            bad("expected the node's public key: a PEM file (keys/node-signing.pub) or 64 hex digits".into())
        })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|e| bad(format!("not a valid Ed25519 public key ({e})")))
}

/// Reads the node's Ed25519 signing key.
pub fn load_signing_key(path: &Path) -> Result<ed25519_dalek::SigningKey, Error> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let pem = fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read the node signing key",
        path: path.to_owned(),
        source,
    })?;
    ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| Error::BadKeyFile {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn init_creates_private_layout_and_keeps_existing_files() {
        let parent = tempfile::tempdir().unwrap();
        let root = parent.path().join("data");
        let data = DataDir::new(&root);
        let config = Config {
            data_dir: root.clone(),
            ..Config::default()
        };
        let report = data.init(&config).unwrap();
        assert!(report.kept.is_empty(), "{report:?}");
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("keys")), 0o700);
        assert_eq!(mode(&data.signing_key()), 0o600);
        assert_eq!(mode(&root.join(TLS_KEY)), 0o600);
        assert!(root.join(TLS_CERT).is_file());
        assert_eq!(
            fs::read_to_string(data.config_file()).unwrap(),
            DEFAULT_CONFIG_TOML
        );
        let key = load_signing_key(&data.signing_key()).unwrap();
        assert_eq!(
            load_public_key(&data.public_key()).unwrap(),
            key.verifying_key()
        );

        let cert_before = fs::read(root.join(TLS_CERT)).unwrap();
        let report = data.init(&config).unwrap();
        assert!(report.created.is_empty(), "{report:?}");
        assert_eq!(fs::read(root.join(TLS_CERT)).unwrap(), cert_before);
        let key_again = load_signing_key(&data.signing_key()).unwrap();
        assert_eq!(key.to_bytes(), key_again.to_bytes());
    }

    #[test]
    fn missing_and_non_directory_data_dirs_are_reported() {
        let parent = tempfile::tempdir().unwrap();
        let err = DataDir::new(parent.path().join("absent"))
            .check_readable()
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
        let file = parent.path().join("file");
        fs::write(&file, "x").unwrap();
        let err = DataDir::new(&file).check_readable().unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
