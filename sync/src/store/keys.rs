//! Storage keys, keyed hashes and the generation set hash.
//!
//! Item key (42 bytes): `space(1) ‖ patient(16) ‖ resource type(1) ‖ id hash(16) ‖
//! born generation(8, big endian)`. Keys sort by space, then patient, so one patient's
//! items are one contiguous range. Nothing in a key is readable patient data: the patient
//! part is an HMAC of the Patient's logical id under the node secret, the id part an HMAC
//! of the resource's type and id.
//!
//! Keys read back from the file are parsed, never sliced blindly: a key of the wrong
//! length (a damaged file) is [`StoreError::Corrupt`], not a panic.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::mapping::ResourceType;

pub const KEY_LEN: usize = 42;
/// Key without the born generation: names one resource (in one space) across versions.
pub const RKEY_LEN: usize = 34;

/// Formerly one row per search-index entry (schema 1); schema 2 keeps the index in blobs
/// (see [`super::index_blob`]) and writes nothing in this space.
pub const SPACE_INDEX: u8 = 0;
/// Record items, read per patient.
pub const SPACE_RECORD: u8 = 1;
/// Medications: not patient data; patient part is all zero.
pub const SPACE_MEDICATION: u8 = 2;

/// "Still alive" marker in a version's `died` field.
pub const ALIVE: u64 = u64::MAX;

pub type Pk = [u8; 16];
pub type IdHash = [u8; 16];

/// Keyed hashing under the node secret.
#[derive(Clone)]
pub struct Keyer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Keyer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyer(..)")
    }
}

