//! Redacting wrappers for secrets: emergency credentials, admin passwords, session tokens,
//! enrolment codes and stored hashes. None of them prints its content in `Debug` or
//! `Display`, and the plaintext ones are wiped from memory when dropped.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

macro_rules! redacted_secret {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself. Call only where it must leave the process (a form field,
            /// a printed seal sheet, a cookie) or be hashed.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!($label, "(<redacted>)"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("<redacted>")
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

redacted_secret!(
    /// The credential printed on an emergency account's seal sheet.
    EmergencyCredential,
    "EmergencyCredential"
);
redacted_secret!(
    /// An admin's password.
    Password,
    "Password"
);
redacted_secret!(
    /// A session token as the browser holds it (the store keeps only its SHA-256).
    SessionToken,
    "SessionToken"
);
redacted_secret!(
    /// A one-time code that lets a newly created admin enrol their WebAuthn credential.
    EnrolmentCode,
    "EnrolmentCode"
);
redacted_secret!(
    /// An argon2id hash in PHC string form, as stored. Not plaintext, but still never shown:
    /// it is an offline-guessing target.
    StoredHash,
    "StoredHash"
);

impl serde::Serialize for StoredHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for StoredHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(StoredHash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let c = EmergencyCredential::new("K7QH-3XMP-9RTV-WZ2C-ABCD");
        assert_eq!(format!("{c:?}"), "EmergencyCredential(<redacted>)");
        assert_eq!(format!("{c}"), "<redacted>");
        let h = StoredHash::new("$argon2id$v=19$m=19456,t=2,p=1$abc$def");
        assert!(!format!("{h:?}").contains("argon2id"));
        let t = SessionToken::new("tok-secret");
        assert!(!format!("{t:?} {t}").contains("tok-secret"));
    }
}
