//! Key slots: the node's snapshot secret exists on disk only wrapped, once per way
//! in — one slot per sealed emergency account, one per admin, and one for the offline
//! recovery key. This crate never knows what the secret is for (an X25519 key of
//! `akari_sync`): it wraps 32 opaque bytes.
//!
//! A slot is `ChaCha20-Poly1305(KEK, nonce, secret, aad = slot ID)`. The KEK of an account
//! or admin slot is argon2id of the credential or password with the slot's own salt
//! ([`crate::credential::Hasher::credential_kek`]); that of the recovery slot is SHA-256 of
//! the recovery key's 138 random bits and a salt (no stretching is needed for a key that is
//! random and that long). The slot ID as associated data stops a slot being moved under
//! another name (an admin's slot passed off as the recovery slot).

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::credential::{normalize_credential, KdfParams, CREDENTIAL_ALPHABET, KEK_SALT_LEN};
use crate::event::Actor;
use crate::Error;

/// The snapshot secret as held in memory: 32 opaque bytes, wiped when dropped.
pub type SlotSecret = Zeroizing<[u8; 32]>;

/// Told when the snapshot secret enters or leaves memory. The composition root connects it
/// to the snapshot reader (unlock: decrypt the search index; lock: wipe it).
///
/// Called on the thread of the login, logout or mode change that caused it, after that
/// decision is committed, never while the accounts store is locked; calls are serialised
/// and always alternate (`unlocked`, `locked`, `unlocked`, …). An observer must not call
/// back into `Accounts` methods that log in, log out, change the mode or lock (it would
/// wait for itself); reading `unlocked_secret()` is fine.
pub trait KeyObserver: Send + Sync {
    /// The secret is now in memory. Copy what you need (into a `Zeroizing` buffer).
    fn unlocked(&self, secret: &[u8; 32]);
    /// The secret was wiped: forget everything derived from it.
    fn locked(&self);
}

/// Slot IDs: stored as the table key and bound to the ciphertext as associated data.
pub(crate) const RECOVERY_SLOT: &str = "recovery";

pub(crate) fn admin_slot(admin_id: &str) -> String {
    format!("admin:{admin_id}")
}

pub(crate) fn account_slot(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// How a slot's KEK is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub(crate) enum SlotKdf {
    /// argon2id over a credential or password.
    Argon2id(KdfParams),
    /// SHA-256 over the recovery key (which carries ≥ 128 random bits).
    RecoveryKeySha256,
}

/// One stored slot. Nothing in it is secret without the credential, but it is still kept
/// out of `Debug`: it is an offline-guessing target, like a password hash.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SlotRecord {
    pub kdf: SlotKdf,
    /// Hex.
    pub salt: String,
    /// Hex, 12 bytes.
    pub nonce: String,
    /// Hex: the 32-byte secret encrypted, and the 16-byte tag.
    pub wrapped: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for SlotRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotRecord")
            .field("kdf", &self.kdf)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// What is known about the slots as a whole: stored once, at `init_key_slots`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeySlotsState {
    /// SHA-256 (domain-separated, truncated) of the secret: every unwrapped secret is
    /// checked against it, so a slot wrapping some other key is caught. Not secret.
    pub fingerprint: String,
    pub initialised_at: DateTime<Utc>,
    pub initialised_by: Actor,
}

pub(crate) const STATE_KEY: &str = "current";

pub(crate) fn fingerprint(secret: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"akari snapshot secret fingerprint v1\0");
    h.update(secret);
    hex::encode(&h.finalize()[..16])
}

pub(crate) fn new_salt() -> [u8; KEK_SALT_LEN] {
    let mut salt = [0u8; KEK_SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    salt
}

pub(crate) fn decode_salt(record: &SlotRecord) -> Result<Vec<u8>, Error> {
    hex::decode(&record.salt)
        .map_err(|_| Error::KeySlots("a key slot's salt is unreadable (store damaged?)".into()))
}

/// Wraps `secret` under `kek` for the slot `slot_id`.
pub(crate) fn wrap(
    kek: &[u8; 32],
    slot_id: &str,
    secret: &[u8; 32],
    kdf: SlotKdf,
    salt: &[u8],
    now: DateTime<Utc>,
) -> Result<SlotRecord, Error> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(kek));
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let wrapped = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: secret,
                aad: slot_id.as_bytes(),
            },
        )
        .map_err(|_| Error::Internal("wrapping the snapshot secret failed".into()))?;
    Ok(SlotRecord {
        kdf,
        salt: hex::encode(salt),
        nonce: hex::encode(nonce),
        wrapped: hex::encode(wrapped),
        created_at: now,
    })
}