impl Keyer {
    pub fn new(secret: &[u8; 32]) -> Self {
        Keyer {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    fn mac(&self, domain: u8, parts: &[&[u8]]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(&[domain]);
        for p in parts {
            m.update(&(p.len() as u32).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Hash of a resource's type and logical id. For a Patient this is also its patient
    /// key ([`Keyer::patient`]).
    pub fn id_hash(&self, rtype: ResourceType, id: &str) -> IdHash {
        let full = self.mac(1, &[&[rtype as u8], id.as_bytes()]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// The opaque patient key of the Patient with this logical id: stable for as long as
    /// the node secret lives, not reversible without it, never the hospital ID.
    pub fn patient(&self, patient_id: &str) -> Pk {
        self.id_hash(ResourceType::Patient, patient_id)
    }

    /// Hash of a patient identifier (system, value), for references by identifier.
    pub fn identifier(&self, system: &str, value: &str) -> [u8; 32] {
        self.mac(2, &[system.as_bytes(), value.trim().as_bytes()])
    }
}

pub fn item_key(space: u8, pk: &Pk, rtype: u8, idh: &IdHash, born: u64) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    k[0] = space;
    k[1..17].copy_from_slice(pk);
    k[17] = rtype;
    k[18..34].copy_from_slice(idh);
    k[34..42].copy_from_slice(&born.to_be_bytes());
    k
}

/// The parts of an item key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemKey {
    pub space: u8,
    pub pk: Pk,
    pub rtype: u8,
    pub idh: IdHash,
    pub born: u64,
}

impl ItemKey {
    /// A key as read from the file; any length but [`KEY_LEN`] means the file is damaged.
    pub fn parse(k: &[u8]) -> Result<ItemKey, StoreError> {
        let k: &[u8; KEY_LEN] = k.try_into().map_err(|_| {
            StoreError::Corrupt(format!(
                "an item key of {} bytes (expected {KEY_LEN})",
                k.len()
            ))
        })?;
        Ok(ItemKey::of(k))
    }

    /// The parts of a key of the right length.
    pub fn of(k: &[u8; KEY_LEN]) -> ItemKey {
        let mut pk = [0u8; 16];
        pk.copy_from_slice(&k[1..17]);
        let mut idh = [0u8; 16];
        idh.copy_from_slice(&k[18..34]);
        let mut born = [0u8; 8];
        born.copy_from_slice(&k[34..42]);
        ItemKey {
            space: k[0],
            pk,
            rtype: k[17],
            idh,
            born: u64::from_be_bytes(born),
        }
    }

    /// The key with another born generation.
    pub fn born_at(&self, born: u64) -> [u8; KEY_LEN] {
        item_key(self.space, &self.pk, self.rtype, &self.idh, born)
    }
}

/// The resource part of a stored item key (without the born generation), for the set
/// hash; [`StoreError::Corrupt`] if the key is not [`KEY_LEN`] bytes.
pub fn rkey_of(k: &[u8]) -> Result<&[u8], StoreError> {
    ItemKey::parse(k)?;
    Ok(&k[..RKEY_LEN])
}

/// Grave key: `died(8, big endian) ‖ item key`, so retention finds the versions that died
/// up to a generation with one range scan.
pub fn grave_key(died: u64, key: &[u8; KEY_LEN]) -> [u8; 8 + KEY_LEN] {
    let mut g = [0u8; 8 + KEY_LEN];
    g[..8].copy_from_slice(&died.to_be_bytes());
    g[8..].copy_from_slice(key);
    g
}

/// The item key inside a grave key read from the file.
pub fn grave_item(g: &[u8]) -> Result<&[u8], StoreError> {
    match g.get(8..) {
        Some(k) if k.len() == KEY_LEN => Ok(k),
        _ => Err(StoreError::Corrupt(format!(
            "a grave key of {} bytes (expected {})",
            g.len(),
            8 + KEY_LEN
        ))),
    }
}

/// Range bounds covering every key with this prefix.
pub fn prefix_range(prefix: &[u8]) -> ([u8; KEY_LEN], [u8; KEY_LEN]) {
    let mut lo = [0u8; KEY_LEN];
    let mut hi = [0xFFu8; KEY_LEN];
    lo[..prefix.len()].copy_from_slice(prefix);
    hi[..prefix.len()].copy_from_slice(prefix);
    (lo, hi)
}

/// Every stored version's value starts with a fixed header readable without touching the
/// content: content hash, the generation in which the version stopped being visible, and
/// the item kind. The opaque content (ciphertext when the snapshot is encrypted) follows.
///
/// `hash(32) ‖ died(4, big endian) ‖ kind(1)`. The content hash stays a full SHA-256: it is
/// the integrity proof of the stored bytes, checked before an item is decoded and summed
/// into the generation's set hash by verification, which runs on a node that cannot open
/// the AEAD (it holds only the public key), so the AEAD's tag does not stand in for it.
/// `died` is a generation number in four bytes ([`ALIVE`] is stored as `u32::MAX`):
/// [`GENERATION_LIMIT`] keeps every generation below it.
pub const META_LEN: usize = 37;
/// Where the kind byte sits in a stored value's header.
pub const KIND_AT: usize = META_LEN - 1;
const DIED_AT: usize = 32;
const STORED_ALIVE: u32 = u32::MAX;

/// The first generation number the snapshot format cannot hold (a version's `died` is four
/// bytes): at one generation a minute this is eight thousand years away, and
/// `next_generation` refuses to reach it rather than wrap.
pub const GENERATION_LIMIT: u64 = STORED_ALIVE as u64;

fn stored_died(died: u64) -> [u8; 4] {
    let d = if died >= GENERATION_LIMIT {
        debug_assert_eq!(died, ALIVE, "a generation at or past the format's limit");
        STORED_ALIVE
    } else {
        died as u32
    };
    d.to_be_bytes()
}

pub fn meta_value(hash: &[u8; 32], died: u64, kind: u8) -> [u8; META_LEN] {
    let mut v = [0u8; META_LEN];
    v[..32].copy_from_slice(hash);
    v[DIED_AT..KIND_AT].copy_from_slice(&stored_died(died));
    v[KIND_AT] = kind;
    v
}

/// Header followed by content.
pub fn item_value(hash: &[u8; 32], died: u64, kind: u8, content: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(META_LEN + content.len());
    v.extend_from_slice(&meta_value(hash, died, kind));
    v.extend_from_slice(content);
    v
}

/// The same value with another `died` (the content bytes are copied, never decoded).
pub fn with_died(value: &[u8], died: u64) -> Vec<u8> {
    let mut v = value.to_vec();
    if v.len() >= META_LEN {
        v[DIED_AT..KIND_AT].copy_from_slice(&stored_died(died));
    }
    v
}

/// The content part of a stored value.
pub fn content_of(value: &[u8]) -> &[u8] {
    value.get(META_LEN..).unwrap_or(&[])
}

/// Flag in a header's kind byte: the resource has a search-index entry (held in the
/// index blobs, see [`super::index_blob`]), so ending this version ends that entry too.
pub const KIND_INDEXED: u8 = 0x80;

pub struct MetaView {
    pub hash: [u8; 32],
    pub died: u64,
    /// The item kind (without [`KIND_INDEXED`]).
    pub kind: u8,
    pub indexed: bool,
}

pub fn parse_meta(v: &[u8]) -> Option<MetaView> {
    if v.len() < META_LEN {
        return None;
    }
    Some(MetaView {
        hash: v[..32].try_into().ok()?,
        died: match u32::from_be_bytes(v[DIED_AT..KIND_AT].try_into().ok()?) {
            STORED_ALIVE => ALIVE,
            d => u64::from(d),
        },
        kind: v[KIND_AT] & !KIND_INDEXED,
        indexed: v[KIND_AT] & KIND_INDEXED != 0,
    })
}

/// Owner entry: where the newest version of a resource lives.
/// `(resource type ‖ id hash)` → `patient(16) ‖ varint(born << 1 | has index entry)`.
/// The generation is a LEB128 varint (one or two bytes for the first 8,191 generations,
/// instead of eight) with the index flag in its lowest bit: an owner row is 17 + 17..19
/// bytes instead of 17 + 25. The key keeps the full 16-byte id hash: it names the resource
/// across the whole hospital, and the patient part is the item key's patient.
pub fn owner_key(rtype: u8, idh: &IdHash) -> [u8; 17] {
    let mut k = [0u8; 17];
    k[0] = rtype;
    k[1..].copy_from_slice(idh);
    k
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub pk: Pk,
    pub born: u64,
    pub has_index: bool,
}

/// The longest owner value: the patient and a 65-bit varint (ten bytes).
const OWNER_MAX: usize = 16 + 10;

/// An encoded owner value (on the stack; [`OwnerValue::as_slice`] is what is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OwnerValue {
    buf: [u8; OWNER_MAX],
    len: u8,
}

impl OwnerValue {
    pub fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

pub fn owner_value(o: &Owner) -> OwnerValue {
    let mut buf = [0u8; OWNER_MAX];
    buf[..16].copy_from_slice(&o.pk);
    let mut n = (u128::from(o.born) << 1) | u128::from(o.has_index);
    let mut len = 16;
    loop {
        let low = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            buf[len] = low;
            len += 1;
            break;
        }
        buf[len] = low | 0x80;
        len += 1;
    }
    OwnerValue {
        buf,
        len: len as u8,
    }
}

/// An owner value read from the file; `None` for a truncated, overlong or trailing-byte
/// value (the caller reports the file as damaged).
pub fn parse_owner(v: &[u8]) -> Option<Owner> {
    let pk: Pk = v.get(..16)?.try_into().ok()?;
    let rest = &v[16..];
    if rest.is_empty() || rest.len() > OWNER_MAX - 16 {
        return None;
    }
    let mut n = 0u128;
    for (i, b) in rest.iter().enumerate() {
        n |= u128::from(b & 0x7F) << (7 * i);
    }
    let owner = Owner {
        pk,
        born: u64::try_from(n >> 1).ok()?,
        has_index: n & 1 == 1,
    };
    // Only the one shortest encoding is accepted (a missing continuation bit, an overlong
    // varint or a trailing byte re-encodes differently).
    (owner_value(&owner).as_slice() == v).then_some(owner)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Order-independent hash of a set of items: the sum modulo 2^256 of
/// `SHA-256(resource key ‖ content hash)` over every visible item. Adding and removing
/// one item is O(1), so an incremental generation's hash is its parent's plus the delta,
/// and `verify` recomputes it from scratch to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetHash([u64; 4]);

impl SetHash {
    fn element(rkey: &[u8], content_hash: &[u8; 32]) -> [u64; 4] {
        let mut h = Sha256::new();
        h.update(rkey);
        h.update(content_hash);
        let d: [u8; 32] = h.finalize().into();
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = u64::from_le_bytes(d[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        }
        limbs
    }

    pub fn add(&mut self, rkey: &[u8], content_hash: &[u8; 32]) {
        self.add_limbs(Self::element(rkey, content_hash));
    }

    /// Add every item of `other` (the sum of two disjoint sets' hashes is their union's).
    pub fn merge(&mut self, other: &SetHash) {
        self.add_limbs(other.0);
    }

    fn add_limbs(&mut self, e: [u64; 4]) {
        let mut carry = 0u128;
        for (a, b) in self.0.iter_mut().zip(e) {
            let s = *a as u128 + b as u128 + carry;
            *a = s as u64;
            carry = s >> 64;
        }
    }

    pub fn remove(&mut self, rkey: &[u8], content_hash: &[u8; 32]) {
        let e = Self::element(rkey, content_hash);
        let mut borrow = 0i128;
        for (a, b) in self.0.iter_mut().zip(e) {
            let d = *a as i128 - b as i128 - borrow;
            if d < 0 {
                *a = (d + (1i128 << 64)) as u64;
                borrow = 1;
            } else {
                *a = d as u64;
                borrow = 0;
            }
        }
    }

    pub fn to_hex(self) -> String {
        let mut bytes = Vec::with_capacity(32);
        for l in self.0 {
            bytes.extend_from_slice(&l.to_le_bytes());
        }
        hex::encode(bytes)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        let b = hex::decode(s).ok()?;
        if b.len() != 32 {
            return None;
        }
        let mut limbs = [0u64; 4];
        for (i, l) in limbs.iter_mut().enumerate() {
            *l = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().ok()?);
        }
        Some(SetHash(limbs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_hash_is_order_independent_and_removable() {
        let h1 = [1u8; 32];
        let h2 = [2u8; 32];
        let mut a = SetHash::default();
        a.add(b"k1", &h1);
        a.add(b"k2", &h2);
        let mut b = SetHash::default();
        b.add(b"k2", &h2);
        b.add(b"k1", &h1);
        assert_eq!(a, b);
        a.remove(b"k2", &h2);
        let mut c = SetHash::default();
        c.add(b"k1", &h1);
        assert_eq!(a, c);
        assert_eq!(SetHash::from_hex(&a.to_hex()), Some(a));
        let mut parts = SetHash::default();
        parts.add(b"k2", &h2);
        c.merge(&parts);
        assert_eq!(c, b);
        a.remove(b"k1", &h1);
        assert_eq!(a, SetHash::default());
    }

    #[test]
    fn short_or_long_keys_from_a_damaged_file_are_corrupt_not_a_panic() {
        let key = item_key(SPACE_RECORD, &[3; 16], 4, &[5; 16], 9);
        let parsed = ItemKey::parse(&key).unwrap();
        assert_eq!(
            parsed,
            ItemKey {
                space: SPACE_RECORD,
                pk: [3; 16],
                rtype: 4,
                idh: [5; 16],
                born: 9
            }
        );
        assert_eq!(parsed.born_at(9), key);
        assert_eq!(rkey_of(&key).unwrap(), &key[..RKEY_LEN]);
        let grave = grave_key(7, &key);
        assert_eq!(grave_item(&grave).unwrap(), key.as_slice());
        let mut long = key.to_vec();
        long.push(0);
        for bad in [
            &[][..],
            &key[..1],
            &key[..17],
            &key[..RKEY_LEN],
            &key[..KEY_LEN - 1],
            &long,
        ] {
            assert!(
                matches!(ItemKey::parse(bad), Err(StoreError::Corrupt(_))),
                "{} bytes",
                bad.len()
            );
            assert!(matches!(rkey_of(bad), Err(StoreError::Corrupt(_))));
        }
        for bad in [&[][..], &grave[..7], &grave[..8], &grave[..8 + KEY_LEN - 1]] {
            assert!(
                matches!(grave_item(bad), Err(StoreError::Corrupt(_))),
                "{} bytes",
                bad.len()
            );
        }
    }

    #[test]
    fn headers_and_owner_rows_read_back_and_damaged_owner_rows_are_refused() {
        for died in [1, 2, 300, GENERATION_LIMIT - 1, ALIVE] {
            let v = item_value(&[9; 32], died, 3 | KIND_INDEXED, b"content");
            assert_eq!(v.len(), META_LEN + 7);
            let m = parse_meta(&v).unwrap();
            assert_eq!(
                (m.hash, m.died, m.kind, m.indexed),
                ([9; 32], died, 3, true)
            );
            assert_eq!(content_of(&v), b"content");
            let m = parse_meta(&with_died(&v, 5)).unwrap();
            assert_eq!((m.died, m.kind), (5, 3));
        }
        for born in [0, 1, 63, 64, 8191, 8192, 1 << 40, u64::MAX] {
            for has_index in [false, true] {
                let o = Owner {
                    pk: [7; 16],
                    born,
                    has_index,
                };
                let v = owner_value(&o);
                assert_eq!(parse_owner(v.as_slice()), Some(o));
                let mut long = v.as_slice().to_vec();
                long.push(0);
                assert_eq!(parse_owner(&long), None);
                assert_eq!(parse_owner(&v.as_slice()[..v.as_slice().len() - 1]), None);
            }
        }
        let small = owner_value(&Owner {
            pk: [1; 16],
            born: 5,
            has_index: true,
        });
        assert_eq!(small.as_slice().len(), 17);
        // An overlong varint (a continuation byte carrying nothing) is not this row.
        let mut overlong = small.as_slice().to_vec();
        overlong[16] |= 0x80;
        overlong.push(0);
        assert_eq!(parse_owner(&overlong), None);
        assert_eq!(parse_owner(&[1; 16]), None);
    }

    #[test]
    fn patient_key_is_keyed_and_stable() {
        let k1 = Keyer::new(&[7; 32]);
        let k2 = Keyer::new(&[8; 32]);
        assert_eq!(k1.patient("p1"), k1.patient("p1"));
        assert_ne!(k1.patient("p1"), k2.patient("p1"));
        assert_ne!(k1.patient("p1"), k1.id_hash(ResourceType::Condition, "p1"));
    }
}
