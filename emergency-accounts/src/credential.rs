//! Everything that touches a plaintext credential: generating emergency credentials,
//! checking admin passwords against the policy, argon2id hashing and verification.
//!
//! This is deliberately the only module that runs argon2, including the derivation of key
//! slots' key-encryption keys ([`Hasher::credential_kek`], [`Hasher::password_kek`]),
//! so no other code ever needs the plaintext.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use rand::Rng;
use zeroize::Zeroizing;

use crate::config::Argon2Config;
use crate::secret::{EmergencyCredential, Password, StoredHash};
use crate::Error;

/// Characters an emergency credential is made of: upper-case letters and digits without the
/// look-alikes I, 1, O and 0, nor L (lower case is left out entirely, so `l` cannot occur).
/// 31 symbols, about 4.95 bits each.
pub const CREDENTIAL_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// Random characters in a new emergency credential: about 119 bits.
pub const CREDENTIAL_LENGTH: usize = 24;

/// Minimum admin password length (the 2-ministry guideline: 13+ characters).
pub const MIN_PASSWORD_CHARS: usize = 13;

/// argon2id hashing with the configured cost.
#[derive(Clone)]
pub struct Hasher {
    argon2: Argon2<'static>,
    config: Argon2Config,
    /// Verifications run (credential and password), shared by clones.
    verifications: Arc<AtomicU64>,
}

/// The argon2id cost a key slot's key-encryption key was derived with. Stored with the slot,
/// so raising the configured cost later keeps old slots openable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// Bytes of salt for a key slot's KDF.
pub const KEK_SALT_LEN: usize = 16;

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher").finish_non_exhaustive()
    }
}

impl Hasher {
    pub fn new(config: &Argon2Config) -> Result<Self, Error> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| Error::Config(format!("argon2 parameters are not valid: {e}")))?;
        Ok(Self {
            argon2: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            config: config.clone(),
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The cost new key slots are made with (the configured one).
    pub fn kdf_params(&self) -> KdfParams {
        KdfParams {
            memory_kib: self.config.memory_kib,
            iterations: self.config.iterations,
            parallelism: self.config.parallelism,
        }
    }

    /// A key-encryption key for a key slot: a separate argon2id run over the same
    /// normalised credential as [`Self::verify_credential`], with the slot's own random salt
    /// and a 32-byte raw output. It shares nothing with the stored verification hash but the
    /// input, so the hash (an offline-guessing target in any case) reveals nothing about it.
    /// Callers derive it only after verification succeeded: a wrong credential costs one
    /// argon2 run, as before, and unwraps nothing.
    pub fn credential_kek(
        &self,
        credential: &EmergencyCredential,
        salt: &[u8],
        params: KdfParams,
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        let normalized = Zeroizing::new(normalize_credential(credential.expose()));
        derive_kek(normalized.as_bytes(), salt, params)
    }

    /// Like [`Self::credential_kek`], from an admin's password (as typed, not normalised).
    pub fn password_kek(
        &self,
        password: &Password,
        salt: &[u8],
        params: KdfParams,
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        derive_kek(password.expose().as_bytes(), salt, params)
    }

    fn hash_bytes(&self, secret: &[u8]) -> Result<StoredHash, Error> {
        let salt = SaltString::generate(&mut OsRng);
        let hash = self
            .argon2
            .hash_password(secret, &salt)
            .map_err(|e| Error::Internal(format!("argon2id hashing failed: {e}")))?;
        Ok(StoredHash::new(hash.to_string()))
    }

    /// Verification reads the parameters stored in the hash, so older hashes made with other
    /// costs keep working. A malformed stored hash verifies nothing.
    fn verify_bytes(&self, secret: &[u8], stored: &StoredHash) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        match PasswordHash::new(stored.expose()) {
            Ok(parsed) => self.argon2.verify_password(secret, &parsed).is_ok(),
            Err(_) => {
                tracing::error!("a stored credential hash is malformed; treating as mismatch");
                false
            }
        }
    }

    /// How many argon2id verifications (credentials and passwords) this hasher has run.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    pub fn hash_credential(&self, credential: &EmergencyCredential) -> Result<StoredHash, Error> {
        self.hash_bytes(normalize_credential(credential.expose()).as_bytes())
    }

    pub fn verify_credential(&self, credential: &EmergencyCredential, stored: &StoredHash) -> bool {
        self.verify_bytes(normalize_credential(credential.expose()).as_bytes(), stored)
    }

    pub fn hash_password(&self, password: &Password) -> Result<StoredHash, Error> {
        self.hash_bytes(password.expose().as_bytes())
    }

    pub fn verify_password(&self, password: &Password, stored: &StoredHash) -> bool {
        self.verify_bytes(password.expose().as_bytes(), stored)
    }
}

