//! Pseudonyms for what the review compares but the ledger must not hold in clear: a
//! patient's family name (to find a declared person reading a relative's record) and a
//! patient's hospital ID (to find the configured VIP and employee patients).
//!
//! A pseudonym is HMAC-SHA-256 under a key derived from the ledger's signing key, cut to
//! 128 bits, over the normalised text. The viewer writes the patient's pseudonyms into the
//! details of each record read or print; the review, holding the same ledger, computes
//! the pseudonyms of the declared person's family name and of the configured hospital IDs
//! and compares. Nobody without the signing key can test a guess against an entry.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// What a pseudonym stands for: the same text gives different pseudonyms in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PseudonymKind {
    FamilyName,
    HospitalId,
}

impl PseudonymKind {
    fn label(self) -> &'static [u8] {
        match self {
            PseudonymKind::FamilyName => b"family-name",
            PseudonymKind::HospitalId => b"hospital-id",
        }
    }
}

/// The pseudonym key derived from a signing key's secret bytes.
pub(crate) fn derive_key(signing_secret: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"akari review pseudonym key v1\0");
    h.update(signing_secret);
    h.finalize().into()
}

/// Trims, folds full-width spaces and ASCII case: `" Yamada"` and `"yamada"` agree.
fn normalise(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The pseudonym of `text` in `kind` under `key`, in hex; `None` for blank text.
pub(crate) fn compute(key: &[u8; 32], kind: PseudonymKind, text: &str) -> Option<String> {
    let text = normalise(text);
    if text.is_empty() {
        return None;
    }
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    mac.update(kind.label());
    mac.update(b"\0");
    mac.update(text.as_bytes());
    Some(hex::encode(&mac.finalize().into_bytes()[..16]))
}

/// The family name of a name written family name first, as Japanese records write it
/// (`山田 太郎`, `ヤマダ タロウ`); `None` when the name has no separate given name, since the
/// family name cannot then be told apart.
pub fn family_name(full_name: &str) -> Option<&str> {
    let mut parts = full_name.split_whitespace();
    let first = parts.next()?;
    parts.next().map(|_| first)
}

/// The family names a declared person's name may hold: the first word (Japanese order)
/// and the last (Western order); for a name written without a space in Japanese script,
/// each of its first one to four characters, as the family name cannot be told apart.
pub fn declared_family_candidates(name: &str) -> Vec<String> {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => Vec::new(),
        [one] if one.is_ascii() => vec![(*one).to_string()],
        [one] => {
            let chars: Vec<char> = one.chars().collect();
            (1..=chars.len().min(4))
                .map(|n| chars[..n].iter().collect())
                .collect()
        }
        [first, .., last] => vec![(*first).to_string(), (*last).to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_separated_by_kind() {
        let k1 = derive_key(&[1; 32]);
        let k2 = derive_key(&[2; 32]);
        let a = compute(&k1, PseudonymKind::FamilyName, "山田").unwrap();
        assert_eq!(
            Some(a.clone()),
            compute(&k1, PseudonymKind::FamilyName, " 山田　")
        );
        assert_ne!(
            Some(a.clone()),
            compute(&k2, PseudonymKind::FamilyName, "山田")
        );
        assert_ne!(Some(a), compute(&k1, PseudonymKind::HospitalId, "山田"));
        assert_eq!(compute(&k1, PseudonymKind::HospitalId, "  "), None);
    }

    #[test]
    fn family_names_of_patients_and_declared_persons() {
        assert_eq!(family_name("山田　太郎"), Some("山田"));
        assert_eq!(family_name("山田太郎"), None);
        assert_eq!(declared_family_candidates("山田 花子"), ["山田", "花子"]);
        assert_eq!(
            declared_family_candidates("山田花子"),
            ["山", "山田", "山田花", "山田花子"]
        );
        assert_eq!(declared_family_candidates("山田"), ["山", "山田"]);
        assert_eq!(
            declared_family_candidates("Hanako Yamada"),
            ["Hanako", "Yamada"]
        );
    }
}
