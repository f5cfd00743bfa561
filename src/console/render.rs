//! The text a console command prints: tables and one-line summaries for the person at the
//! node's terminal. Nothing here changes state.

use akari_accounts::event::AdminRecovery;
use akari_accounts::review::resolve::{PatientIdentity, SessionSighting, Sighting};
use akari_accounts::review::Episode;
use akari_accounts::Zone;
use akari_accounts::{AccountSummary, AdminEnrolmentTicket, AdminRecovered, WardScope};
use akari_sync::store::{GenerationInfo, VerifyReport};
use akari_sync::SyncReport;
use chrono::Utc;

use crate::services::Services;

/// `akari status`: mode, snapshot, key state and sync health.
pub(super) fn status(services: &Services) -> String {
    let zone = &services.config.display.time_zone;
    let status = services.node_status();
    let sync = services.engine.status();
    let mut out = format!("mode: {}\n", status.mode);
    match services.reader.generation() {
        Some(m) => out.push_str(&format!(
            "snapshot: generation {} ({} patients), data as of {}\n",
            m.generation,
            m.patients(),
            zone.second(&m.high_water.unwrap_or(m.created_at))
        )),
        None => out.push_str("snapshot: none yet (run `akari sync now --full`)\n"),
    }
    if services.store.is_encrypted() {
        out.push_str(if services.reader.is_locked() {
            "snapshot key: locked (encrypted at rest; a sealed-account or admin login, or \
             `akari unlock`, unlocks it)\n"
        } else {
            "snapshot key: unlocked\n"
        });
    }
    if let Some(alert) = &sync.integrity_alert {
        out.push_str(&format!("ALERT: {}\n", alert.message()));
    }
    if let Some(alert) = &sync.quarantine {
        out.push_str(&format!("ALERT: {}\n", alert.message()));
    }
    match (&sync.copy, &sync.copy_error) {
        (_, Some(e)) => out.push_str(&format!("second copy: {e}\n")),
        (Some(c), None) => out.push_str(&format!(
            "second copy: generation {}, written {}\n",
            c.generation,
            zone.second(&c.written_at)
        )),
        (None, None) => {}
    }
    if !services.source_configured {
        out.push_str("sync: no [sync.source] configured\n");
        return out;
    }
    out.push_str(&format!("sync: source {}\n", sync.source));
    if let Some(t) = sync.last_success {
        out.push_str(&format!("sync: last success {}\n", zone.second(&t)));
    }
    if let Some(e) = &sync.last_error {
        out.push_str(&format!("sync: last error: {e}\n"));
    }
    if let Some(r) = &sync.last_report {
        if r.warned_resources > 0 {
            out.push_str(&format!(
                "sync: {} resources of the last sync kept with data-quality warnings \
                 (`akari sync report`)\n",
                r.warned_resources
            ));
        }
        if r.deletions_pending_full {
            out.push_str(
                "sync: deletions since the last full sync are not known yet (the source \
                 did not report them); they show after the next full sync\n",
            );
        }
    }
    if let Some(since) = services.sync_failing_since() {
        let minutes = (Utc::now() - since).num_minutes().max(0);
        out.push_str(&format!(
            "main system unreachable for {minutes} min (since {})\n",
            zone.second(&since)
        ));
    }
    out
}

/// `akari sync now`: one line, then the source files skipped or warned about, if any.
pub(super) fn sync_report(report: &SyncReport) -> String {
    let rejects: u64 = report.rejects.values().sum();
    if report.unchanged {
        return format!(
            "sync {} done: no change; generation {} stays current ({} resources, {} ms)\n",
            if report.full { "full" } else { "incremental" },
            report.generation,
            report.resources,
            report.duration_ms
        );
    }
    let warnings = if report.warned_resources > 0 {
        format!(
            ", {} kept with a warning (`akari sync report`)",
            report.warned_resources
        )
    } else {
        String::new()
    };
    let mut out = format!(
        "sync {} done: generation {} ({} resources, {} deletions, {} rejected{warnings}, {} ms)\n",
        if report.full { "full" } else { "incremental" },
        report.generation,
        report.resources,
        report.deletions,
        rejects,
        report.duration_ms
    );
    if report.skipped > 0 || !report.source_problems.is_empty() {
        out.push_str(&format!(
            "{} source files skipped; problems (first {}):\n",
            report.skipped,
            report.source_problems.len()
        ));
        for p in &report.source_problems {
            out.push_str(&format!("  {p}\n"));
        }
    }
    out
}

