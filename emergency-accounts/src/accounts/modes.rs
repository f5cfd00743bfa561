//! The node's modes: standby → emergency or drill → recovery → standby. Each transition is
//! an event; ending an episode retires every opened account and ends every emergency
//! session.

use chrono::{DateTime, Utc};

use super::{require_text, Accounts};
use crate::event::{Action, Actor, Client, Mode};
use crate::keyslot::account_slot;
use crate::model::{AccountRecord, Episode, ModeState, Principal, SealState};
use crate::session::AdminCapability;
use crate::store::{Tx, ACCOUNTS, MODE, MODE_KEY, NEXT_EPISODE_KEY};
use crate::{Error, Result, SessionEnd};

/// A mode-change reason: the text given, or `default` when nothing was typed (ending a
/// drill needs no essay), validated like any other reason.
fn reason_or_default(reason: &str, default: &str) -> Result<String> {
    if reason.trim().is_empty() {
        Ok(default.to_owned())
    } else {
        require_text("reason", reason, 500)
    }
}

fn check_transition(from: Mode, to: Mode) -> Result<()> {
    use Mode::*;
    let hint = match (from, to) {
        (Standby, Emergency)
        | (Standby, Drill)
        | (Emergency, Recovery)
        | (Drill, Recovery)
        | (Recovery, Standby) => return Ok(()),
        (a, b) if a == b => format!("the node is already in {a} mode"),
        (Emergency | Drill, Emergency | Drill) => {
            "an episode is already running; end it first (akari mode end)".into()
        }
        (Emergency | Drill, Standby) => "end the episode first (akari mode end): it passes \
             through recovery so used accounts are retired and reviewed"
            .into(),
        (Standby, Recovery) => "there is no emergency or drill to end".into(),
        (Recovery, Emergency | Drill) => "finish recovery first: return to standby \
             (akari mode standby), then declare"
            .into(),
        _ => "not a permitted transition".into(),
    };
    Err(Error::IllegalTransition { from, to, hint })
}

impl Accounts {
    /// `akari mode declare-emergency --reason …`: standby → emergency.
    pub fn declare_emergency(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        self.transition(
            cap,
            Mode::Emergency,
            require_text("reason", reason, 500)?,
            client,
        )
    }

    /// `akari mode start-drill`: standby → drill.
    pub fn start_drill(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "drill")?;
        self.transition(cap, Mode::Drill, reason, client)
    }

    /// `akari mode end`: emergency or drill → recovery. Every opened account is retired
    /// (its credential hash destroyed) and every emergency session ends.
    pub fn end_episode(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "episode over")?;
        self.transition(cap, Mode::Recovery, reason, client)
    }

    /// `akari mode standby`: recovery → standby, once used accounts are re-sealed and the
    /// review is done.
    pub fn resume_standby(
        &self,
        cap: &AdminCapability,
        reason: &str,
        client: &Client,
    ) -> Result<ModeState> {
        let reason = reason_or_default(reason, "recovery complete")?;
        self.transition(cap, Mode::Standby, reason, client)
    }

    fn transition(
        &self,
        cap: &AdminCapability,
        to: Mode,
        reason: String,
        client: &Client,
    ) -> Result<ModeState> {
        let next = self.store.write(|tx| {
            let current = self.tx_mode(tx)?;
            let from = current.mode;
            check_transition(from, to)?;
            let now = self.clock.now();
            let actor = cap.actor();
            let mut episode = current.episode.clone();
            match to {
                Mode::Emergency | Mode::Drill => {
                    episode = Some(Episode {
                        id: tx.next_counter(NEXT_EPISODE_KEY)?,
                        drill: to == Mode::Drill,
                        started_at: now,
                        declared_by: actor.clone(),
                        reason: reason.clone(),
                        ended_at: None,
                        ended_by: None,
                    });
                }
                Mode::Recovery => {
                    if let Some(e) = episode.as_mut() {
                        e.ended_at = Some(now);
                        e.ended_by = Some(actor.clone());
                    }
                }
                Mode::Standby => episode = None,
            }
            // Events of an episode carry its mode, so a drill's start and end are flagged.
            let event_mode = if to.allows_emergency_login() {
                to
            } else {
                from
            };
            let _receipt = self.audit(
                event_mode,
                actor.clone(),
                Action::ModeChanged {
                    from,
                    to,
                    reason: reason.clone(),
                },
                episode.as_ref().map(|e| {
                    crate::ledger::details::format([(
                        crate::ledger::details::EPISODE,
                        e.id.to_string().as_str(),
                    )])
                }),
                client,
            )?;
            if to == Mode::Recovery {
                self.retire_opened_accounts(tx, event_mode, &actor, now, client)?;
                self.end_sessions_where(tx, event_mode, SessionEnd::EpisodeEnded, client, |p| {
                    matches!(p, Principal::Emergency { .. })
                })?;
            }
            let next = ModeState {
                mode: to,
                since: now,
                decided_by: actor.clone(),
                reason: reason.clone(),
                episode,
            };
            tx.put(MODE, MODE_KEY, &next)?;
            if matches!(to, Mode::Recovery | Mode::Standby) {
                self.tx_lock(event_mode, actor, &format!("mode changed to {to}"), client)?;
            }
            Ok(next)
        })?;
        self.sync_observer();
        tracing::info!(mode = %next.mode, "mode changed");
        Ok(next)
    }

    fn retire_opened_accounts(
        &self,
        tx: &Tx<'_>,
        mode: Mode,
        actor: &Actor,
        now: DateTime<Utc>,
        client: &Client,
    ) -> Result<()> {
        let accounts: Vec<(String, AccountRecord)> = tx.list(ACCOUNTS)?;
        for (id, mut account) in accounts {
            let SealState::Opened {
                seal_number,
                opening,
                ..
            } = account.state
            else {
                continue;
            };
            let _receipt = self.audit(
                mode,
                actor.clone(),
                Action::AccountRetired {
                    account_id: id.clone(),
                },
                Some(format!("seal={seal_number}")),
                client,
            )?;
            account.state = SealState::Retired {
                seal_number,
                opening,
                retired_at: now,
            };
            tx.put(ACCOUNTS, &id, &account)?;
            // The credential was used: it must not open the snapshot again.
            self.tx_remove_slot(tx, mode, actor.clone(), &account_slot(&id), client)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_documented_transitions_are_legal() {
        use Mode::*;
        let all = [Standby, Emergency, Drill, Recovery];
        let legal = [
            (Standby, Emergency),
            (Standby, Drill),
            (Emergency, Recovery),
            (Drill, Recovery),
            (Recovery, Standby),
        ];
        for from in all {
            for to in all {
                let r = check_transition(from, to);
                assert_eq!(r.is_ok(), legal.contains(&(from, to)), "{from} -> {to}");
                if let Err(e) = r {
                    let msg = e.to_string();
                    assert!(msg.contains(&format!("from {from} to {to}")), "{msg}");
                }
            }
        }
    }
}
