//! Signed checkpoints: the node's Ed25519 signature over (size, head, time), and the
//! background publisher that copies each checkpoint off the box (removable path, HTTPS).
//!
//! # Signed message (version 1)
//! UTF-8 text, each line ending in `\n`:
//! ```text
//! akari-ledger-checkpoint v1
//! size <decimal sequence number of the last covered entry>
//! head <64 hex digits: chain head after that entry>
//! time <RFC 3339 UTC time with microseconds, e.g. 2026-11-21T12:00:00.000000Z>
//! ```
//! The signature is Ed25519 over exactly those bytes. The printable text form is the
//! message followed by `signature <base64>` and `key <hex public key>` lines.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::entry::Hash;

/// A signed statement that the ledger had `size` entries with chain head `head` at `time`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub size: u64,
    pub head: Hash,
    pub time: DateTime<Utc>,
    /// Base64 Ed25519 signature over [`Checkpoint::signed_message`].
    pub signature: String,
}

fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Truncates to whole microseconds so that the signed text and the stored time agree.
pub(crate) fn to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

impl Checkpoint {
    pub(crate) fn sign(size: u64, head: Hash, time: DateTime<Utc>, key: &SigningKey) -> Self {
        let time = to_micros(time);
        let message = Self::message(size, &head, &time);
        let signature = B64.encode(key.sign(message.as_bytes()).to_bytes());
        Checkpoint {
            size,
            head,
            time,
            signature,
        }
    }

    fn message(size: u64, head: &Hash, time: &DateTime<Utc>) -> String {
        format!(
            "akari-ledger-checkpoint v1\nsize {size}\nhead {head}\ntime {}\n",
            time_text(time)
        )
    }

    /// The exact bytes the signature covers (see the module documentation).
    pub fn signed_message(&self) -> String {
        Self::message(self.size, &self.head, &self.time)
    }

    /// Whether the signature is a valid signature of this checkpoint by `key`.
    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = B64.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(self.signed_message().as_bytes(), &signature)
            .is_ok()
    }

    /// Printable text form, for the admin page, paper and the removable copy.
    pub fn to_text(&self, key: &VerifyingKey) -> String {
        format!(
            "{}signature {}\nkey {}\n",
            self.signed_message(),
            self.signature,
            hex::encode(key.as_bytes())
        )
    }

    /// Parses the text form back (e.g. a printed or removable copy, to compare with an
    /// export). The signature is not checked here: call [`Checkpoint::verify`].
    pub fn from_text(text: &str) -> Result<Checkpoint, String> {
        let mut size = None;
        let mut head = None;
        let mut time = None;
        let mut signature = None;
        let mut lines = text.lines();
        if lines.next() != Some("akari-ledger-checkpoint v1") {
            return Err("the first line must be `akari-ledger-checkpoint v1`".into());
        }
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "size" => size = value.parse::<u64>().ok(),
                "head" => head = Hash::from_hex(value),
                "time" => {
                    time = DateTime::parse_from_rfc3339(value)
                        .ok()
                        .map(|t| t.with_timezone(&Utc))
                }
                "signature" => signature = Some(value.to_string()),
                _ => {}
            }
        }
        Ok(Checkpoint {
            size: size.ok_or("missing or invalid `size` line")?,
            head: head.ok_or("missing or invalid `head` line")?,
            time: time.ok_or("missing or invalid `time` line")?,
            signature: signature.ok_or("missing `signature` line")?,
        })
    }
}

/// Where checkpoints are copied to, from [`super::LedgerConfig`].
#[derive(Debug, Clone, Default)]
pub(crate) struct PublishTargets {
    pub removable_dir: Option<PathBuf>,
    pub remote_url: Option<String>,
    pub remote_ca_file: Option<PathBuf>,
}

/// What the publisher last managed, for the admin page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishStatus {
    /// Size of the newest checkpoint written to the removable path.
    pub removable_size: Option<u64>,
    /// Size of the newest checkpoint the remote accepted.
    pub remote_size: Option<u64>,
    /// Checkpoints waiting to be pushed to the remote.
    pub remote_pending: usize,
    /// The last failure, if the last attempt failed (no patient data is ever in here).
    pub last_error: Option<String>,
}

/// Name of the latest checkpoint file on the removable path.
pub const REMOVABLE_FILE_NAME: &str = "akari-checkpoint-latest.txt";

/// Writes `contents` to `dir/name` atomically: temporary file, fsync, rename, fsync dir.
pub(crate) fn write_atomically(dir: &Path, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = fs::File::open(dir) {
        // Directory fsync makes the rename durable; not all platforms allow it.
        let _ = d.sync_all();
    }
    Ok(())
}

const MAX_PENDING: usize = 256;

