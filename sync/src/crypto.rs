//! Encryption of stored snapshot data at rest.
//!
//! Modelled on `age`'s X25519 recipient stanza, adapted to per-value encryption:
//!
//! * The node has one X25519 key pair. The public key ([`SnapshotPublicKey`]) sits in
//!   `<data>/keys/snapshot.pub` and in the snapshot file; the secret ([`SnapshotSecret`])
//!   exists on disk only wrapped in the accounts' key slots.
//! * Every generation build draws a fresh random 256-bit *data key*, wraps it to the public
//!   key and stores the wrapped form under a *key id* (the generation number):
//!   `version(1) ‖ recipient fingerprint(8) ‖ ephemeral public key(32) ‖
//!   ChaCha20-Poly1305(wrap key, nonce 0, data key)(48)`, where the wrap key is
//!   `HKDF-SHA256(salt = ephemeral ‖ recipient, ikm = X25519(ephemeral, recipient),
//!   info = "akari-snapshot/v1/wrap")`. The ephemeral secret is dropped at once, and the
//!   data key is wiped when the build ends, so a node in standby holds nothing that opens
//!   what it stored earlier — only what arrives during a running sync is ever in memory.
//! * Each content value is `version(1) ‖ key id(8) ‖ counter(8) ‖ ChaCha20-Poly1305(data
//!   key, nonce = 0⁴ ‖ counter, content)`, with the header and the value's place (space,
//!   resource type, id hash) as associated data, so a value cannot be moved to another
//!   resource or re-labelled. The counter is unique per data key (an atomic shared by the
//!   build's worker threads), so nonces never repeat.
//!
//! Without the secret, the store can still write (incremental syncs), end versions (header
//! copy), roll back (opaque copy) and verify (content hashes are over ciphertext).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::{Digest, Sha256};
use x25519_dalek::{EphemeralSecret, PublicKey, StaticSecret};
use zeroize::Zeroizing;

/// Text form prefix of a public key: `akari-snap-pub1-<64 hex digits>`.
pub const PUBLIC_KEY_PREFIX: &str = "akari-snap-pub1-";
const FORMAT_VERSION: u8 = 1;
const WRAP_INFO: &[u8] = b"akari-snapshot/v1/wrap";
const VALUE_AAD: &[u8] = b"akari-snapshot/v1/value";
/// Length of a wrapped data key.
pub const WRAPPED_LEN: usize = 1 + 8 + 32 + 32 + 16;
/// Bytes a sealed value adds to its content: header (17) and tag (16).
pub const SEAL_OVERHEAD: usize = VALUE_HEADER_LEN + 16;
const VALUE_HEADER_LEN: usize = 1 + 8 + 8;

/// Errors of key handling. Messages never contain key material or patient data.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("not a snapshot public key: expected `{PUBLIC_KEY_PREFIX}` followed by 64 hex digits")]
    BadPublicKey,
    #[error("the key does not unlock this snapshot (it was encrypted to key {expected}, the key given is {given}); nothing was decrypted")]
    WrongKey { expected: String, given: String },
    #[error("a wrapped data key is damaged or was not made for this key")]
    Unwrap,
    #[error("a stored value failed authentication (damaged, or moved from elsewhere)")]
    Open,
    #[error("stored value uses data key {0}, which this snapshot does not hold")]
    UnknownKey(u64),
    #[error("unsupported encryption format version {0}; upgrade this node")]
    Version(u8),
    #[error("cannot read or write the key file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The node's snapshot public key (X25519). Data is encrypted to it; it cannot decrypt.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SnapshotPublicKey([u8; 32]);

