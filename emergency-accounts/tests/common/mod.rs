//! Shared test set-up: an in-memory store, a collecting audit sink, a manual clock, cheap
//! argon2 parameters and software WebAuthn tokens.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use akari_accounts::event::{Client, DeclaredPerson, Reason};
use akari_accounts::{
    Accounts, AdminCapability, AdminLogin, AdminSession, Argon2Config, Config, Console,
    CreationChallengeResponse, EmergencyLogin, ManualClock, NewAdmin, NewSession, Password,
    PendingSession, ProvisionRequest, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, SealSheet, WardScope, WebauthnConfig,
};
use chrono::{DateTime, Utc};
use redb::backends::InMemoryBackend;
use redb::Database;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_rs::prelude::Url;

pub const ORIGIN: &str = "https://akari.test";
pub const ADMIN_PASSWORD: &str = "Correct-Horse-42!";

pub use akari_accounts::testing::MemorySink;

pub fn cheap_config() -> Config {
    Config {
        argon2: Argon2Config {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        },
        webauthn: WebauthnConfig {
            rp_id: "akari.test".into(),
            rp_origin: ORIGIN.into(),
            rp_name: "Akari test".into(),
            allow_any_port: false,
        },
        ..Config::default()
    }
}

pub struct Node {
    pub accounts: Accounts,
    pub sink: Arc<MemorySink>,
    pub clock: Arc<ManualClock>,
}

pub fn t0() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap()
}

pub fn node_with(config: Config) -> Node {
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .unwrap();
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let accounts = Accounts::open(db, config, sink.clone(), clock.clone()).unwrap();
    Node {
        accounts,
        sink,
        clock,
    }
}

pub fn node() -> Node {
    node_with(cheap_config())
}

pub fn client() -> Client {
    Client {
        address: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
        user_agent: Some("test-browser".into()),
    }
}

pub fn console() -> Console {
    Console::new("it-admin")
}

pub fn root() -> AdminCapability {
    console().capability()
}

pub fn nurse() -> DeclaredPerson {
    DeclaredPerson {
        name: "看護 花子".into(),
        staff_number: "N-20931".into(),
        profession: "nurse".into(),
        department: "5F West".into(),
    }
}

/// A software FIDO2 token. `true`: it reports user verification (the PIN entered), which
/// every ceremony here requires; it cannot prompt for a real PIN.
pub fn new_token() -> SoftToken {
    SoftToken::new(true).unwrap().0
}

/// An exact copy of a token: the "cloned key" of the counter test.
pub fn clone_token(token: &SoftToken) -> SoftToken {
    SoftToken::from_cbor(&token.to_cbor().unwrap()).unwrap()
}

pub fn register(
    token: &mut SoftToken,
    origin: &str,
    options: CreationChallengeResponse,
) -> RegisterPublicKeyCredential {
    token
        .perform_register(Url::parse(origin).unwrap(), options.public_key, 60_000)
        .unwrap()
}

pub fn assert_with(
    token: &mut SoftToken,
    origin: &str,
    options: RequestChallengeResponse,
) -> PublicKeyCredential {
    token
        .perform_auth(Url::parse(origin).unwrap(), options.public_key, 60_000)
        .unwrap()
}

/// Creates an admin at the console and enrols `token` as their credential.
pub fn create_admin(node: &Node, admin_id: &str, token: &mut SoftToken) {
    let ticket = node
        .accounts
        .create_admin(
            &console(),
            NewAdmin {
                admin_id: admin_id.into(),
                display_name: "IT Admin".into(),
                password: Password::new(ADMIN_PASSWORD),
            },
            &client(),
        )
        .unwrap();
    let challenge = node
        .accounts
        .begin_admin_enrolment(admin_id, &ticket.code)
        .unwrap();
    let response = register(token, ORIGIN, challenge.options);
    node.accounts
        .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
        .unwrap();
}

pub fn login_admin(
    node: &Node,
    admin_id: &str,
    token: &mut SoftToken,
) -> akari_accounts::Result<NewSession<AdminSession>> {
    let challenge = node.accounts.begin_admin_login(admin_id, &client())?;
    let response = assert_with(token, ORIGIN, challenge.options);
    node.accounts.login_admin(
        AdminLogin {
            admin_id: admin_id.into(),
            password: Password::new(ADMIN_PASSWORD),
            ceremony_id: challenge.ceremony_id,
            response,
        },
        &client(),
    )
}

/// Provisions a sealed account for every ward, without expiry, from the console.
pub fn provision(accounts: &Accounts, label: &str) -> akari_accounts::Result<SealSheet> {
    accounts.provision(
        &root(),
        ProvisionRequest {
            label: label.into(),
            ward_scope: WardScope::All,
            expires_at: None,
        },
        &client(),
    )
}

pub fn login_emergency(
    node: &Node,
    account_id: &str,
    credential: &str,
) -> akari_accounts::Result<NewSession<PendingSession>> {
    login_from(node, account_id, credential, &client())
}

/// An emergency login (no security key) from `from`.
pub fn login_from(
    node: &Node,
    account_id: &str,
    credential: &str,
    from: &Client,
) -> akari_accounts::Result<NewSession<PendingSession>> {
    node.accounts.login_emergency(
        EmergencyLogin {
            account_id: account_id.into(),
            credential: credential.into(),
            key: None,
        },
        from,
    )
}

pub fn declare_drill(
    node: &Node,
    pending: &NewSession<PendingSession>,
) -> NewSession<akari_accounts::EmergencySession> {
    node.accounts
        .declare(&pending.token, nurse(), Reason::Drill, &client())
        .unwrap()
}
