//! no credential, password, enrolment code, hash or session token appears in
//! Debug output, error messages, audit events or tracing logs.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use akari_accounts::event::Reason;
use akari_accounts::{NewAdmin, Password};
use common::*;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn secrets_never_reach_debug_output_or_logs() {
    let logs = Buffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let mut debug = String::new();
    let mut secrets: Vec<String> = Vec::new();

    tracing::subscriber::with_default(subscriber, || {
        let node = node();
        // Admin: password and enrolment code.
        let ticket = node
            .accounts
            .create_admin(
                &console(),
                NewAdmin {
                    admin_id: "alice".into(),
                    display_name: "Alice".into(),
                    password: Password::new(ADMIN_PASSWORD),
                },
                &client(),
            )
            .unwrap();
        secrets.push(ADMIN_PASSWORD.into());
        secrets.push(ticket.code.expose().into());
        debug += &format!("{ticket:?}");
        let mut token = new_token();
        let challenge = node
            .accounts
            .begin_admin_enrolment("alice", &ticket.code)
            .unwrap();
        let response = register(&mut token, ORIGIN, challenge.options);
        node.accounts
            .finish_admin_enrolment(&challenge.ceremony_id, &response, &client())
            .unwrap();
        let admin = login_admin(&node, "alice", &mut token).unwrap();
        secrets.push(admin.token.expose().into());
        debug += &format!("{admin:?}");
        // A refused policy check and a wrong password.
        let err = node
            .accounts
            .create_admin(
                &console(),
                NewAdmin {
                    admin_id: "bob".into(),
                    display_name: "Bob".into(),
                    password: Password::new("short-1!"),
                },
                &client(),
            )
            .unwrap_err();
        secrets.push("short-1!".into());
        debug += &format!("{err:?} {err}");

        // Emergency account: credential, pending and declared tokens.
        let cap = admin.session.capability();
        let sheet = provision(&node.accounts, "ER-1").unwrap();
        let credential = sheet.credential().expose().to_owned();
        secrets.push(credential.clone());
        secrets.push(credential.replace('-', ""));
        debug += &format!("{sheet:?}");
        node.accounts
            .declare_emergency(&cap, "EHR down", &client())
            .unwrap();
        // Wrong guesses, including one that is a near miss of the real credential.
        // (The last character changed to one it is not: a random credential may end in X.)
        let last = if credential.ends_with('X') { 'Y' } else { 'X' };
        let near_miss = format!("{}{last}", &credential[..credential.len() - 1]);
        for guess in [near_miss.as_str(), "TOTALLY-WRONG-GUESS-1234"] {
            let err = login_emergency(&node, &sheet.account_id, guess).unwrap_err();
            secrets.push(guess.into());
            debug += &format!("{err:?} {err}");
        }
        let pending = login_emergency(&node, &sheet.account_id, &credential).unwrap();
        secrets.push(pending.token.expose().into());
        debug += &format!("{pending:?}");
        let declared = node
            .accounts
            .declare(
                &pending.token,
                nurse(),
                Reason::EmergencyTreatment,
                &client(),
            )
            .unwrap();
        secrets.push(declared.token.expose().into());
        debug += &format!("{declared:?}");
        let session = node.accounts.resume(&declared.token, &client()).unwrap();
        debug += &format!("{session:?}");
        let err = node.accounts.resume(&pending.token, &client()).unwrap_err();
        debug += &format!("{err:?}");
        debug += &format!("{:?}", node.accounts.status(&cap).unwrap());
        debug += &format!("{:?}", node.accounts.list_accounts(&cap).unwrap());
        debug += &format!("{:?}", node.accounts);
        node.accounts.logout(&declared.token, &client()).unwrap();
        // The audit events are not logs, but they must not carry secrets either.
        debug += &format!("{:?}", node.sink.events());
        debug += &serde_json::to_string(&node.sink.events()).unwrap();
    });

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    // The capture works: our own log lines are there.
    assert!(
        logs.contains("emergency login; awaiting declaration"),
        "{logs}"
    );
    assert!(logs.contains("login refused"), "{logs}");
    for secret in &secrets {
        assert!(secret.len() >= 8);
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
        assert!(
            !debug.contains(secret.as_str()),
            "a secret leaked into Debug output"
        );
    }
    for haystack in [&logs, &debug] {
        assert!(!haystack.contains("$argon2"), "a password hash leaked");
    }
    assert!(debug.contains("<redacted>"));
}
