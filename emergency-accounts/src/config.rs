//! The `[accounts]` section of `akari.toml`: session lifetimes, failed-login backoff,
//! argon2id cost and the WebAuthn relying party.

use serde::{Deserialize, Serialize};

/// Configuration owned by this crate. Every field has a default; unknown keys are refused
/// so a typo is an error instead of a silently ignored setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// A session unused for this long ends (seconds). Default 15 minutes.
    pub idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use (seconds). Default 12 hours,
    /// one long shift.
    pub absolute_timeout_secs: u64,
    /// Failed logins allowed per account (or admin) from one client address, and per
    /// address across accounts, before backoff starts for that pair or address.
    pub backoff_free_attempts: u32,
    /// First backoff delay (milliseconds); it doubles with each further failure.
    pub backoff_base_ms: u64,
    /// The longest backoff delay (seconds). Backoff never becomes a permanent lockout.
    pub backoff_max_secs: u64,
    /// Failed logins allowed against one account (or admin) from all addresses together
    /// before that account is slowed for everyone. Much higher than
    /// `backoff_free_attempts`, so that one guesser cannot lock a clinician out.
    pub backoff_account_free_attempts: u32,
    /// The longest wait an account's own (all addresses) backoff imposes (seconds).
    pub backoff_account_max_secs: u64,
    /// Failed logins from one client address recorded one entry each in the audit ledger
    /// per `failed_login_window_secs`; further failures in that window are counted in
    /// memory and recorded as one summarising entry when the window ends.
    pub failed_login_entries_per_address: u32,
    /// The window of `failed_login_entries_per_address` (seconds).
    pub failed_login_window_secs: u64,
    pub argon2: Argon2Config,
    pub webauthn: WebauthnConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 15 * 60,
            absolute_timeout_secs: 12 * 60 * 60,
            backoff_free_attempts: 5,
            backoff_base_ms: 1_000,
            backoff_max_secs: 5 * 60,
            backoff_account_free_attempts: 100,
            backoff_account_max_secs: 30,
            failed_login_entries_per_address: 20,
            failed_login_window_secs: 10 * 60,
            argon2: Argon2Config::default(),
            webauthn: WebauthnConfig::default(),
        }
    }
}

/// argon2id cost. Defaults follow OWASP's first recommendation (19 MiB, 2 passes, 1 lane).
/// Stored hashes carry their own parameters, so raising these later keeps old hashes valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// The WebAuthn relying party: what browsers and keys bind credentials to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The relying party ID: the node's host name, e.g. `akari.hospital.example`.
    pub rp_id: String,
    /// The exact origin browsers use, e.g. `https://akari.hospital.example:8443`.
    pub rp_origin: String,
    /// The name keys show to the user.
    pub rp_name: String,
    /// Accept any port on the origin's host (for nodes reached on more than one port).
    pub allow_any_port: bool,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            rp_origin: "https://localhost:8443".into(),
            rp_name: "Akari".into(),
            allow_any_port: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_defaults_and_unknown_keys_are_refused() {
        let c: Config = serde_json::from_str("{}").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.idle_timeout_secs, 900);
        let err = serde_json::from_str::<Config>(r#"{"idle_timeout":60}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err = serde_json::from_str::<Config>(r#"{"argon2":{"memory":1}}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