impl SnapshotPublicKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SnapshotPublicKey(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Short identifier of the key (first 8 bytes of a SHA-256 over it), shown in errors
    /// and status so an admin can tell keys apart. Reveals nothing about the secret.
    pub fn fingerprint(&self) -> [u8; 8] {
        let mut h = Sha256::new();
        h.update(b"akari-snapshot/v1/fingerprint");
        h.update(self.0);
        let d = h.finalize();
        d[..8].try_into().expect("8 bytes")
    }

    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint())
    }

    /// Read `<data>/keys/snapshot.pub` (the text form, surrounding whitespace ignored).
    pub fn read_file(path: &Path) -> Result<Self, CryptoError> {
        let text = std::fs::read_to_string(path).map_err(|source| CryptoError::File {
            path: path.display().to_string(),
            source,
        })?;
        text.parse()
    }

    /// Write the text form (one line) to `path`, creating the parent directory.
    pub fn write_file(&self, path: &Path) -> Result<(), CryptoError> {
        let err = |source: std::io::Error| CryptoError::File {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        std::fs::write(path, format!("{self}\n")).map_err(err)
    }
}

impl fmt::Display for SnapshotPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_KEY_PREFIX}{}", hex::encode(self.0))
    }
}

impl fmt::Debug for SnapshotPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotPublicKey({})", self.fingerprint_hex())
    }
}

impl FromStr for SnapshotPublicKey {
    type Err = CryptoError;

    /// Accepts `akari-snap-pub1-<hex>` or the bare 64 hex digits.
    fn from_str(s: &str) -> Result<Self, CryptoError> {
        let s = s.trim();
        let hex_part = s.strip_prefix(PUBLIC_KEY_PREFIX).unwrap_or(s);
        let bytes = hex::decode(hex_part).map_err(|_| CryptoError::BadPublicKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadPublicKey)?;
        Ok(SnapshotPublicKey(bytes))
    }
}

/// The node's snapshot secret key. Its bytes are wiped when dropped and never printed.
#[derive(Clone)]
pub struct SnapshotSecret(Zeroizing<[u8; 32]>);

impl SnapshotSecret {
    pub fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        SnapshotSecret(bytes)
    }

    /// The raw 32 bytes, for wrapping in key slots. Do not log or store them unwrapped.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn public_key(&self) -> SnapshotPublicKey {
        let s = StaticSecret::from(*self.0);
        SnapshotPublicKey(PublicKey::from(&s).to_bytes())
    }
}

impl fmt::Debug for SnapshotSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnapshotSecret(for {}, bytes hidden)",
            self.public_key().fingerprint_hex()
        )
    }
}

/// A fresh key pair from the operating system's random source.
pub fn generate() -> (SnapshotPublicKey, SnapshotSecret) {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(bytes.as_mut());
    let secret = SnapshotSecret(bytes);
    (secret.public_key(), secret)
}

fn wrap_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(recipient);
    let hk = Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut out = Zeroizing::new([0u8; 32]);
    hk.expand(WRAP_INFO, out.as_mut())
        .expect("32 bytes is a valid HKDF length");
    out
}

/// Wrap `data_key` to `recipient` (see the module doc for the format).
fn wrap(recipient: &SnapshotPublicKey, data_key: &[u8; 32]) -> Vec<u8> {
    let eph = EphemeralSecret::random_from_rng(OsRng);
    let eph_pub = PublicKey::from(&eph);
    let shared = eph.diffie_hellman(&PublicKey::from(recipient.0));
    let kek = wrap_key(shared.as_bytes(), eph_pub.as_bytes(), &recipient.0);
    let mut out = Vec::with_capacity(WRAPPED_LEN);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&recipient.fingerprint());
    out.extend_from_slice(eph_pub.as_bytes());
    let aad = out.clone();
    let ct = ChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: data_key,
                aad: &aad,
            },
        )
        .expect("encryption of 32 bytes cannot fail");
    out.extend_from_slice(&ct);
    out
}