fn derive_kek(secret: &[u8], salt: &[u8], params: KdfParams) -> Result<Zeroizing<[u8; 32]>, Error> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| Error::KeySlots(format!("a key slot's argon2 parameters are not valid: {e}")))?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret, salt, out.as_mut())
        .map_err(|e| Error::Internal(format!("argon2id key derivation failed: {e}")))?;
    Ok(out)
}

/// A fresh emergency credential, grouped in fours for reading off paper:
/// `K7QH-3XMP-9RTV-WZ2C-ABCD-EFGH`.
pub fn generate_credential() -> EmergencyCredential {
    let mut rng = OsRng;
    let mut out = String::with_capacity(CREDENTIAL_LENGTH + CREDENTIAL_LENGTH / 4);
    for i in 0..CREDENTIAL_LENGTH {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        let idx = rng.gen_range(0..CREDENTIAL_ALPHABET.len());
        out.push(char::from(CREDENTIAL_ALPHABET[idx]));
    }
    EmergencyCredential::new(out)
}

/// What a person types, reduced to the credential's canonical form: full-width ASCII (as a
/// Japanese IME may give) becomes half-width, letters become upper case, spaces and hyphens
/// go. So `k7qh 3xmp…` and `Ｋ７ＱＨ－３ＸＭＰ…` both match `K7QH-3XMP-…`.
pub fn normalize_credential(typed: &str) -> String {
    typed
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .filter(|c| !matches!(c, ' ' | '-' | '\u{2010}'..='\u{2015}' | '\u{30FC}'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Character classes an admin password must mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    Letter,
    Digit,
    Symbol,
}

impl fmt::Display for CharClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CharClass::Letter => "letters",
            CharClass::Digit => "digits",
            CharClass::Symbol => "symbols (such as ! # % - _ .)",
        })
    }
}

/// Why a proposed admin password was refused. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("the password has {got} characters; it needs at least {min}")]
    TooShort { got: usize, min: usize },
    #[error("the password must mix letters, digits and symbols; it has no {}", list(.missing))]
    MissingClasses { missing: Vec<CharClass> },
}

fn list(classes: &[CharClass]) -> String {
    classes
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" and no ")
}

/// The admin password policy: at least 13 characters, with letters, digits and symbols.
/// Length is counted in characters, so a Japanese passphrase counts fairly. A short password
/// is refused for its length; a long enough one lists every missing class at once.
pub fn check_password_policy(password: &Password) -> Result<(), PasswordPolicyError> {
    let pw = password.expose();
    let got = pw.chars().count();
    if got < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort {
            got,
            min: MIN_PASSWORD_CHARS,
        });
    }
    let mut missing = Vec::new();
    if !pw.chars().any(char::is_alphabetic) {
        missing.push(CharClass::Letter);
    }
    if !pw.chars().any(|c| c.is_numeric()) {
        missing.push(CharClass::Digit);
    }
    if !pw
        .chars()
        .any(|c| !c.is_alphanumeric() && !c.is_whitespace() && !c.is_control())
    {
        missing.push(CharClass::Symbol);
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PasswordPolicyError::MissingClasses { missing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_long_random_and_free_of_look_alikes() {
        let a = generate_credential();
        let b = generate_credential();
        assert_ne!(a.expose(), b.expose());
        let raw = normalize_credential(a.expose());
        assert!(raw.len() >= 20, "{} characters", raw.len());
        for c in raw.chars() {
            assert!(!"Il1O0o".contains(c), "look-alike {c}");
            assert!(CREDENTIAL_ALPHABET.contains(&(c as u8)));
        }
        // 24 symbols from 31 ≥ 118 bits of entropy.
        assert!((CREDENTIAL_ALPHABET.len() as f64).log2() * CREDENTIAL_LENGTH as f64 >= 118.0);
    }

    #[test]
    fn typed_variants_normalize_to_the_printed_form() {
        assert_eq!(normalize_credential("k7qh 3xmp-9rtv"), "K7QH3XMP9RTV");
        assert_eq!(normalize_credential("Ｋ７ＱＨ－３ＸＭＰ"), "K7QH3XMP");
    }

    #[test]
    fn hash_verifies_only_the_right_credential() {
        let hasher = Hasher::new(&Argon2Config {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        let c = generate_credential();
        let h = hasher.hash_credential(&c).unwrap();
        assert!(h.expose().starts_with("$argon2id$"));
        assert!(hasher.verify_credential(&c, &h));
        let typed = EmergencyCredential::new(c.expose().to_lowercase().replace('-', " "));
        assert!(hasher.verify_credential(&typed, &h));
        assert!(!hasher.verify_credential(&generate_credential(), &h));
        assert!(!hasher.verify_credential(&c, &StoredHash::new("garbage")));
    }
}
