//! The CLI side of a console command: turns what was typed into a console [`Request`]
//! (asking for secrets on the terminal), sends it to the running node through its control
//! socket or, when no node runs, carries it out in this process, and prints the answer.

use std::path::{Path, PathBuf};

use akari::console::{self, ModeChange, Request, Response, ReviewOptions};
use akari::datadir::DataDir;
use akari::Secret;
use akari_accounts::event::AdminRecovery;
use anyhow::Context;

use crate::cli::{
    AccountCommand, AdminCommand, AuditCommand, Cli, Command, DowntimeCommand, ModeCommand,
    NoticeCommand, SnapshotCommand, SyncCommand,
};

/// Runs `command` as a console command. `None`: it is not one (init, serve, config, demo,
/// audit verify run without the node).
pub async fn run(cli: &Cli) -> Option<anyhow::Result<()>> {
    let request = match request(&cli.command)? {
        Ok(request) => request,
        Err(e) => return Some(Err(e)),
    };
    Some(send_and_print(cli, request).await)
}

/// The console request for a command line, or `None` when it is not a console command.
fn request(command: &Command) -> Option<anyhow::Result<Request>> {
    Some(match command {
        Command::Status => Ok(Request::Status),
        Command::Unlock => {
            prompt_secret("Recovery key: ").map(|recovery_key| Request::Unlock { recovery_key })
        }
        Command::Lock => Ok(Request::Lock),
        Command::Sync {
            command: SyncCommand::Now { full },
        } => Ok(Request::SyncNow { full: *full }),
        Command::Sync {
            command: SyncCommand::Report,
        } => Ok(Request::SyncReport),
        Command::Snapshot { command } => Ok(snapshot(command)),
        Command::Admin { command } => admin(command),
        Command::Mode { command } => Ok(mode(command)),
        Command::Notice { command } => Ok(match command {
            NoticeCommand::Post { text } => Request::NoticePost { text: text.clone() },
            NoticeCommand::Withdraw => Request::NoticeWithdraw,
        }),
        Command::Account { command } => Ok(account(command)),
        Command::Audit { command } => audit(command)?,
        Command::Downtime { command } => match command {
            DowntimeCommand::Status => Ok(Request::DowntimeStatus),
            DowntimeCommand::Export { episode, out } => {
                absolute(Some(out), "--out").map(|out| Request::DowntimeExport {
                    episode: *episode,
                    out: out.unwrap_or_default(),
                    recovery_key: None,
                })
            }
            DowntimeCommand::Reconcile { entries, episode } => {
                if entries.is_empty() && episode.is_none() {
                    Err(anyhow::anyhow!(
                        "name the entries to mark reconciled, or --episode N for all of an episode"
                    ))
                } else {
                    Ok(Request::DowntimeReconcile {
                        entries: entries.clone(),
                        episode: *episode,
                    })
                }
            }
            DowntimeCommand::Verify { .. } => return None,
        },
        _ => return None,
    })
}

fn snapshot(command: &SnapshotCommand) -> Request {
    match *command {
        SnapshotCommand::List => Request::SnapshotList,
        SnapshotCommand::Verify { generation } => Request::SnapshotVerify { generation },
        SnapshotCommand::Rollback { generation } => Request::SnapshotRollback { generation },
        SnapshotCommand::Promote { generation } => Request::SnapshotPromote { generation },
        SnapshotCommand::Pin { generation, unpin } => Request::SnapshotPin {
            generation,
            pinned: !unpin,
        },
    }
}

fn admin(command: &AdminCommand) -> anyhow::Result<Request> {
    let (id, name, password_file) = match command {
        AdminCommand::Create {
            id,
            name,
            password_file,
        } => (id, name, password_file),
        AdminCommand::NewCode { id } => {
            return Ok(admin_recover(id, AdminRecovery::EnrolmentCodeReissued))
        }
        AdminCommand::ReplacePasskeys { id } => {
            return Ok(admin_recover(id, AdminRecovery::PasskeysReplaced))
        }
        AdminCommand::ResetPassword { id } => {
            return Ok(admin_recover(id, AdminRecovery::PasswordReset))
        }
    };
    let password = read_password(password_file.as_deref())?;
    // Say what is wrong with the password before asking for anything else.
    akari_accounts::check_password_policy(&akari_accounts::Password::new(password.expose()))
        .map_err(|e| anyhow::anyhow!("{e}; nothing was created"))?;
    Ok(Request::AdminCreate {
        admin_id: id.clone(),
        display_name: name.clone(),
        password,
        recovery_key: None,
    })
}

fn admin_recover(id: &str, change: AdminRecovery) -> Request {
    Request::AdminRecover {
        admin_id: id.to_owned(),
        change,
        recovery_key: None,
    }
}

fn mode(command: &ModeCommand) -> Request {
    let (change, reason) = match command {
        ModeCommand::DeclareEmergency { reason } => (ModeChange::DeclareEmergency, reason),
        ModeCommand::StartDrill { reason } => (ModeChange::StartDrill, reason),
        ModeCommand::End { reason } => (ModeChange::End, reason),
        ModeCommand::Standby { reason } => (ModeChange::Standby, reason),
    };
    Request::Mode {
        change,
        reason: reason.clone(),
    }
}

