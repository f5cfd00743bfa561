//! The one redacting type for secrets the node handles as text: API tokens and passwords in
//! configuration, and the admin password and recovery key a console command hands to the
//! node. `Debug` and `Display` never show the value, serialising writes `"[REDACTED]"` (so
//! printing a configuration cannot leak it), and the memory is wiped on drop.
//!
//! The value itself is serialised in one place only: the console command's request on the
//! node's private control socket, whose fields say so with
//! `#[serde(with = "crate::secret::wire")]` (or [`wire::option`]).
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

/// A configuration value: must not be empty.
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

/// Serde of a secret that must cross the control socket with its value:
/// `#[serde(with = "crate::secret::wire")]`. What the person typed is carried as typed
/// (even empty: the node's answer says what is wrong with it).
pub mod wire {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Secret;

    pub fn serialize<S: Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(secret.expose())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        let value = zeroize::Zeroizing::new(String::deserialize(deserializer)?);
        Ok(Secret::new(value.as_str()))
    }

    /// The same for an optional secret: `#[serde(default, with = "crate::secret::wire::option")]`.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};

        use super::super::Secret;

        pub fn serialize<S: Serializer>(
            secret: &Option<Secret>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match secret {
                Some(secret) => serializer.serialize_some(secret.expose()),
                None => serializer.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Secret>, D::Error> {
            let value = Option::<String>::deserialize(deserializer)?.map(zeroize::Zeroizing::new);
            Ok(value.map(|v| Secret::new(v.as_str())))
        }
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

    #[test]
    fn wire_fields_carry_the_value_and_still_redact_debug() {
        #[derive(Serialize, Deserialize, Debug)]
        struct Request {
            #[serde(with = "wire")]
            password: Secret,
            #[serde(default, with = "wire::option")]
            recovery_key: Option<Secret>,
        }
        let request = Request {
            password: Secret::new("Correct-horse-9"),
            recovery_key: Some(Secret::new("RECOVERY-1234")),
        };
        assert!(!format!("{request:?}").contains("Correct-horse"));
        let json = serde_json::to_string(&request).unwrap();
        let back: Request = serde_json::from_str(&json).unwrap();
        assert_eq!(back.password.expose(), "Correct-horse-9");
        assert_eq!(back.recovery_key.unwrap().expose(), "RECOVERY-1234");
        let none: Request = serde_json::from_str(r#"{"password":""}"#).unwrap();
        assert!(none.recovery_key.is_none());
    }
}
