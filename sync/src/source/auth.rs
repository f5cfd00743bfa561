//! Credentials for the HTTP sources: none, bearer token, HTTP basic, mutual TLS (handled by
//! the TLS layer) and SMART Backend Services (client-credentials grant with a JWT
//! assertion signed RS384 or ES384, the access token cached until shortly before expiry).
//!
//! Secrets come from files named in the configuration and never appear in `Debug` output,
//! logs or error messages.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{RequestBuilder, Url};
use serde::{Deserialize, Serialize};

use super::{AuthConfig, AuthKind, SourceError};

/// Signature algorithm of the SMART client assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmartAlgorithm {
    #[default]
    RS384,
    ES384,
}

/// A secret string whose `Debug` shows nothing.
#[derive(Clone)]
pub(crate) struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

fn read_secret(path: &Option<std::path::PathBuf>, what: &str) -> Result<Secret, SourceError> {
    let path = path.as_ref().ok_or_else(|| {
        SourceError::Config(format!(
            "[sync.source.auth] needs `{what}` for this auth kind"
        ))
    })?;
    let s = std::fs::read_to_string(path).map_err(|e| {
        SourceError::Config(format!(
            "cannot read {what} {}: {}",
            path.display(),
            e.kind()
        ))
    })?;
    let s = s.trim().to_string();
    if s.is_empty() {
        return Err(SourceError::Config(format!(
            "{what} {} is empty",
            path.display()
        )));
    }
    Ok(Secret(s))
}

/// How requests to the FHIR server are authenticated.
#[derive(Debug)]
pub(crate) enum Auth {
    None,
    Bearer(Secret),
    Basic { username: String, password: Secret },
    Smart(Box<Smart>),
}

pub(crate) struct Smart {
    client_id: String,
    key: EncodingKey,
    algorithm: SmartAlgorithm,
    key_id: Option<String>,
    scope: String,
    token_url: Mutex<Option<Url>>,
    cached: Mutex<Option<(Secret, Instant)>>,
    /// `[sync.source] allow_plain_http`: the token endpoint may be plain http elsewhere.
    allow_plain_http: bool,
}

impl std::fmt::Debug for Smart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smart")
            .field("client_id", &self.client_id)
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    jti: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
}

impl Auth {
    pub(crate) fn from_config(
        cfg: &AuthConfig,
        allow_plain_http: bool,
    ) -> Result<Auth, SourceError> {
        Ok(match cfg.kind {
            AuthKind::None | AuthKind::Mtls => Auth::None,
            AuthKind::Bearer => Auth::Bearer(read_secret(&cfg.token_file, "token_file")?),
            AuthKind::Basic => Auth::Basic {
                username: cfg
                    .username
                    .clone()
                    .ok_or_else(|| SourceError::Config("basic auth needs `username`".into()))?,
                password: read_secret(&cfg.password_file, "password_file")?,
            },
            AuthKind::Smart => {
                let client_id = cfg
                    .client_id
                    .clone()
                    .ok_or_else(|| SourceError::Config("SMART auth needs `client_id`".into()))?;
                let pem = read_secret(&cfg.private_key_file, "private_key_file")?;
                let algorithm = cfg.algorithm.unwrap_or_default();
                let key = match algorithm {
                    SmartAlgorithm::RS384 => EncodingKey::from_rsa_pem(pem.0.as_bytes()),
                    SmartAlgorithm::ES384 => EncodingKey::from_ec_pem(pem.0.as_bytes()),
                }
                .map_err(|_| {
                    SourceError::Config(format!(
                        "private_key_file is not a PEM {} private key",
                        if algorithm == SmartAlgorithm::RS384 {
                            "RSA"
                        } else {
                            "P-384 EC (PKCS#8)"
                        }
                    ))
                })?;
                let token_url = match &cfg.token_url {
                    Some(u) => Some(Url::parse(u).map_err(|e| {
                        SourceError::Config(format!("token_url is not a URL: {e}"))
                    })?),
                    None => None,
                };
                let smart = Smart {
                    client_id,
                    key,
                    algorithm,
                    key_id: cfg.key_id.clone(),
                    scope: cfg.scope.clone().unwrap_or_else(|| "system/*.read".into()),
                    token_url: Mutex::new(token_url),
                    cached: Mutex::new(None),
                    allow_plain_http,
                };
                // Sign once now so a key that does not fit the algorithm fails at start-up.
                smart.assertion("https://check.invalid/token")?;
                Auth::Smart(Box::new(smart))
            }
        })
    }

    /// Forget a cached access token (after the server answered 401).
    pub(crate) fn invalidate(&self) -> bool {
        match self {
            Auth::Smart(s) => {
                *s.cached.lock().unwrap_or_else(|e| e.into_inner()) = None;
                true
            }
            _ => false,
        }
    }

    /// Add credentials to a request for the FHIR server itself.
    pub(crate) async fn apply(
        &self,
        rb: RequestBuilder,
        client: &reqwest::Client,
        base: &Url,
    ) -> Result<RequestBuilder, SourceError> {
        Ok(match self {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(&t.0),
            Auth::Basic { username, password } => rb.basic_auth(username, Some(&password.0)),
            Auth::Smart(s) => {
                let token = s.token(client, base).await?;
                rb.bearer_auth(token.0)
            }
        })
    }
}

