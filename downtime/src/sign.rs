//! The signed manifest of an export directory (`manifest.json`): every file's name, size
//! and SHA-256, the episode and the export time, signed with the node's Ed25519 signing
//! key (the key that signs the audit ledger's checkpoints). Anyone with the node's public
//! key (`keys/node-signing.pub`) verifies the directory offline: a changed, missing or
//! added file, or a changed manifest, fails.

use std::collections::BTreeMap;
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

/// What signs a manifest: the node's signing key, held by whoever owns it. The console
/// loads the key file itself; the web side signs through the audit ledger, which signs
/// export manifests but never a message of the ledger's own kinds, so code holding the
/// ledger cannot forge a checkpoint.
pub trait ManifestSigner {
    /// The public half, written into the manifest.
    fn node_key(&self) -> VerifyingKey;
    /// The signature of `message` ([`Manifest::message`]), `None` if refused.
    fn sign_manifest(&self, message: &[u8]) -> Option<Signature>;
}

impl ManifestSigner for SigningKey {
    fn node_key(&self) -> VerifyingKey {
        self.verifying_key()
    }
    fn sign_manifest(&self, message: &[u8]) -> Option<Signature> {
        Some(self.sign(message))
    }
}

/// The first line of every manifest's signed message: what separates these signatures
/// from the ledger's own (checkpoints, ledger exports) made with the same key.
pub const MESSAGE_PREFIX: &[u8] = b"akari-downtime-export\n";

/// Writes `dir/manifest.json` over `files` (names in `dir`), signed by `signer`.
pub fn sign_dir(
    dir: &Path,
    files: &[String],
    episode: Option<u64>,
    exported_at: DateTime<Utc>,
    signer: &dyn ManifestSigner,
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
        node_key: hex::encode(signer.node_key().as_bytes()),
        files: hashes,
        signature: String::new(),
    };
    let signature = signer
        .sign_manifest(&manifest.message())
        .ok_or_else(|| std::io::Error::other("the node's key refused to sign the manifest"))?;
    manifest.signature = hex::encode(signature.to_bytes());
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(MANIFEST), json)?;
    Ok(manifest)
}

/// Verifies `dir` against its manifest and the node's public `key`: the signature, every
/// listed file's size and hash, and that no other file is there. Returns the manifest.
pub fn verify_dir(dir: &Path, key: &VerifyingKey) -> Result<Manifest, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(entry.path()).map_err(|e| format!("{name}: {e}"))?;
        files.insert(name, bytes);
    }
    verify_files(&files, key).map_err(|e| match e.strip_prefix("no ") {
        Some(rest) if rest.starts_with(MANIFEST) => {
            format!("cannot read {MANIFEST} in {}", dir.display())
        }
        _ => e,
    })
}

/// The export directory `dir` as one zip archive (the files of `names`, then the
/// manifest, at the archive's top level): the admin page's download. Verify it with
/// [`verify_zip`] as it is, or unpacked with [`verify_dir`].
pub fn zip_dir(dir: &Path, names: &[String]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for name in names.iter().map(String::as_str).chain([MANIFEST]) {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        zip.start_file(name, options).map_err(|e| e.to_string())?;
        zip.write_all(&bytes).map_err(|e| e.to_string())?;
    }
    Ok(zip.finish().map_err(|e| e.to_string())?.into_inner())
}

/// Verifies a zip archive of an export ([`zip_dir`]) as [`verify_dir`] verifies the
/// directory: the signature, every file's size and hash, and nothing else in it (no
/// folders either).
pub fn verify_zip(archive: &[u8], key: &VerifyingKey) -> Result<Manifest, String> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive))
        .map_err(|e| format!("not a zip archive of a downtime export: {e}"))?;
    let mut files = BTreeMap::new();
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| e.to_string())?;
        let name = file.name().to_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut bytes)
            .map_err(|e| format!("{name} cannot be read from the archive: {e}"))?;
        if files.insert(name.clone(), bytes).is_some() {
            return Err(format!("{name} is in the archive twice"));
        }
    }
    verify_files(&files, key)
}

/// Verifies `path`: an export directory, or a zip archive of one.
pub fn verify_path(path: &Path, key: &VerifyingKey) -> Result<Manifest, String> {
    if path.is_dir() {
        return verify_dir(path, key);
    }
    let archive = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    verify_zip(&archive, key)
}

/// The export's files by name (the manifest among them), checked against the manifest
/// and `key`.
fn verify_files(files: &BTreeMap<String, Vec<u8>>, key: &VerifyingKey) -> Result<Manifest, String> {
    let text = files.get(MANIFEST).ok_or(format!("no {MANIFEST}"))?;
    let manifest: Manifest = serde_json::from_slice(text)
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
        let bytes = files
            .get(&f.name)
            .ok_or_else(|| format!("{}: missing from the export", f.name))?;
        if bytes.len() as u64 != f.bytes || hex::encode(Sha256::digest(bytes)) != f.sha256 {
            return Err(format!("{} was changed after the export", f.name));
        }
    }
    let listed: std::collections::BTreeSet<&str> =
        manifest.files.iter().map(|f| f.name.as_str()).collect();
    for name in files.keys() {
        if name != MANIFEST && !listed.contains(name.as_str()) {
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
