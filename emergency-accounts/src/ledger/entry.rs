//! One ledger entry, its canonical byte encoding, and the hash chain over entries.
//!
//! # Canonical encoding (format version 1)
//! An entry's bytes are the compact JSON serialization of [`LedgerEntry`] as produced by
//! `serde_json::to_vec`: fields in declaration order, no whitespace, enums tagged as in
//! `event.rs`. The bytes are produced once, when the entry is appended, then stored and
//! exported *verbatim*; hashing and verification always work on those exact bytes, never on
//! a re-serialization, so any changed byte is detected.
//!
//! # Hash chain
//! `leaf(n) = SHA-256(0x00 ‖ bytes(n))` and `head(n) = SHA-256(0x01 ‖ head(n-1) ‖ leaf(n))`,
//! with `head(0)` = 32 zero bytes. Sequence numbers start at 1 and have no gaps; the
//! sequence, never the time, is the order. The domain-separation bytes follow RFC 9162.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{Action, Actor, AuditEvent, Client, Mode};

/// A SHA-256 value: a leaf hash or a chain head. Serialized as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The chain head before the first entry.
    pub const GENESIS: Hash = Hash([0u8; 32]);

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Hash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Hash(out))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Hash::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hexadecimal digits (a SHA-256)"))
    }
}

/// `SHA-256(0x00 ‖ bytes)`: the leaf hash of one entry's canonical bytes.
pub fn leaf_hash(bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(bytes);
    Hash(h.finalize().into())
}

/// `SHA-256(0x01 ‖ previous ‖ leaf)`: the chain head after appending `leaf`.
pub fn chain(previous: &Hash, leaf: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(previous.0);
    h.update(leaf.0);
    Hash(h.finalize().into())
}

/// One append-only ledger entry: the event as given plus its place in the ledger.
// The event's fields are repeated rather than embedded: the canonical bytes (and so every
// chain hash) follow this field order, with `clock_back` among them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Position in the ledger, from 1, without gaps. This is the order.
    pub seq: u64,
    /// The time the caller gave, recorded as given.
    pub time: DateTime<Utc>,
    /// `true` when `time` is earlier than the previous entry's time (the clock went back).
    /// The entry still keeps its sequence position.
    pub clock_back: bool,
    pub actor: Actor,
    pub action: Action,
    /// Opaque patient key, for patient reads and prints.
    pub patient: Option<String>,
    /// Minimal details (see [`crate::ledger::details`]).
    pub details: Option<String>,
    pub client: Client,
    pub mode: Mode,
    /// `true` for every event recorded in drill mode.
    pub drill: bool,
}

impl LedgerEntry {
    pub(crate) fn from_event(
        seq: u64,
        event: AuditEvent,
        previous_time: Option<DateTime<Utc>>,
    ) -> Self {
        let clock_back = previous_time.is_some_and(|prev| event.time < prev);
        LedgerEntry {
            seq,
            time: event.time,
            clock_back,
            drill: event.mode.is_drill(),
            actor: event.actor,
            action: event.action,
            patient: event.patient,
            details: event.details,
            client: event.client,
            mode: event.mode,
        }
    }

    /// The canonical bytes (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serializing plain data structs and enums with string keys cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The session this entry belongs to, for emergency-account actors.
    pub fn session_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::Emergency { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    /// The emergency account that acted, for emergency-account actors.
    pub fn account_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::Emergency { account_id, .. } => Some(account_id),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_depends_on_order_and_content() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let ab = chain(&chain(&Hash::GENESIS, &a), &b);
        let ba = chain(&chain(&Hash::GENESIS, &b), &a);
        assert_ne!(ab, ba);
        assert_ne!(leaf_hash(b"a"), leaf_hash(b"A"));
        // Domain separation: a leaf is never a node.
        assert_ne!(leaf_hash(&[0u8; 64]), chain(&Hash::GENESIS, &Hash::GENESIS));
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = leaf_hash(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
    }
}
