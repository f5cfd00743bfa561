//! Secrets in configuration (API tokens, passwords): redacted in `Debug` and `Display`,
//! never serialised, wiped from memory on drop.
//!
//! Any configuration key `X` can instead be given as `X_file = "/path"`; the loader
//! ([`crate::config`]) reads the file and uses its content (one trailing newline removed)
//! as the value of `X`. That is how secrets are kept out of `akari.toml` and the process
//! environment (systemd credentials, Docker secrets).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A secret string. The only way to read it is [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The secret value. Call it only where the value is used, never to log or display.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        if value.is_empty() {
            return Err(serde::de::Error::custom(
                "a secret must not be empty; give the value or a `_file` key",
            ));
        }
        Ok(Secret::new(value))
    }
}

/// Serialises as `"[REDACTED]"`, so printing a configuration can never leak it.
impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_display_and_serialize_never_show_the_value() {
        let secret = Secret::new("hunter2-token");
        assert_eq!(format!("{secret:?}"), "Secret([REDACTED])");
        assert_eq!(format!("{secret}"), "[REDACTED]");
        #[derive(Serialize, Debug)]
        struct Holder {
            token: Secret,
        }
        let holder = Holder {
            token: secret.clone(),
        };
        assert!(!format!("{holder:?}").contains("hunter2"));
        assert!(!toml::to_string(&holder).unwrap().contains("hunter2"));
        assert_eq!(secret.expose(), "hunter2-token");
    }

    #[test]
    fn empty_secret_is_rejected() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let err = toml::from_str::<Holder>("token = \"\"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
    }
}