/// Unwrap a data key with the secret.
fn unwrap(secret: &SnapshotSecret, wrapped: &[u8]) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(CryptoError::Unwrap);
    }
    if wrapped[0] != FORMAT_VERSION {
        return Err(CryptoError::Version(wrapped[0]));
    }
    let public = secret.public_key();
    if wrapped[1..9] != public.fingerprint() {
        return Err(CryptoError::WrongKey {
            expected: hex::encode(&wrapped[1..9]),
            given: public.fingerprint_hex(),
        });
    }
    let eph: [u8; 32] = wrapped[9..41].try_into().expect("32 bytes");
    let s = StaticSecret::from(*secret.0);
    let shared = s.diffie_hellman(&PublicKey::from(eph));
    if !shared.was_contributory() {
        return Err(CryptoError::Unwrap);
    }
    let kek = wrap_key(shared.as_bytes(), &eph, &public.0);
    let pt = Zeroizing::new(
        ChaCha20Poly1305::new(Key::from_slice(kek.as_ref()))
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: &wrapped[41..],
                    aad: &wrapped[..41],
                },
            )
            .map_err(|_| CryptoError::Unwrap)?,
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if pt.len() != 32 {
        return Err(CryptoError::Unwrap);
    }
    key.copy_from_slice(&pt);
    Ok(key)
}

/// Where a value lives, bound into its associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValuePlace<'a> {
    pub space: u8,
    pub rtype: u8,
    pub id_hash: &'a [u8; 16],
}

fn aad(header: &[u8], place: ValuePlace<'_>) -> [u8; 23 + VALUE_HEADER_LEN + 18] {
    let mut a = [0u8; 23 + VALUE_HEADER_LEN + 18];
    a[..23].copy_from_slice(VALUE_AAD);
    a[23..23 + VALUE_HEADER_LEN].copy_from_slice(header);
    a[23 + VALUE_HEADER_LEN] = place.space;
    a[24 + VALUE_HEADER_LEN] = place.rtype;
    a[25 + VALUE_HEADER_LEN..].copy_from_slice(place.id_hash);
    a
}

/// Encrypts the values of one generation build under a fresh data key. The key is wiped
/// when the sealer is dropped (at the end of the build).
///
/// Sealing uses ring's ChaCha20-Poly1305 (RFC 8439, the same construction the
/// `chacha20poly1305` crate opens with: identical ciphertext and tag), which is several
/// times faster on short values than the crate's AVX2 backend as built here; a full sync
/// seals every stored value, so this decides the encrypted ingest rate.
pub struct Sealer {
    key_id: u64,
    data_key: Zeroizing<[u8; 32]>,
    counter: AtomicU64,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer(key id {})", self.key_id)
    }
}

impl Sealer {
    /// A new data key wrapped to `recipient`: the sealer and the wrapped key to store
    /// under `key_id`.
    pub fn new(recipient: &SnapshotPublicKey, key_id: u64) -> (Sealer, Vec<u8>) {
        let mut data_key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(data_key.as_mut());
        let wrapped = wrap(recipient, &data_key);
        let sealer = Sealer {
            key_id,
            data_key,
            counter: AtomicU64::new(0),
        };
        (sealer, wrapped)
    }

    pub fn key_id(&self) -> u64 {
        self.key_id
    }

    /// Encrypt one value's content.
    pub fn seal(&self, place: ValuePlace<'_>, content: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(content.len() + SEAL_OVERHEAD);
        out.resize(VALUE_HEADER_LEN, 0);
        out.extend_from_slice(content);
        self.seal_in_place(place, &mut out, 0);
        out
    }
}

impl Sealer {
    /// Bytes to reserve before the plaintext for [`Sealer::seal_in_place`].
    pub const HEADER_LEN: usize = VALUE_HEADER_LEN;

