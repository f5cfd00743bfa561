//! SMART Backend Services: the `.well-known` configuration and the token endpoint, which
//! verifies RS384/ES384 client assertions (audience, issuer, replayed `jti`) and issues
//! bearer tokens that expire.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use base64::Engine as _;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::state::Shared;
use super::{FhirServer, ServerAuth, SmartClient};

impl FhirServer {
    pub fn tokens_issued(&self) -> u64 {
        self.shared.tokens_issued.load(Ordering::SeqCst)
    }

    /// Revoke every issued access token (the next request with one gets 401).
    pub fn revoke_tokens(&self) {
        self.shared
            .tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

pub(super) async fn smart_configuration(State(shared): State<Arc<Shared>>) -> Response {
    let origin = shared.base.trim_end_matches("/fhir").to_string();
    axum::Json(serde_json::json!({
        "token_endpoint": format!("{origin}/auth/token"),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.read"],
        "capabilities": ["client-confidential-asymmetric"]
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    scope: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": code}))).into_response()
}

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    jti: String,
}

pub(super) async fn token(State(shared): State<Arc<Shared>>, Form(f): Form<TokenForm>) -> Response {
    let ServerAuth::Smart {
        clients,
        token_lifetime_secs,
    } = &shared.opts.auth
    else {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    };
    if f.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    if f.client_assertion_type.as_deref()
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let Some(jwt) = f.client_assertion.as_deref() else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
    };
    let Ok(header) = jsonwebtoken::decode_header(jwt) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    let token_url = format!("{}/auth/token", shared.base.trim_end_matches("/fhir"));
    let verified = verify_assertion(clients, jwt, header.alg, &token_url);
    let Some(claims) = verified else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    };
    if !shared
        .jtis
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(format!("{}:{}", claims.iss, claims.jti))
    {
        // A replayed assertion.
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let access =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
    shared
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            access.clone(),
            Utc::now() + chrono::Duration::seconds(*token_lifetime_secs as i64),
        );
    shared.tokens_issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(serde_json::json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": token_lifetime_secs,
        "scope": f.scope.unwrap_or_else(|| "system/*.read".into()),
    }))
    .into_response()
}

/// The claims of a client assertion signed by one of the registered clients (algorithm,
/// audience = the token URL, issuer = subject = the client's id), if any.
fn verify_assertion(
    clients: &[SmartClient],
    jwt: &str,
    header_alg: Algorithm,
    token_url: &str,
) -> Option<AssertionClaims> {
    for c in clients {
        let (alg, key) = match c.algorithm {
            "RS384" => (
                Algorithm::RS384,
                DecodingKey::from_rsa_pem(c.public_pem.as_bytes()),
            ),
            "ES384" => (
                Algorithm::ES384,
                DecodingKey::from_ec_pem(c.public_pem.as_bytes()),
            ),
            _ => continue,
        };
        if header_alg != alg {
            continue;
        }
        let Ok(key) = key else { continue };
        let mut v = Validation::new(alg);
        v.set_audience(&[token_url]);
        v.set_issuer(&[c.client_id.as_str()]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        if let Ok(data) = jsonwebtoken::decode::<AssertionClaims>(jwt, &key, &v) {
            if data.claims.sub == c.client_id && data.claims.iss == c.client_id {
                return Some(data.claims);
            }
        }
    }
    None
}
