//! The signed manifest of an export directory (`manifest.json`): every file's name, size
//! and SHA-256, the episode and the export time, signed with the node's Ed25519 signing
//! key (the key that signs the audit ledger's checkpoints). Anyone with the node's public
//! key (`keys/node-signing.pub`) verifies the directory offline: a changed, missing or
//! added file, or a changed manifest, fails.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "akari-downtime-export";
const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHash {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub exported_at: String,
    /// The episode exported; every episode when `None`.
    pub episode: Option<u64>,
    /// The signing node's public key, hex.
    pub node_key: String,
    pub files: Vec<FileHash>,
    /// Ed25519 over [`Manifest::message`], hex.
    pub signature: String,
}

impl Manifest {
    /// The bytes signed: every field but the signature, one per line.
    pub fn message(&self) -> Vec<u8> {
        let mut m = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            self.format,
            self.version,
            self.exported_at,
            self.episode.map(|e| e.to_string()).unwrap_or_default(),
            self.node_key
        );
        for f in &self.files {
            m.push_str(&format!("{} {} {}\n", f.name, f.bytes, f.sha256));
        }
        m.into_bytes()
    }
}

fn hash_file(path: &Path) -> std::io::Result<(u64, String)> {
    let bytes = std::fs::read(path)?;
    Ok((bytes.len() as u64, hex::encode(Sha256::digest(&bytes))))
}

/// Writes `dir/manifest.json` over `files` (names in `dir`), signed with `key`.
pub fn sign_dir(
    dir: &Path,
    files: &[String],
    episode: Option<u64>,
    exported_at: DateTime<Utc>,
    key: &SigningKey,
) -> std::io::Result<Manifest> {
    let mut hashes = Vec::new();
    for name in files {
        let (bytes, sha256) = hash_file(&dir.join(name))?;
        hashes.push(FileHash {
            name: name.clone(),
            bytes,
            sha256,
        });
    }
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        exported_at: exported_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        episode,
        node_key: hex::encode(key.verifying_key().as_bytes()),
        files: hashes,
        signature: String::new(),
    };
    manifest.signature = hex::encode(key.sign(&manifest.message()).to_bytes());
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(MANIFEST), json)?;
    Ok(manifest)
}

/// Verifies `dir` against its manifest and the node's public `key`: the signature, every
/// listed file's size and hash, and that no other file is there. Returns the manifest.
pub fn verify_dir(dir: &Path, key: &VerifyingKey) -> Result<Manifest, String> {
    let text = std::fs::read(dir.join(MANIFEST))
        .map_err(|e| format!("cannot read {MANIFEST} in {}: {e}", dir.display()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| format!("{MANIFEST} is not a downtime export manifest: {e}"))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(format!(
            "{MANIFEST} is format {} version {}: not a downtime export this tool reads",
            manifest.format, manifest.version
        ));
    }
    if manifest.node_key != hex::encode(key.as_bytes()) {
        return Err("the export was signed by another node's key than the one given".into());
    }
    let signature = hex::decode(&manifest.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or("the manifest's signature is malformed")?;
    key.verify(&manifest.message(), &signature)
        .map_err(|_| "the manifest's signature does not verify: it was changed".to_owned())?;
    for f in &manifest.files {
        if f.name.contains(['/', '\\']) || f.name == MANIFEST || f.name.starts_with('.') {
            return Err(format!(
                "the manifest lists an unexpected file name {:?}",
                f.name
            ));
        }
        let (bytes, sha256) =
            hash_file(&dir.join(&f.name)).map_err(|e| format!("{}: {e}", f.name))?;
        if bytes != f.bytes || sha256 != f.sha256 {
            return Err(format!("{} was changed after the export", f.name));
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.name.as_str()).collect();
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let name = entry.map_err(|e| e.to_string())?.file_name();
        let name = name.to_string_lossy();
        if name != MANIFEST && !listed.contains(name.as_ref()) {
            return Err(format!("{name} is not part of the signed export"));
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_directory_verifies_and_any_change_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.json"), b"{}").unwrap();
        std::fs::write(d.join("b.csv"), b"x,y\n").unwrap();
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let files = vec!["a.json".to_owned(), "b.csv".to_owned()];
        sign_dir(d, &files, Some(3), Utc::now(), &key).unwrap();
        let m = verify_dir(d, &key.verifying_key()).unwrap();
        assert_eq!(m.episode, Some(3));
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(verify_dir(d, &other.verifying_key()).is_err());
        std::fs::write(d.join("b.csv"), b"x,z\n").unwrap();
        assert!(verify_dir(d, &key.verifying_key())
            .unwrap_err()
            .contains("b.csv was changed"));
        std::fs::write(d.join("b.csv"), b"x,y\n").unwrap();
        std::fs::write(d.join("extra.json"), b"{}").unwrap();
        assert!(verify_dir(d, &key.verifying_key())
            .unwrap_err()
            .contains("extra.json"));
        std::fs::remove_file(d.join("extra.json")).unwrap();
        let text = std::fs::read_to_string(d.join(MANIFEST)).unwrap();
        std::fs::write(
            d.join(MANIFEST),
            text.replace("\"episode\": 3", "\"episode\": 4"),
        )
        .unwrap();
        assert!(verify_dir(d, &key.verifying_key())
            .unwrap_err()
            .contains("signature"));
    }
}