/// `akari sync report`: the last committed sync and, if the last pull was refused, that.
pub(super) fn sync_report_full(status: &akari_sync::SyncStatus, zone: &Zone) -> String {
    let time = |t: &chrono::DateTime<Utc>| zone.second(t);
    let mut out = String::new();
    if let Some(refused) = &status.last_refused {
        out.push_str(
            "LAST PULL REFUSED (nothing of it was stored; the current generation stays):\n",
        );
        if let Some(e) = &status.last_error {
            out.push_str(&format!("  {e}\n"));
        }
        out.push_str(&refused.text(time));
        out.push('\n');
    }
    match &status.last_report {
        Some(r) => {
            out.push_str("Last committed sync:\n");
            out.push_str(&r.text(time));
        }
        None => out.push_str("no sync has committed a generation yet\n"),
    }
    out
}

/// `akari snapshot list`: one row per generation kept, the current one starred.
pub(super) fn generations(list: &[GenerationInfo], zone: &Zone) -> String {
    if list.is_empty() {
        return "no generation yet: run `akari sync now --full`\n".into();
    }
    let mut out = String::from(
        "  GEN  KIND         CREATED                   PATIENTS  ITEMS    PINNED  STATE        SET HASH\n",
    );
    let mut quarantined = Vec::new();
    for g in list {
        let m = &g.manifest;
        let state = match &m.quarantine {
            Some(q) if q.promoted_at.is_some() => "promoted",
            Some(q) => {
                quarantined.push(format!("  {}: {}", m.generation, q.losses_text()));
                "QUARANTINED"
            }
            None => "",
        };
        out.push_str(&format!(
            "{} {:>4}  {:<12} {:<24}  {:>8}  {:>7}  {:<6}  {:<11}  {}\n",
            if g.current { "*" } else { " " },
            m.generation,
            m.kind.to_string(),
            zone.second(&m.created_at),
            m.patients(),
            m.total_items(),
            if m.pinned { "yes" } else { "" },
            state,
            &m.set_hash[..m.set_hash.len().min(16)],
        ));
    }
    out.push_str("(* = current)\n");
    if !quarantined.is_empty() {
        out.push_str(
            "Quarantined (not served; `akari snapshot promote GEN` if the loss is real):\n",
        );
        for line in quarantined {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

/// What `akari snapshot verify` checked, in one clause.
pub(super) fn verification(report: &VerifyReport) -> String {
    format!(
        "{} items checked, {} corrupt, counts {}, set hash {}",
        report.items_checked,
        report.corrupt_items,
        if report.counts_match {
            "match"
        } else {
            "DIFFER"
        },
        if report.set_hash_matches {
            "matches"
        } else {
            "DIFFERS"
        }
    )
}

/// `akari admin create`: the one-time enrolment code and what to do with it.
pub(super) fn admin_created(ticket: &AdminEnrolmentTicket, zone: &Zone) -> String {
    format!(
        "admin {} created.\n\
         One-time enrolment code (shown only now): {}\n\
         It expires at {}. The admin opens the node's admin page, enters the ID and \
         this code, and registers a passkey or security key with a PIN.\n",
        ticket.admin_id,
        ticket.code.expose(),
        zone.second(&ticket.expires_at)
    )
}

/// `akari admin new-code`, `replace-passkeys`, `reset-password`: what was done and the
/// new secret, shown only this once.
pub(super) fn admin_recovered(recovered: &AdminRecovered, zone: &Zone) -> String {
    let mut out = format!(
        "admin {}: {} (recorded in the audit log).\n",
        recovered.admin_id, recovered.change
    );
    if recovered.change == AdminRecovery::PasskeysReplaced {
        out.push_str(
            "Every passkey and security key of this admin was removed; their sessions ended.\n",
        );
    }
    if let Some(ticket) = &recovered.enrolment {
        out.push_str(&format!(
            "One-time enrolment code (shown only now; any earlier code no longer works): {}\n\
             It expires at {}. The admin opens the node's admin page, enters the ID and \
             this code, and registers a passkey or security key with a PIN.\n",
            ticket.code.expose(),
            zone.second(&ticket.expires_at)
        ));
    }
    if let Some(password) = &recovered.password {
        out.push_str(&format!(
            "New password (shown only now; the old one no longer works and their sessions \
             ended): {}\n\
             Hand it to the admin in person; it logs in with their passkey as before.\n",
            password.expose()
        ));
    }
    out
}

/// `akari account list`.
pub(super) fn accounts(list: &[AccountSummary], zone: &Zone) -> String {
    if list.is_empty() {
        return "no emergency accounts yet: `akari account provision --label ER-1`\n".into();
    }
    let mut out =
        String::from("ACCOUNT       LABEL          STATUS    SEAL        WARDS / EXPIRES\n");
    for a in list {
        let wards = match &a.ward_scope {
            WardScope::All => "all".to_owned(),
            WardScope::Wards(w) => w.join(","),
        };
        let expires = a
            .expires_at
            .map(|t| format!(" / until {}", zone.minute(&t)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{:<13} {:<14} {:<9} {:<11} {wards}{expires}\n",
            a.account_id,
            a.label,
            a.status.to_string(),
            a.seal_number.as_deref().unwrap_or("-"),
        ));
    }
    out
}

/// `akari audit report` without an episode: the list of episodes.
pub(super) fn episodes(episodes: &[Episode], zone: &Zone) -> String {
    if episodes.is_empty() {
        return "no emergency or drill episode yet\n".into();
    }
    let mut out = String::from("EPISODE  KIND       STARTED                   ENDED\n");
    for ep in episodes {
        out.push_str(&format!(
            "{:>7}  {:<9}  {:<24}  {}\n",
            ep.id,
            if ep.drill { "drill" } else { "emergency" },
            zone.second(&ep.started),
            ep.end
                .as_ref()
                .map(|e| zone.second(&e.time))
                .unwrap_or_else(|| "(ongoing)".into())
        ));
    }
    out.push_str("Show one with `akari audit report EPISODE`.\n");
    out
}

/// `akari audit report --patient`: who the patient is, then every session that saw them,
/// with each entry that did.
pub(super) fn patient_sessions(
    key: &str,
    who: Option<&PatientIdentity>,
    sessions: &[SessionSighting],
    zone: &Zone,
) -> String {
    let mut out = match who {
        Some(p) => format!("Patient: {} [{key}]\n", p.label()),
        None => format!("Patient: {key} (not in the current snapshot)\n"),
    };
    out.push_str(&format!(
        "Sessions that saw this patient: {}\n",
        sessions.len()
    ));
    for s in sessions {
        let episode = s.episode.map_or_else(
            || "outside every episode".to_owned(),
            |e| format!("episode {e}"),
        );
        let person = s.declared.as_ref().map_or_else(
            || "NONE DECLARED".to_owned(),
            |p| {
                format!(
                    "{} (staff number {}, {})",
                    p.name, p.staff_number, p.profession
                )
            },
        );
        out.push_str(&format!(
            "\n  {episode}, session {} (account {}), declared person: {person}\n",
            s.session_id, s.account_id
        ));
        for e in &s.entries {
            out.push_str(&format!(
                "    entry {:>6}  {}  {}\n",
                e.seq,
                zone.second(&e.time),
                sighting_text(e.how)
            ));
        }
    }
    out
}

fn sighting_text(how: Sighting) -> &'static str {
    match how {
        Sighting::Read => "record opened",
        Sighting::Printed => "record printed",
        Sighting::WardPrinted => "printed with the ward",
        Sighting::SearchResult => "listed in search results",
        Sighting::WardList => "listed on a ward list",
    }
}