/// The publisher thread: never blocks appends (it only receives over a channel), retries
/// with back-off, and keeps at most [`MAX_PENDING`] unpushed checkpoints (the newest
/// checkpoint covers everything before it, so dropping the oldest loses no coverage).
pub(crate) fn run_publisher(
    rx: Receiver<Checkpoint>,
    targets: PublishTargets,
    key: VerifyingKey,
    status: Arc<Mutex<PublishStatus>>,
) {
    let client = match targets.remote_url.as_deref() {
        Some(_) => match build_client(targets.remote_ca_file.as_deref()) {
            Ok(c) => Some(c),
            Err(e) => {
                set_error(
                    &status,
                    format!("cannot set up the remote checkpoint push: {e}"),
                );
                None
            }
        },
        None => None,
    };
    let mut publisher = Publisher {
        targets,
        client,
        key,
        status,
        removable_pending: None,
        pending: VecDeque::new(),
    };
    let mut backoff = Duration::from_millis(500);
    let mut next_try = Instant::now();
    loop {
        let wait = if publisher.is_idle() {
            Duration::from_secs(3600)
        } else {
            next_try.saturating_duration_since(Instant::now())
        };
        match rx.recv_timeout(wait) {
            Ok(cp) => {
                publisher.queue(cp);
                // Drain whatever else is queued, then publish.
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Last effort on shutdown, then stop.
                publisher.publish_once();
                return;
            }
        }
        if Instant::now() < next_try {
            continue;
        }
        if publisher.publish_once() {
            backoff = Duration::from_millis(500);
            next_try = Instant::now();
        } else {
            next_try = Instant::now() + backoff;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }
}

/// The publisher thread's targets and what it has yet to publish to them.
struct Publisher {
    targets: PublishTargets,
    client: Option<reqwest::blocking::Client>,
    key: VerifyingKey,
    status: Arc<Mutex<PublishStatus>>,
    /// The latest checkpoint not yet written to the removable path.
    removable_pending: Option<Checkpoint>,
    /// Checkpoints not yet pushed to the remote, oldest first.
    pending: VecDeque<Checkpoint>,
}

impl Publisher {
    /// Nothing waits to be published.
    fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.removable_pending.is_none()
    }

    /// A new checkpoint, for each target there is.
    fn queue(&mut self, cp: Checkpoint) {
        if self.targets.removable_dir.is_some() {
            self.removable_pending = Some(cp.clone());
        }
        if self.client.is_some() {
            self.pending.push_back(cp);
            while self.pending.len() > MAX_PENDING {
                self.pending.pop_front();
            }
        }
    }

    /// One publishing attempt; returns whether everything pending went out.
    fn publish_once(&mut self) -> bool {
        let Publisher {
            targets,
            client,
            key,
            status,
            removable_pending,
            pending,
        } = self;
        let mut ok = true;
        if let (Some(dir), Some(cp)) = (&targets.removable_dir, removable_pending.as_ref()) {
            match write_atomically(dir, REMOVABLE_FILE_NAME, cp.to_text(key).as_bytes()) {
                Ok(()) => {
                    lock(status).removable_size = Some(cp.size);
                    *removable_pending = None;
                }
                Err(e) => {
                    ok = false;
                    set_error(
                        status,
                        format!("cannot write the checkpoint to the removable path: {e}"),
                    );
                }
            }
        }
        if let (Some(url), Some(client)) = (&targets.remote_url, client) {
            while let Some(cp) = pending.front() {
                let body = serde_json::json!({
                    "type": "akari-ledger-checkpoint",
                    "size": cp.size,
                    "head": cp.head,
                    "time": cp.time,
                    "signature": cp.signature,
                    "key": hex::encode(key.as_bytes()),
                    "text": cp.to_text(key),
                });
                match client.post(url).json(&body).send() {
                    Ok(resp) if resp.status().is_success() => {
                        let mut s = lock(status);
                        s.remote_size = Some(cp.size);
                        pending.pop_front();
                        s.remote_pending = pending.len();
                    }
                    Ok(resp) => {
                        ok = false;
                        set_error(
                            status,
                            format!("the checkpoint remote answered HTTP {}", resp.status()),
                        );
                        break;
                    }
                    Err(e) => {
                        ok = false;
                        set_error(status, format!("cannot reach the checkpoint remote: {e}"));
                        break;
                    }
                }
            }
            lock(status).remote_pending = pending.len();
        }
        if ok {
            lock(status).last_error = None;
        }
        ok
    }
}

fn build_client(ca_file: Option<&Path>) -> Result<reqwest::blocking::Client, String> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .use_rustls_tls();
    if let Some(path) = ca_file {
        let pem = fs::read(path)
            .map_err(|e| format!("cannot read remote_ca_file {}: {e}", path.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "remote_ca_file {} is not a PEM certificate: {e}",
                path.display()
            )
        })?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| e.to_string())
}

fn lock(status: &Mutex<PublishStatus>) -> std::sync::MutexGuard<'_, PublishStatus> {
    status
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn set_error(status: &Mutex<PublishStatus>, message: String) {
    tracing::warn!(%message, "checkpoint publishing failed; will retry");
    lock(status).last_error = Some(message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn signature_covers_every_field() {
        let k = key();
        let cp = Checkpoint::sign(10, Hash([1; 32]), Utc::now(), &k);
        assert!(cp.verify(&k.verifying_key()));
        let mut other = cp.clone();
        other.size = 11;
        assert!(!other.verify(&k.verifying_key()));
        let mut other = cp.clone();
        other.head = Hash([2; 32]);
        assert!(!other.verify(&k.verifying_key()));
        let mut other = cp.clone();
        other.time += chrono::Duration::microseconds(1);
        assert!(!other.verify(&k.verifying_key()));
        let wrong = SigningKey::from_bytes(&[8u8; 32]);
        assert!(!cp.verify(&wrong.verifying_key()));
    }

    #[test]
    fn text_form_round_trips_and_still_verifies() {
        let k = key();
        let cp = Checkpoint::sign(3, Hash([9; 32]), Utc::now(), &k);
        let text = cp.to_text(&k.verifying_key());
        assert!(text.starts_with("akari-ledger-checkpoint v1\nsize 3\n"));
        let back = Checkpoint::from_text(&text).unwrap();
        assert_eq!(back, cp);
        assert!(back.verify(&k.verifying_key()));
    }
}
