//! Accounts benchmark: what one emergency login costs with the default argon2id parameters
//! (login + declaration, in-memory store, a sink that keeps events in memory), and how many
//! guesses per second the node refuses while an account is in backoff (no argon2 runs).
//!
//! `cargo bench -p akari-accounts --bench accounts`

use std::sync::Arc;
use std::time::Instant;

use akari_accounts::event::{Client, DeclaredPerson, Reason};
use akari_accounts::{
    Accounts, Config, Console, EmergencyLogin, ProvisionRequest, SystemClock, WardScope,
};
use redb::backends::InMemoryBackend;
use redb::Database;

fn main() {
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .unwrap();
    let config = Config {
        backoff_free_attempts: 1_000_000,
        ..Config::default()
    };
    let accounts = Accounts::open(
        db,
        config,
        Arc::new(akari_accounts::testing::MemorySink::default()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let cap = Console::new("bench").capability();
    let client = Client::default();
    let sheet = accounts
        .provision(
            &cap,
            ProvisionRequest {
                label: "ER-1".into(),
                ward_scope: WardScope::All,
                expires_at: None,
            },
            &client,
        )
        .unwrap();
    accounts.declare_emergency(&cap, "bench", &client).unwrap();
    let person = DeclaredPerson {
        name: "Bench Nurse".into(),
        staff_number: "N-1".into(),
        profession: "nurse".into(),
        department: "ER".into(),
    };

    let n = 30;
    let start = Instant::now();
    for _ in 0..n {
        let pending = accounts
            .login_emergency(
                EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: sheet.credential().clone(),
                    key: None,
                },
                &client,
            )
            .unwrap();
        accounts
            .declare(
                &pending.token,
                person.clone(),
                Reason::EmergencyTreatment,
                &client,
            )
            .unwrap();
    }
    let per_login = start.elapsed() / n;
    println!(
        "login + declaration, default argon2id (19 MiB, t=2, p=1): {per_login:?} each ({n} runs)"
    );

    // Key slots: the same login when it also unwraps the snapshot secret from the
    // account's slot (the secret wiped before each login), against one that finds the
    // secret already in memory (a later clinician of the same episode).
    accounts
        .end_episode(&cap, "bench", &client)
        .and_then(|_| accounts.resume_standby(&cap, "bench", &client))
        .unwrap();
    let recovery = accounts
        .init_key_slots(&Console::new("bench"), &[7; 32])
        .unwrap();
    accounts
        .unlock_with_recovery(&Console::new("bench"), &recovery.to_string())
        .unwrap();
    let sheet = accounts
        .provision(
            &cap,
            ProvisionRequest {
                label: "ER-3".into(),
                ward_scope: WardScope::All,
                expires_at: None,
            },
            &client,
        )
        .unwrap();
    accounts.declare_emergency(&cap, "bench", &client).unwrap();
    let login = || {
        accounts
            .login_emergency(
                EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: sheet.credential().clone(),
                    key: None,
                },
                &client,
            )
            .unwrap()
    };
    let mut unlocking = std::time::Duration::ZERO;
    for _ in 0..n {
        accounts.lock_snapshot(&cap, &client).unwrap();
        let start = Instant::now();
        login();
        unlocking += start.elapsed();
        assert!(accounts.is_unlocked());
    }
    let start = Instant::now();
    for _ in 0..n {
        login();
    }
    let already = start.elapsed() / n;
    println!(
        "emergency login with key slots: {:?} when it unwraps the snapshot secret (second \
         argon2id run), {already:?} when the secret is already in memory ({n} runs each)",
        unlocking / n
    );

    // Backoff: a second node whose account is in backoff after the free attempts.
    let db = Database::builder()
        .create_with_backend(InMemoryBackend::new())
        .unwrap();
    let accounts = Accounts::open(
        db,
        Config::default(),
        Arc::new(akari_accounts::testing::MemorySink::default()),
        Arc::new(SystemClock),
    )
    .unwrap();
    let sheet = accounts
        .provision(
            &cap,
            ProvisionRequest {
                label: "ER-2".into(),
                ward_scope: WardScope::All,
                expires_at: None,
            },
            &client,
        )
        .unwrap();
    accounts.declare_emergency(&cap, "bench", &client).unwrap();
    let guesses = 20_000;
    let start = Instant::now();
    let mut refused_in_backoff = 0;
    for i in 0..guesses {
        let r = accounts.login_emergency(
            EmergencyLogin {
                account_id: sheet.account_id.clone(),
                credential: format!("GUESS-{i}").into(),
                key: None,
            },
            &client,
        );
        if matches!(
            r,
            Err(akari_accounts::Error::Login(
                akari_accounts::LoginRefused::TooManyAttempts { .. }
            ))
        ) {
            refused_in_backoff += 1;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "wrong guesses against one account: {guesses} in {elapsed:?} = {:.0}/s, {refused_in_backoff} refused by backoff without argon2 (each one an audit event)",
        guesses as f64 / elapsed.as_secs_f64()
    );
}