fn account(command: &AccountCommand) -> Request {
    match command {
        AccountCommand::Provision {
            label,
            wards,
            expires,
        } => Request::AccountProvision {
            label: label.clone(),
            wards: wards
                .iter()
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect(),
            expires_at: *expires,
            recovery_key: None,
        },
        AccountCommand::List => Request::AccountList,
        AccountCommand::Reseal { account_id } => Request::AccountReseal {
            account_id: account_id.clone(),
            recovery_key: None,
        },
        AccountCommand::Revoke { account_id, reason } => Request::AccountRevoke {
            account_id: account_id.clone(),
            reason: reason.clone(),
        },
    }
}

/// `None` for `audit verify`, which needs no node.
fn audit(command: &AuditCommand) -> Option<anyhow::Result<Request>> {
    Some(match command {
        AuditCommand::Verify { .. } => return None,
        AuditCommand::Export {
            from,
            to,
            format,
            out,
        } => absolute(out.as_deref(), "--out").map(|out| Request::AuditExport {
            from: *from,
            to: *to,
            format: format.clone(),
            out,
        }),
        AuditCommand::Report {
            episode,
            resolve,
            patient,
            purpose,
            csv,
            pdf,
        } => absolute(csv.as_deref(), "--csv").and_then(|csv| {
            Ok(Request::AuditReport {
                episode: *episode,
                review: ReviewOptions {
                    resolve: *resolve,
                    patient: patient.clone(),
                    purpose: purpose.clone(),
                    csv,
                    pdf: absolute(pdf.as_deref(), "--pdf")?,
                    recovery_key: None,
                },
            })
        }),
        AuditCommand::SignOff {
            episode,
            verdict,
            comment,
        } => Ok(Request::AuditSignOff {
            episode: *episode,
            verdict: verdict.clone(),
            comment: comment.clone(),
        }),
        AuditCommand::Checkpoint { write_to } => absolute(write_to.as_deref(), "--write-to")
            .map(|write_to| Request::AuditCheckpoint { write_to }),
    })
}

/// A path the node writes: absolute, since the node's working directory is not ours.
fn absolute(path: Option<&Path>, flag: &str) -> anyhow::Result<Option<PathBuf>> {
    path.map(|p| std::path::absolute(p).with_context(|| format!("bad {flag} path {}", p.display())))
        .transpose()
}

/// Sends the request (again with the recovery key, if the node asks for it) and prints
/// the answer; a refusal is an error with the node's message.
async fn send_and_print(cli: &Cli, request: Request) -> anyhow::Result<()> {
    let mut response = answer(cli, request.clone()).await?;
    if response.needs_recovery_key {
        if let Some(error) = &response.error {
            eprintln!("{error}");
        }
        let key = prompt_secret("Recovery key (from the sheet printed at `akari init`): ")?;
        if let Some(request) = request.with_recovery_key(key) {
            response = answer(cli, request).await?;
        }
    }
    print!("{}", response.output);
    match response.error {
        Some(error) if !response.ok => Err(anyhow::Error::msg(error)),
        _ if !response.ok => Err(anyhow::Error::msg("the command failed")),
        _ => Ok(()),
    }
}

/// The answer of the node running on the data directory, or, when none answers, of the
/// data directory's files opened in this process.
async fn answer(cli: &Cli, request: Request) -> anyhow::Result<Response> {
    let data_dir = cli.data_dir().to_owned();
    DataDir::new(&data_dir).check_readable()?;
    let sent = request.clone();
    let from_node = tokio::task::spawn_blocking(move || console::send(&data_dir, &sent))
        .await
        .context("the control socket client failed")??;
    if let Some(response) = from_node {
        return Ok(response);
    }
    let config = crate::load_config(cli, Vec::new())?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<Response> {
        let services = akari::Services::open(&config)?;
        let user = akari::Services::console(&console::current_user());
        Ok(console::execute(&services, &user, request))
    })
    .await
    .context("the command failed")?
}

/// Reads the new admin's password: from a file, or twice from the terminal without echo
/// (or two lines of standard input when it is not a terminal).
fn read_password(file: Option<&Path>) -> anyhow::Result<Secret> {
    if let Some(path) = file {
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the password file {}", path.display()))?,
        );
        let line = text.lines().next().unwrap_or("");
        if line.is_empty() {
            anyhow::bail!("the password file {} is empty", path.display());
        }
        return Ok(Secret::new(line));
    }
    let first = prompt_secret("New admin password: ")?;
    let second = prompt_secret("Repeat the password: ")?;
    if first.expose() != second.expose() {
        anyhow::bail!("the two passwords differ; nothing was created, try again");
    }
    if first.expose().is_empty() {
        anyhow::bail!("no password given; nothing was created");
    }
    Ok(first)
}

/// One line from the terminal without echo (or from standard input when it is not one).
fn prompt_secret(prompt: &str) -> anyhow::Result<Secret> {
    use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let saved = if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush().ok();
        let saved = tcgetattr(&stdin).context("cannot read terminal settings")?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("cannot turn off terminal echo")?;
        Some(saved)
    } else {
        None
    };
    let mut line = zeroize::Zeroizing::new(String::new());
    let read = stdin.lock().read_line(&mut line);
    if let Some(saved) = saved {
        let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
        eprintln!();
    }
    read.context("cannot read the password")?;
    Ok(Secret::new(line.trim_end_matches(['\n', '\r'])))
}
