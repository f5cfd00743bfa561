//! A full disk heals without a restart: the accounts store on a real, small tmpfs fills
//! up, writes fail with a clear storage error (nothing half-written is acknowledged), and
//! once space is freed the *same* running `Accounts` provisions, starts a drill and logs in
//! again. Mounting a tmpfs needs root (CAP_SYS_ADMIN), as `scripts/test` and CI run; where
//! it is impossible the test fails and says so — it never reports success unrun.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use akari_accounts::event::Reason;
use akari_accounts::{Accounts, EmergencyLogin, ManualClock};
use common::*;

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output();
        match out {
            Ok(o) if o.status.success() => Tmpfs { _dir: dir, path },
            Ok(o) => panic!(
                "cannot mount a tmpfs for the disk-full test ({}): run the tests as root, \
                 as scripts/test and CI do",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => panic!(
                "cannot run mount for the disk-full test ({e}): install util-linux and run \
                 the tests as root, as scripts/test and CI do"
            ),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Fill the filesystem with one file until it refuses more.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the tmpfs: {e}"),
        }
    }
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_heals_once_space_is_back_without_a_restart() {
    let fs = Tmpfs::mount("4m");
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(ManualClock::new(t0()));
    let accounts =
        Accounts::open_file(&fs.path.join("accounts.redb"), cheap_config(), sink, clock).unwrap();
    let before = provision(&accounts, "ER-1").unwrap();

    // The disk fills up (another process's log, a core dump...): writes fail.
    let filler = fs.path.join("filler");
    fill(&filler);
    let mut failure = None;
    for n in 0..2_000 {
        if let Err(e) = provision(&accounts, &format!("ER-full-{n}")) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("a write on a full disk fails");
    assert!(
        matches!(failure, akari_accounts::Error::Store(_)),
        "a storage error, not another one: {failure}"
    );
    // Still full: still refused, never a half-written account.
    assert!(accounts.start_drill(&root(), "drill", &client()).is_err());

    // Space comes back: the same running service works again.
    std::fs::remove_file(&filler).unwrap();
    let after = provision(&accounts, "ER-2").expect("provisioning works again");
    accounts
        .start_drill(&root(), "night drill", &client())
        .expect("a drill can start again");
    for sheet in [&before, &after] {
        let pending = accounts
            .login_emergency(
                EmergencyLogin {
                    account_id: sheet.account_id.clone(),
                    credential: sheet.credential().clone(),
                    key: None,
                },
                &client(),
            )
            .expect("login works again");
        accounts
            .declare(&pending.token, nurse(), Reason::Drill, &client())
            .expect("the session is declared");
    }
}