/// Unwraps a slot: `None` if the KEK is wrong (wrong credential) or the slot was altered or
/// moved to another ID.
pub(crate) fn unwrap(kek: &[u8; 32], slot_id: &str, record: &SlotRecord) -> Option<SlotSecret> {
    let nonce = hex::decode(&record.nonce).ok().filter(|n| n.len() == 12)?;
    let wrapped = hex::decode(&record.wrapped).ok()?;
    let cipher = ChaCha20Poly1305::new(Key::from_slice(kek));
    let mut plain = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &wrapped,
                aad: slot_id.as_bytes(),
            },
        )
        .ok()?;
    let out = (plain.len() == 32).then(|| {
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&plain);
        s
    });
    plain.zeroize();
    out
}

// ---------------------------------------------------------------------- the recovery key

/// Groups in a recovery key.
pub const RECOVERY_GROUPS: usize = 7;
/// Random symbols per group; each group ends with one more, its check symbol.
pub const RECOVERY_GROUP_DATA: usize = 4;
const GROUP_LEN: usize = RECOVERY_GROUP_DATA + 1;
const RECOVERY_LEN: usize = RECOVERY_GROUPS * GROUP_LEN;
const BASE: usize = CREDENTIAL_ALPHABET.len(); // 31, a prime

/// The offline recovery key: 28 random symbols from the look-alike-free alphabet of the
/// seal sheets (≈ 138.7 bits), printed once at `akari init` for IT's safe, in 7 groups of
/// 5 — four random symbols and a check symbol — so it can be read aloud group by group
/// and a mistyped symbol is reported as a typo in that group instead of "wrong key".
///
/// `Display` shows the key itself, grouped (`K7QH3-XMP9R-…`): use it only to print the key
/// once. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryKey {
    /// The 28 random symbols, canonical (no check symbols, no separators).
    data: Zeroizing<String>,
}

impl fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

impl fmt::Display for RecoveryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.grouped())
    }
}

fn symbol_value(c: u8) -> Option<usize> {
    CREDENTIAL_ALPHABET.iter().position(|&a| a == c)
}

/// The check symbol of group `g` (0-based) with data values `v`: chosen so that
/// 2·v0 + 3·v1 + 4·v2 + 5·v3 + 1·check + 6·(g+1) ≡ 0 (mod 31). The weights are distinct and
/// non-zero modulo the prime 31, so any single wrong symbol and any swap of two different
/// neighbouring symbols changes the sum; the group term catches groups read in the wrong
/// order.
fn check_value(group: usize, values: &[usize]) -> usize {
    let mut sum = 6 * (group + 1);
    for (i, v) in values.iter().enumerate() {
        sum += (i + 2) * v;
    }
    (BASE - sum % BASE) % BASE
}

impl RecoveryKey {
    pub fn generate() -> Self {
        let mut rng = OsRng;
        let mut data = Zeroizing::new(String::with_capacity(RECOVERY_GROUPS * RECOVERY_GROUP_DATA));
        for _ in 0..RECOVERY_GROUPS * RECOVERY_GROUP_DATA {
            data.push(char::from(CREDENTIAL_ALPHABET[rng.gen_range(0..BASE)]));
        }
        Self { data }
    }

    /// The key for printing: 7 groups of 5 separated by hyphens.
    pub fn grouped(&self) -> String {
        let bytes = self.data.as_bytes();
        let mut out = String::with_capacity(RECOVERY_LEN + RECOVERY_GROUPS);
        for (g, chunk) in bytes.chunks(RECOVERY_GROUP_DATA).enumerate() {
            if g > 0 {
                out.push('-');
            }
            let values: Vec<usize> = chunk.iter().filter_map(|&c| symbol_value(c)).collect();
            out.extend(chunk.iter().map(|&c| char::from(c)));
            out.push(char::from(CREDENTIAL_ALPHABET[check_value(g, &values)]));
        }
        out
    }

    /// Reads a typed key. Spaces, hyphens, lower case and full-width characters are
    /// accepted; anything else wrong is reported precisely, without echoing the key.
    pub fn parse(typed: &str) -> Result<Self, RecoveryKeyError> {
        let canonical = Zeroizing::new(normalize_credential(typed));
        let bytes = canonical.as_bytes();
        if let Some((i, _)) = canonical
            .char_indices()
            .find(|(_, c)| !c.is_ascii() || symbol_value(*c as u8).is_none())
        {
            let position = canonical[..i].chars().count() + 1;
            return Err(RecoveryKeyError::NotInAlphabet { position });
        }
        if bytes.len() != RECOVERY_LEN {
            return Err(RecoveryKeyError::WrongLength {
                got: bytes.len(),
                expected: RECOVERY_LEN,
            });
        }
        let mut bad_groups = Vec::new();
        let mut data = Zeroizing::new(String::with_capacity(RECOVERY_GROUPS * RECOVERY_GROUP_DATA));
        for (g, group) in bytes.chunks(GROUP_LEN).enumerate() {
            let values: Vec<usize> = group.iter().filter_map(|&c| symbol_value(c)).collect();
            let (body, check) = values.split_at(RECOVERY_GROUP_DATA);
            if check_value(g, body) != check[0] {
                bad_groups.push(g + 1);
            }
            data.extend(group[..RECOVERY_GROUP_DATA].iter().map(|&c| char::from(c)));
        }
        if !bad_groups.is_empty() {
            return Err(RecoveryKeyError::Typo { groups: bad_groups });
        }
        Ok(Self { data })
    }

