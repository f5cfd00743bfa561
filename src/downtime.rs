//! The downtime records' encryption: the snapshot's own key pair. Each entry is sealed to
//! `keys/snapshot.pub` under a fresh data key wrapped like a snapshot generation's (see
//! `akari_sync::crypto`), so recording needs no secret; reading needs the snapshot
//! secret, which the accounts layer unwraps at a sealed-account, admin or recovery-key
//! login and wipes at the end of an episode — the same key slots, the same unlock path.

use std::sync::{Arc, RwLock};

use akari_downtime::{Cipher, Error, Result};
use akari_sync::crypto::{
    Keyring, Sealer, SnapshotPublicKey, SnapshotSecret, ValuePlace, WRAPPED_LEN,
};
use zeroize::Zeroizing;

/// Marks a value sealed by [`SnapshotKeyCipher`] (the plain form starts with 0).
const SEALED_TAG: u8 = 1;
/// The entry's place in the associated data: a space no snapshot value uses.
const DOWNTIME_SPACE: u8 = 0xD7;

/// Seals downtime entries to the snapshot public key; opens them while the snapshot
/// secret is in memory.
pub struct SnapshotKeyCipher {
    public: SnapshotPublicKey,
    secret: RwLock<Option<SnapshotSecret>>,
}

impl SnapshotKeyCipher {
    pub fn new(public: SnapshotPublicKey) -> Arc<Self> {
        Arc::new(SnapshotKeyCipher {
            public,
            secret: RwLock::new(None),
        })
    }

    /// The snapshot secret was unwrapped: entries can be read.
    pub fn unlock(&self, secret: SnapshotSecret) {
        if secret.public_key() == self.public {
            *self.secret.write().unwrap_or_else(|p| p.into_inner()) = Some(secret);
        }
    }

    /// The snapshot secret was wiped: entries can be written, not read.
    pub fn lock(&self) {
        *self.secret.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn id_hash(id: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[8..].copy_from_slice(&id.to_be_bytes());
    h
}

impl Cipher for SnapshotKeyCipher {
    fn seal(&self, id: u64, plain: &[u8]) -> Result<Vec<u8>> {
        let (sealer, wrapped) = Sealer::new(&self.public, id);
        let hash = id_hash(id);
        let place = ValuePlace {
            space: DOWNTIME_SPACE,
            rtype: 0,
            id_hash: &hash,
        };
        let mut out = Vec::with_capacity(1 + wrapped.len() + plain.len() + 64);
        out.push(SEALED_TAG);
        out.extend_from_slice(&wrapped);
        out.extend_from_slice(&sealer.seal(place, plain));
        Ok(out)
    }

    fn open(&self, id: u64, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some((&SEALED_TAG, rest)) = sealed.split_first() else {
            // Stored before the node had a snapshot key: the plain form.
            return akari_downtime::Plain.open(id, sealed);
        };
        if rest.len() < WRAPPED_LEN {
            return Err(Error::Damaged);
        }
        let (wrapped, value) = rest.split_at(WRAPPED_LEN);
        let guard = self.secret.read().unwrap_or_else(|p| p.into_inner());
        let secret = guard.as_ref().ok_or(Error::Locked)?;
        let ring =
            Keyring::unwrap_all(secret, [(id, wrapped)], None).map_err(|_| Error::Damaged)?;
        let hash = id_hash(id);
        let place = ValuePlace {
            space: DOWNTIME_SPACE,
            rtype: 0,
            id_hash: &hash,
        };
        ring.open(place, value).map_err(|_| Error::Damaged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_seal_to_the_snapshot_key_and_open_only_while_unlocked() {
        let (public, secret) = akari_sync::crypto::generate();
        let cipher = SnapshotKeyCipher::new(public);
        let sealed = cipher.seal(7, b"entry").unwrap();
        assert!(!sealed.windows(5).any(|w| w == b"entry"), "not in clear");
        assert!(matches!(cipher.open(7, &sealed), Err(Error::Locked)));
        cipher.unlock(secret.clone());
        assert_eq!(cipher.open(7, &sealed).unwrap().as_slice(), b"entry");
        // Bound to its id: it cannot be moved to another entry.
        assert!(matches!(cipher.open(8, &sealed), Err(Error::Damaged)));
        // Another node's key unlocks nothing here.
        let (_, other) = akari_sync::crypto::generate();
        cipher.lock();
        cipher.unlock(other);
        assert!(matches!(cipher.open(7, &sealed), Err(Error::Locked)));
        cipher.unlock(secret);
        // Entries stored in plain form before the key existed stay readable.
        let plain = akari_downtime::Plain.seal(1, b"old").unwrap();
        assert_eq!(cipher.open(1, &plain).unwrap().as_slice(), b"old");
    }
}