impl Smart {
    fn assertion(&self, aud: &str) -> Result<String, SourceError> {
        let now = chrono::Utc::now().timestamp();
        let jti =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 18]>());
        let claims = Claims {
            iss: &self.client_id,
            sub: &self.client_id,
            aud,
            exp: now + 300,
            iat: now,
            jti,
        };
        let mut header = Header::new(match self.algorithm {
            SmartAlgorithm::RS384 => Algorithm::RS384,
            SmartAlgorithm::ES384 => Algorithm::ES384,
        });
        header.typ = Some("JWT".into());
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|_| {
            SourceError::Config(format!(
                "cannot sign the SMART client assertion with private_key_file as {:?}; does the key match the algorithm?",
                self.algorithm
            ))
        })
    }

    async fn token_url(&self, client: &reqwest::Client, base: &Url) -> Result<Url, SourceError> {
        if let Some(u) = self
            .token_url
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(u);
        }
        let well_known = super::http::join(base, ".well-known/smart-configuration")?;
        let resp = client
            .get(well_known)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| SourceError::Connection(super::http::describe(&e)))?;
        if !resp.status().is_success() {
            return Err(SourceError::Config(format!(
                "no token_url configured and .well-known/smart-configuration answered HTTP {}; set `token_url`",
                resp.status().as_u16()
            )));
        }
        #[derive(Deserialize)]
        struct Conf {
            token_endpoint: String,
        }
        let conf: Conf = resp.json().await.map_err(|_| {
            SourceError::Protocol("smart-configuration has no token_endpoint".into())
        })?;
        let url = Url::parse(&conf.token_endpoint)
            .map_err(|_| SourceError::Protocol("token_endpoint is not a URL".into()))?;
        *self.token_url.lock().unwrap_or_else(|e| e.into_inner()) = Some(url.clone());
        Ok(url)
    }

    async fn token(&self, client: &reqwest::Client, base: &Url) -> Result<Secret, SourceError> {
        if let Some((t, until)) = &*self.cached.lock().unwrap_or_else(|e| e.into_inner()) {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        let url = self.token_url(client, base).await?;
        super::http::refuse_plain_http(&url, self.allow_plain_http)
            .map_err(|m| SourceError::Config(format!("the SMART token endpoint: {m}")))?;
        let assertion = self.assertion(url.as_str())?;
        let form = [
            ("grant_type", "client_credentials"),
            ("scope", self.scope.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        let resp = client
            .post(url)
            .header("Accept", "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                SourceError::Connection(format!("token endpoint: {}", super::http::describe(&e)))
            })?;
        let status = resp.status();
        if !status.is_success() {
            let code = resp
                .json::<TokenError>()
                .await
                .ok()
                .and_then(|e| e.error)
                .filter(|c| c.len() < 64 && c.chars().all(|c| c.is_ascii_graphic()))
                .unwrap_or_else(|| "no error code".into());
            return Err(if status.is_client_error() {
                SourceError::Unauthorized(format!(
                    "the SMART token endpoint refused the client assertion (HTTP {}, {code}); check client_id, the key and its registration",
                    status.as_u16()
                ))
            } else {
                SourceError::Http {
                    status: status.as_u16(),
                    detail: "from the SMART token endpoint".into(),
                }
            });
        }
        let t: TokenResponse = resp.json().await.map_err(|_| {
            SourceError::Protocol("the token endpoint's answer has no access_token".into())
        })?;
        let lifetime = Duration::from_secs(t.expires_in.unwrap_or(300));
        // Renew a little early so a token never expires mid-request.
        let margin = (lifetime / 10).min(Duration::from_secs(60));
        let secret = Secret(t.access_token);
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((secret.clone(), Instant::now() + lifetime - margin));
        Ok(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let dir = std::env::temp_dir().join(format!("akari-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pw");
        std::fs::write(&p, "hunter2-very-secret\n").unwrap();
        let a = Auth::from_config(
            &AuthConfig {
                kind: AuthKind::Basic,
                username: Some("akari".into()),
                password_file: Some(p.clone()),
                ..AuthConfig::default()
            },
            false,
        )
        .unwrap();
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        let t = Auth::from_config(
            &AuthConfig {
                kind: AuthKind::Bearer,
                token_file: Some(p),
                ..AuthConfig::default()
            },
            false,
        )
        .unwrap();
        assert!(!format!("{t:?}").contains("hunter2"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn missing_or_bad_key_files_are_clear_config_errors() {
        let e = Auth::from_config(
            &AuthConfig {
                kind: AuthKind::Smart,
                client_id: Some("c".into()),
                private_key_file: Some("/nonexistent/key.pem".into()),
                ..AuthConfig::default()
            },
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("private_key_file"), "{e}");
        let e = Auth::from_config(
            &AuthConfig {
                kind: AuthKind::Bearer,
                ..AuthConfig::default()
            },
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("token_file"), "{e}");
    }
}