    /// The recovery slot's KEK.
    pub(crate) fn kek(&self, salt: &[u8]) -> SlotSecret {
        let mut h = Sha256::new();
        h.update(b"akari recovery slot kek v1\0");
        h.update(salt);
        h.update(self.data.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&h.finalize());
        out
    }
}

/// Why a typed recovery key could not be read. The messages never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryKeyError {
    #[error(
        "character {position} of the recovery key is not one a recovery key uses (they have \
         no I, L, O, 0 or 1); read that character again"
    )]
    NotInAlphabet { position: usize },
    #[error(
        "the recovery key has {expected} characters (7 groups of 5); {got} were given; check \
         for a missing or doubled group"
    )]
    WrongLength { got: usize, expected: usize },
    #[error(
        "typo in the recovery key: group {} does not match its check character; read {} \
         again",
        join(.groups), if .groups.len() == 1 { "that group" } else { "those groups" }
    )]
    Typo { groups: Vec<usize> },
}

fn join(groups: &[usize]) -> String {
    groups
        .iter()
        .map(|g| g.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_key_round_trips_and_has_enough_entropy() {
        let k = RecoveryKey::generate();
        let printed = k.to_string();
        assert_eq!(printed.len(), RECOVERY_LEN + RECOVERY_GROUPS - 1);
        assert_eq!(printed.split('-').count(), RECOVERY_GROUPS);
        assert_eq!(RecoveryKey::parse(&printed).unwrap(), k);
        let typed = printed.to_lowercase().replace('-', " ");
        assert_eq!(RecoveryKey::parse(&typed).unwrap(), k);
        let bits = (BASE as f64).log2() * (RECOVERY_GROUPS * RECOVERY_GROUP_DATA) as f64;
        assert!(bits >= 128.0, "{bits} bits");
        assert_ne!(RecoveryKey::generate(), k);
        assert_eq!(format!("{k:?}"), "RecoveryKey(<redacted>)");
    }

    #[test]
    fn every_single_substitution_and_neighbour_swap_is_a_typo() {
        let k = RecoveryKey::generate();
        let printed: Vec<u8> = k.grouped().replace('-', "").into_bytes();
        for pos in 0..printed.len() {
            for &sub in CREDENTIAL_ALPHABET {
                if sub == printed[pos] {
                    continue;
                }
                let mut t = printed.clone();
                t[pos] = sub;
                let err = RecoveryKey::parse(std::str::from_utf8(&t).unwrap()).unwrap_err();
                assert_eq!(
                    err,
                    RecoveryKeyError::Typo {
                        groups: vec![pos / GROUP_LEN + 1]
                    }
                );
            }
            if pos + 1 < printed.len() && pos % GROUP_LEN != GROUP_LEN - 1 {
                let mut t = printed.clone();
                t.swap(pos, pos + 1);
                if t != printed {
                    assert!(RecoveryKey::parse(std::str::from_utf8(&t).unwrap()).is_err());
                }
            }
        }
        // Two groups swapped.
        let groups: Vec<&[u8]> = printed.chunks(GROUP_LEN).collect();
        let mut swapped = groups.clone();
        swapped.swap(0, 1);
        if swapped != groups {
            let t: Vec<u8> = swapped.concat();
            assert!(RecoveryKey::parse(std::str::from_utf8(&t).unwrap()).is_err());
        }
    }

    #[test]
    fn bad_characters_and_lengths_are_named() {
        let k = RecoveryKey::generate().to_string();
        let mut t = k.clone().into_bytes();
        t[2] = b'0';
        let err = RecoveryKey::parse(std::str::from_utf8(&t).unwrap()).unwrap_err();
        assert_eq!(err, RecoveryKeyError::NotInAlphabet { position: 3 });
        let err = RecoveryKey::parse(&k[..k.len() - 6]).unwrap_err();
        assert!(
            matches!(err, RecoveryKeyError::WrongLength { got: 30, .. }),
            "{err}"
        );
        assert!(!err.to_string().contains(&k[..5]));
    }

    #[test]
    fn wrap_unwrap_needs_the_right_kek_and_slot_id() {
        let secret = Zeroizing::new([7u8; 32]);
        let kek = [1u8; 32];
        let salt = new_salt();
        let rec = wrap(
            &kek,
            "admin:a",
            &secret,
            SlotKdf::RecoveryKeySha256,
            &salt,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(unwrap(&kek, "admin:a", &rec).unwrap(), secret);
        assert!(unwrap(&[2u8; 32], "admin:a", &rec).is_none());
        assert!(unwrap(&kek, "recovery", &rec).is_none());
        assert!(!format!("{rec:?}").contains(&rec.wrapped));
    }
}