    /// Encrypt in place, without copying: `buf[start..start + HEADER_LEN]` is reserved
    /// (overwritten with the header) and `buf[start + HEADER_LEN..]` is the plaintext,
    /// which becomes ciphertext; the tag is appended. Gives what [`Sealer::seal`] gives.
    pub fn seal_in_place(&self, place: ValuePlace<'_>, buf: &mut Vec<u8>, start: usize) {
        let counter = self.counter.fetch_add(1, Ordering::Relaxed);
        let header = &mut buf[start..start + VALUE_HEADER_LEN];
        header[0] = FORMAT_VERSION;
        header[1..9].copy_from_slice(&self.key_id.to_be_bytes());
        header[9..17].copy_from_slice(&counter.to_be_bytes());
        let a = aad(header, place);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        use ring::aead::{Aad, LessSafeKey, Nonce as RingNonce, UnboundKey, CHACHA20_POLY1305};
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, self.data_key.as_ref())
                .expect("a 32-byte ChaCha20-Poly1305 key"),
        );
        let tag = key
            .seal_in_place_separate_tag(
                RingNonce::assume_unique_for_key(nonce),
                Aad::from(&a[..]),
                &mut buf[start + VALUE_HEADER_LEN..],
            )
            .expect("ChaCha20-Poly1305 encryption cannot fail for in-memory sizes");
        buf.extend_from_slice(tag.as_ref());
    }
}

/// The data keys of a snapshot, unwrapped with the secret: opens stored values. Keys are
/// wiped when dropped.
#[derive(Default)]
pub struct Keyring {
    keys: HashMap<u64, ChaCha20Poly1305>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring({} data keys)", self.keys.len())
    }
}

impl Keyring {
    /// Unwrap every `(key id, wrapped key)`; keys already in `reuse` are taken from it.
    pub fn unwrap_all<'a>(
        secret: &SnapshotSecret,
        wrapped: impl IntoIterator<Item = (u64, &'a [u8])>,
        reuse: Option<&Keyring>,
    ) -> Result<Keyring, CryptoError> {
        let mut keys = HashMap::new();
        for (id, w) in wrapped {
            if let Some(c) = reuse.and_then(|r| r.keys.get(&id)) {
                keys.insert(id, c.clone());
                continue;
            }
            let k = unwrap(secret, w)?;
            keys.insert(id, ChaCha20Poly1305::new(Key::from_slice(k.as_ref())));
        }
        Ok(Keyring { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains(&self, key_id: u64) -> bool {
        self.keys.contains_key(&key_id)
    }

    /// Decrypt one stored value's content. The plaintext buffer is wiped when dropped.
    pub fn open(
        &self,
        place: ValuePlace<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < SEAL_OVERHEAD {
            return Err(CryptoError::Open);
        }
        if sealed[0] != FORMAT_VERSION {
            return Err(CryptoError::Version(sealed[0]));
        }
        let key_id = u64::from_be_bytes(sealed[1..9].try_into().expect("8 bytes"));
        let cipher = self
            .keys
            .get(&key_id)
            .ok_or(CryptoError::UnknownKey(key_id))?;
        let header = &sealed[..VALUE_HEADER_LEN];
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&sealed[9..17]);
        let a = aad(header, place);
        cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &sealed[VALUE_HEADER_LEN..],
                    aad: &a,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Open)
    }
}

impl Keyring {
    /// Decrypt one sealed value whose parts were separated by the caller (to decrypt many
    /// large values on several threads without copying them twice): `header` is the
    /// value's first [`Sealer::HEADER_LEN`] bytes, `buf` its ciphertext (decrypted in
    /// place), `tag` its last [`TAG_LEN`] bytes. Same checks as [`Keyring::open`].
    pub fn open_in_place(
        &self,
        place: ValuePlace<'_>,
        header: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> Result<(), CryptoError> {
        if header.len() != VALUE_HEADER_LEN || tag.len() != TAG_LEN {
            return Err(CryptoError::Open);
        }
        if header[0] != FORMAT_VERSION {
            return Err(CryptoError::Version(header[0]));
        }
        let key_id = u64::from_be_bytes(header[1..9].try_into().expect("8 bytes"));
        let cipher = self
            .keys
            .get(&key_id)
            .ok_or(CryptoError::UnknownKey(key_id))?;
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&header[9..17]);
        let a = aad(header, place);
        cipher
            .decrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                &a,
                buf,
                chacha20poly1305::Tag::from_slice(tag),
            )
            .map_err(|_| CryptoError::Open)
    }
}

/// Length of the authentication tag at the end of a sealed value.
pub const TAG_LEN: usize = 16;

/// Check that `secret` belongs to `public` before trying anything with it.
pub fn check_secret(
    public: &SnapshotPublicKey,
    secret: &SnapshotSecret,
) -> Result<(), CryptoError> {
    let given = secret.public_key();
    if given != *public {
        return Err(CryptoError::WrongKey {
            expected: public.fingerprint_hex(),
            given: given.fingerprint_hex(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_text_round_trip_and_bad_forms() {
        let (pk, sk) = generate();
        assert_eq!(sk.public_key(), pk);
        let s = pk.to_string();
        assert!(s.starts_with(PUBLIC_KEY_PREFIX));
        assert_eq!(s.parse::<SnapshotPublicKey>().unwrap(), pk);
        assert_eq!(
            format!("  {}\n", hex::encode(pk.as_bytes()))
                .parse::<SnapshotPublicKey>()
                .unwrap(),
            pk
        );
        assert!(matches!(
            "akari-snap-pub1-zz".parse::<SnapshotPublicKey>(),
            Err(CryptoError::BadPublicKey)
        ));
        let dbg = format!("{sk:?}");
        assert!(!dbg.contains(&hex::encode(sk.expose_bytes())));
        assert!(dbg.contains("hidden"));
    }

    #[test]
    fn seal_open_round_trip_binds_place_and_key() {
        let (pk, sk) = generate();
        let (sealer, wrapped) = Sealer::new(&pk, 7);
        let idh = [3u8; 16];
        let place = ValuePlace {
            space: 1,
            rtype: 2,
            id_hash: &idh,
        };
        let a = sealer.seal(place, b"hello");
        let b = sealer.seal(place, b"hello");
        assert_ne!(a, b, "nonces are unique");
        let mut c = vec![9u8; 3 + Sealer::HEADER_LEN];
        c.extend_from_slice(b"hello");
        sealer.seal_in_place(place, &mut c, 3);
        assert_eq!(&c[..3], &[9, 9, 9]);
        // Sealed with ring, byte for byte what the chacha20poly1305 crate makes.
        let nonce_of = |v: &[u8]| {
            let mut n = [0u8; 12];
            n[4..].copy_from_slice(&v[9..17]);
            n
        };
        let reference = ChaCha20Poly1305::new(Key::from_slice(sealer.data_key.as_ref()))
            .encrypt(
                Nonce::from_slice(&nonce_of(&a)),
                Payload {
                    msg: b"hello",
                    aad: &aad(&a[..VALUE_HEADER_LEN], place),
                },
            )
            .unwrap();
        assert_eq!(&a[VALUE_HEADER_LEN..], reference.as_slice());
        let ring = Keyring::unwrap_all(&sk, [(7u64, wrapped.as_slice())], None).unwrap();
        assert_eq!(ring.open(place, &a).unwrap().as_slice(), b"hello");
        assert_eq!(ring.open(place, &c[3..]).unwrap().as_slice(), b"hello");
        let (header, rest) = a.split_at(Sealer::HEADER_LEN);
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        let mut buf = ct.to_vec();
        ring.open_in_place(place, header, &mut buf, tag).unwrap();
        assert_eq!(buf, b"hello");
        let mut buf = ct.to_vec();
        buf[0] ^= 1;
        assert!(matches!(
            ring.open_in_place(place, header, &mut buf, tag),
            Err(CryptoError::Open)
        ));
        let other = [4u8; 16];
        let moved = ValuePlace {
            id_hash: &other,
            ..place
        };
        assert!(matches!(ring.open(moved, &a), Err(CryptoError::Open)));
        let mut damaged = a.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert!(matches!(ring.open(place, &damaged), Err(CryptoError::Open)));
        let (_, wrong) = generate();
        assert!(matches!(
            Keyring::unwrap_all(&wrong, [(7u64, wrapped.as_slice())], None),
            Err(CryptoError::WrongKey { .. })
        ));
        assert!(check_secret(&pk, &wrong).is_err());
        assert!(check_secret(&pk, &sk).is_ok());
    }
}
