//! Review after recovery: episodes (from `ModeChanged` entries) → the emergency sessions
//! used in them → their events; anomaly flags for the reviewer; verdicts, which are ledger
//! entries themselves; and the text report for the incident file (`akari audit report`).
//!
//! An **episode** begins with a `ModeChanged` to `emergency` or `drill` and ends with the
//! next `ModeChanged` that leaves that mode. Its id is the episode number the accounts
//! store gave it (recorded on that entry as `episode=N`), the number the admin status page,
//! the review pages and `akari audit report` all show. A **session** belongs to an episode when any of its entries falls inside it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{
    Action, Actor, AuditError, AuditEvent, AuditReceipt, AuditSink, Client, DeclaredPerson, Mode,
    Reason,
};
use crate::ledger::{details, Ledger, LedgerEntry, LedgerError};
use crate::pseudonym::{self, PseudonymKind};

mod csv;
mod flag;
mod report;
pub mod resolve;
pub use csv::csv;
pub use flag::Flag;
pub use report::{report, report_resolved};

/// Thresholds and lists for the anomaly flags (`[ledger.review]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// Flag a session that viewed more distinct patients than this.
    pub many_patients: usize,
    /// Flag a session that printed more patient records than this (ward prints count
    /// each patient).
    pub bulk_prints: u32,
    /// Flag a session that opened more distinct patients than this within
    /// `burst_minutes`.
    pub burst_patients: usize,
    /// The window of `burst_patients`, in minutes.
    pub burst_minutes: u32,
    /// Flag a session that opened patient records in the last this many minutes before
    /// the episode ended (0: never).
    pub episode_end_minutes: u32,
    /// Hospital IDs of VIP and employee patients: a session that opened one of their
    /// records is flagged. Compared by keyed pseudonym; the ledger never holds the IDs.
    pub vip_hospital_ids: Vec<String>,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        ReviewConfig {
            many_patients: 20,
            bulk_prints: 10,
            burst_patients: 30,
            burst_minutes: 10,
            episode_end_minutes: 5,
            vip_hospital_ids: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("there is no episode {0}: `akari audit report` without an episode lists them")]
    NoSuchEpisode(u64),
    #[error("only an administrator or the console can record a review verdict")]
    NotAReviewer,
    #[error("a verdict of {0} needs a comment saying why")]
    CommentRequired(&'static str),
    #[error("unknown verdict `{0}`: use legitimate, drill, follow-up or misuse")]
    UnknownVerdict(String),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("say why the names are needed (the purpose is recorded with the resolution)")]
    PurposeRequired,
    #[error(transparent)]
    Directory(#[from] resolve::DirectoryError),
    #[error("unknown sign-off verdict `{0}`: use no-issues, needs-check or inappropriate")]
    UnknownSignOff(String),
}

/// Which wards an emergency account may see; the accounts store answers.
pub trait WardScopes {
    /// `None` when the account has no ward restriction (or is unknown): no flag is raised.
    fn wards(&self, account_id: &str) -> Option<Vec<String>>;
}

impl WardScopes for HashMap<String, Vec<String>> {
    fn wards(&self, account_id: &str) -> Option<Vec<String>> {
        self.get(account_id).cloned()
    }
}

/// No account has a ward restriction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unscoped;

impl WardScopes for Unscoped {
    fn wards(&self, _account_id: &str) -> Option<Vec<String>> {
        None
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeEnd {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub by: Actor,
    pub to: Mode,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Episode {
    /// The episode number (the accounts store's, recorded on the entry that began it).
    pub id: u64,
    /// Sequence number of the `ModeChanged` entry that began it.
    pub start_seq: u64,
    pub drill: bool,
    pub started: DateTime<Utc>,
    pub declared_by: Actor,
    pub reason: String,
    pub end: Option<EpisodeEnd>,
}

impl Episode {
    pub fn contains(&self, seq: u64) -> bool {
        seq >= self.start_seq && self.end.as_ref().is_none_or(|e| seq <= e.seq)
    }
}

/// A reviewer's judgement of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    LegitimateEmergency,
    Drill,
    NeedsFollowUp,
    Misuse,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::LegitimateEmergency => "legitimate_emergency",
            Verdict::Drill => "drill",
            Verdict::NeedsFollowUp => "needs_follow_up",
            Verdict::Misuse => "misuse",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Verdict::LegitimateEmergency => "legitimate emergency",
            Verdict::Drill => "drill",
            Verdict::NeedsFollowUp => "needs follow-up",
            Verdict::Misuse => "misuse",
        }
    }
}

/// A verdict as typed (`Needs-Check`, `needs check`), in the form the parsers match.
fn choice(typed: &str) -> String {
    typed.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

impl std::str::FromStr for Verdict {
    type Err = ReviewError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match choice(s).as_str() {
            "legitimate" | "legitimate_emergency" => Ok(Verdict::LegitimateEmergency),
            "drill" => Ok(Verdict::Drill),
            "follow_up" | "needs_follow_up" => Ok(Verdict::NeedsFollowUp),
            "misuse" => Ok(Verdict::Misuse),
            _ => Err(ReviewError::UnknownVerdict(s.to_string())),
        }
    }
}

/// A reviewer's sign-off of a whole episode: 問題なし / 要確認 / 不適切.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignOff {
    NoIssues,
    NeedsCheck,
    Inappropriate,
}

impl SignOff {
    pub fn as_str(self) -> &'static str {
        match self {
            SignOff::NoIssues => "no_issues",
            SignOff::NeedsCheck => "needs_check",
            SignOff::Inappropriate => "inappropriate",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SignOff::NoIssues => "no issues",
            SignOff::NeedsCheck => "needs checking",
            SignOff::Inappropriate => "inappropriate",
        }
    }
}

impl std::str::FromStr for SignOff {
    type Err = ReviewError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match choice(s).as_str() {
            "no_issues" | "ok" | "問題なし" => Ok(SignOff::NoIssues),
            "needs_check" | "check" | "要確認" => Ok(SignOff::NeedsCheck),
            "inappropriate" | "不適切" => Ok(SignOff::Inappropriate),
            _ => Err(ReviewError::UnknownSignOff(s.to_string())),
        }
    }
}

/// Records a reviewer's sign-off of episode `episode` as a ledger entry. A verdict other
/// than "no issues" needs a comment saying why.
pub fn sign_off(
    reviewer: &crate::session::ReviewCapability,
    sink: &dyn AuditSink,
    client: Client,
    mode: Mode,
    episode: u64,
    verdict: SignOff,
    comment: &str,
) -> Result<AuditReceipt, ReviewError> {
    if comment.trim().is_empty() && verdict != SignOff::NoIssues {
        return Err(ReviewError::CommentRequired(verdict.label()));
    }
    Ok(sink.record(AuditEvent {
        time: Utc::now(),
        actor: reviewer.actor(),
        action: Action::ReviewSignOff {
            episode,
            verdict: verdict.as_str().to_string(),
            comment: comment.trim().to_string(),
        },
        patient: None,
        details: None,
        client,
        mode,
    })?)
}

/// A verdict as found in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedVerdict {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub by: Actor,
    /// As recorded (normally a [`Verdict::as_str`]).
    pub verdict: String,
    pub comment: String,
}

/// One emergency session with its events, what it touched, flags and verdicts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReview {
    pub session_id: String,
    pub account_id: String,
    pub declared: Option<DeclaredPerson>,
    pub reasons: Vec<Reason>,
    pub first_time: DateTime<Utc>,
    pub last_time: DateTime<Utc>,
    pub events: Vec<LedgerEntry>,
    /// Distinct patient keys whose records were read or printed, in order of first access.
    pub patients: Vec<String>,
    /// Distinct patient keys whose names were listed (search results, ward censuses), in
    /// order of first listing: who saw a patient's name.
    pub listed: Vec<String>,
    pub searches: u32,
    pub printed: u32,
    pub flags: Vec<Flag>,
    pub verdicts: Vec<RecordedVerdict>,
}

impl SessionReview {
    /// The session's rank for review: its most serious flag, then how many it has
    /// (`(0, 0)` for an unflagged session).
    pub fn seriousness(&self) -> (u8, usize) {
        let worst = self.flags.iter().map(Flag::severity).max().unwrap_or(0);
        (worst, self.flags.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpisodeReview {
    pub episode: Episode,
    /// In order of their first entry.
    pub sessions: Vec<SessionReview>,
    /// The reviewers' sign-offs of the episode, oldest first (`verdict` as recorded,
    /// normally a [`SignOff::as_str`]).
    pub sign_offs: Vec<RecordedVerdict>,
}

impl EpisodeReview {
    /// The sessions most serious first (see [`SessionReview::seriousness`]), sessions of
    /// equal rank in order of their first entry: the order the report and the review page
    /// list them in.
    pub fn ranked(&self) -> Vec<&SessionReview> {
        let mut out: Vec<&SessionReview> = self.sessions.iter().collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.seriousness()));
        out
    }
}

fn mode_changes(ledger: &Ledger) -> Result<Vec<LedgerEntry>, LedgerError> {
    let mut out = Vec::new();
    ledger.scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
        if matches!(e.action, Action::ModeChanged { .. }) {
            out.push(e);
        }
        Ok(())
    })?;
    Ok(out)
}

/// All episodes in the ledger, oldest first.
pub fn episodes(ledger: &Ledger) -> Result<Vec<Episode>, ReviewError> {
    let mut out: Vec<Episode> = Vec::new();
    for e in mode_changes(ledger)? {
        let Action::ModeChanged { to, reason, .. } = &e.action else {
            continue;
        };
        let open = out.last_mut().filter(|ep| ep.end.is_none());
        if let Some(ep) = open {
            let same = (*to == Mode::Drill) == ep.drill && to.allows_emergency_login();
            if same {
                continue;
            }
            ep.end = Some(EpisodeEnd {
                seq: e.seq,
                time: e.time,
                by: e.actor.clone(),
                to: *to,
                reason: reason.clone(),
            });
        }
        if to.allows_emergency_login() {
            out.push(Episode {
                id: episode_number(&e, out.len()),
                start_seq: e.seq,
                drill: *to == Mode::Drill,
                started: e.time,
                declared_by: e.actor.clone(),
                reason: reason.clone(),
                end: None,
            });
        }
    }
    Ok(out)
}

/// The episode number a `ModeChanged` entry that began an episode records; a ledger
/// written before entries carried it numbers episodes in order from 1, as the accounts
/// store's counter does.
fn episode_number(entry: &LedgerEntry, earlier: usize) -> u64 {
    entry
        .details
        .as_deref()
        .and_then(|d| details::get(d, details::EPISODE))
        .and_then(|n| n.parse().ok())
        .unwrap_or(earlier as u64 + 1)
}

/// Sessions of `episode_id` with their events, flags and verdicts.
pub fn review_episode(
    ledger: &Ledger,
    episode_id: u64,
    scopes: &dyn WardScopes,
    config: &ReviewConfig,
) -> Result<EpisodeReview, ReviewError> {
    let all = episodes(ledger)?;
    let episode = all
        .iter()
        .find(|e| e.id == episode_id)
        .cloned()
        .ok_or(ReviewError::NoSuchEpisode(episode_id))?;

    // Pass 1: which sessions were used inside the episode.
    let mut in_episode = BTreeSet::new();
    let end = episode.end.as_ref().map_or(u64::MAX, |e| e.seq);
    ledger.scan(episode.start_seq..=end, |e, _| -> Result<(), LedgerError> {
        if let Some(s) = e.session_id() {
            in_episode.insert(s.to_string());
        }
        Ok(())
    })?;

    // Pass 2: every entry of those sessions, wherever it is, and verdicts on them.
    let mut events: BTreeMap<String, Vec<LedgerEntry>> = BTreeMap::new();
    let mut verdicts: BTreeMap<String, Vec<RecordedVerdict>> = BTreeMap::new();
    let mut sign_offs = Vec::new();
    ledger.scan(1..=u64::MAX, |e, _| -> Result<(), LedgerError> {
        if let Action::ReviewSignOff {
            episode: id,
            verdict,
            comment,
        } = &e.action
        {
            if *id == episode_id {
                sign_offs.push(RecordedVerdict {
                    seq: e.seq,
                    time: e.time,
                    by: e.actor.clone(),
                    verdict: verdict.clone(),
                    comment: comment.clone(),
                });
            }
        }
        if let Action::ReviewVerdict {
            session_id,
            verdict,
            comment,
        } = &e.action
        {
            if in_episode.contains(session_id) {
                verdicts
                    .entry(session_id.clone())
                    .or_default()
                    .push(RecordedVerdict {
                        seq: e.seq,
                        time: e.time,
                        by: e.actor.clone(),
                        verdict: verdict.clone(),
                        comment: comment.clone(),
                    });
            }
        }
        if let Some(s) = e.session_id() {
            if in_episode.contains(s) {
                events.entry(s.to_string()).or_default().push(e);
            }
        }
        Ok(())
    })?;

    let context = Context {
        ledger,
        episodes: &all,
        episode: &episode,
        scopes,
        config,
        vip: config
            .vip_hospital_ids
            .iter()
            .filter_map(|id| ledger.pseudonym(PseudonymKind::HospitalId, id))
            .collect(),
    };
    let sessions = events
        .into_iter()
        .map(|(session_id, events)| {
            let v = verdicts.remove(&session_id).unwrap_or_default();
            summarize(session_id, events, v, &context)
        })
        .collect::<Vec<_>>();
    let mut sessions = sessions;
    sessions.sort_by_key(|s| s.events.first().map_or(0, |e| e.seq));
    Ok(EpisodeReview {
        episode,
        sessions,
        sign_offs,
    })
}

fn ward_of(e: &LedgerEntry) -> Option<String> {
    match &e.action {
        Action::WardCensus { ward, .. } | Action::WardPrint { ward, .. } => Some(ward.clone()),
        _ => e
            .details
            .as_deref()
            .and_then(|d| details::get(d, details::WARD)),
    }
}

/// Patients whose records an entry printed besides its own `patient` (a ward print).
fn records_in(action: &Action) -> &[String] {
    match action {
        Action::WardPrint { keys, .. } => keys,
        _ => &[],
    }
}

/// Patients whose names an entry listed without opening their records (search results,
/// ward censuses).
fn names_in(action: &Action) -> &[String] {
    match action {
        Action::PatientSearch { keys, .. } | Action::WardCensus { keys, .. } => keys,
        _ => &[],
    }
}

/// What every session of an episode is reviewed against.
struct Context<'a> {
    ledger: &'a Ledger,
    episodes: &'a [Episode],
    episode: &'a Episode,
    scopes: &'a dyn WardScopes,
    config: &'a ReviewConfig,
    /// Pseudonyms of the configured VIP/employee hospital IDs.
    vip: BTreeSet<String>,
}

/// One session's review: what it did (counted by [`Tally`]) and the flags its events
/// raise, in event order, then the flags of its totals, of the people whose records it
/// opened, and of its timing.
fn summarize(
    session_id: String,
    events: Vec<LedgerEntry>,
    verdicts: Vec<RecordedVerdict>,
    cx: &Context<'_>,
) -> SessionReview {
    let account_id = events
        .first()
        .and_then(|e| e.account_id())
        .unwrap_or_default()
        .to_string();
    let scope = cx.scopes.wards(&account_id);
    let mut tally = Tally::default();
    for e in &events {
        tally.add(e);
        tally.flag_place(e, cx.episodes, scope.as_deref());
    }
    tally.flag_totals(cx.config);
    tally.flag_people(&events, cx);
    tally.flag_timing(&events, cx.episode, cx.config);
    let first_time = events.iter().map(|e| e.time).min().unwrap_or_default();
    let last_time = events.iter().map(|e| e.time).max().unwrap_or_default();
    SessionReview {
        session_id,
        account_id,
        declared: tally.declared,
        reasons: tally.reasons,
        first_time,
        last_time,
        events,
        patients: tally.patients,
        listed: tally.listed,
        searches: tally.searches,
        printed: tally.printed,
        flags: tally.flags,
        verdicts,
    }
}

/// What a session's events add up to, as [`summarize`] walks them in order.
#[derive(Default)]
struct Tally {
    declared: Option<DeclaredPerson>,
    reasons: Vec<Reason>,
    patients: Vec<String>,
    seen: BTreeSet<String>,
    listed: Vec<String>,
    listed_seen: BTreeSet<String>,
    searches: u32,
    printed: u32,
    /// `PatientPrint` entries still to come that belong to the last ward print.
    ward_print_pending: u32,
    flags: Vec<Flag>,
}

impl Tally {
    /// Counts one event: the declared person, reasons, searches, prints, and the patients
    /// whose records were opened or whose names were listed (each once, in order).
    fn add(&mut self, e: &LedgerEntry) {
        if let Actor::Emergency {
            declared: Some(p), ..
        } = &e.actor
        {
            self.declared = Some(p.clone());
        }
        match &e.action {
            Action::Declared { reason } => self.reasons.push(reason.clone()),
            Action::PatientSearch { .. } | Action::WardCensus { .. } => self.searches += 1,
            // A ward print is one `WardPrint` entry listing its patients' keys. Ledgers
            // written before the list existed follow it with one `PatientPrint` per
            // patient instead: count those n once.
            Action::PatientPrint if self.ward_print_pending > 0 => self.ward_print_pending -= 1,
            Action::PatientPrint => self.printed += 1,
            Action::WardPrint {
                patients: n, keys, ..
            } => {
                self.printed += n;
                if keys.is_empty() {
                    self.ward_print_pending = *n;
                }
            }
            _ => {}
        }
        for p in e.patient.iter().chain(records_in(&e.action)) {
            if self.seen.insert(p.clone()) {
                self.patients.push(p.clone());
            }
        }
        for p in names_in(&e.action) {
            if self.listed_seen.insert(p.clone()) {
                self.listed.push(p.clone());
            }
        }
    }

    /// Flags an access made outside an emergency or drill episode, or a patient (or ward)
    /// outside the account's scope. The end of a session is no access: the node expires
    /// every session when an episode ends, after the entry that ended it.
    fn flag_place(&mut self, e: &LedgerEntry, episodes: &[Episode], scope: Option<&[String]>) {
        let ends_session = matches!(e.action, Action::SessionExpired | Action::Logout);
        let inside =
            e.mode.allows_emergency_login() && episodes.iter().any(|ep| ep.contains(e.seq));
        if !inside && !ends_session {
            self.flags.push(Flag::OutsideEpisode { seq: e.seq });
        }
        if let (Some(scope), Some(ward)) = (scope, ward_of(e)) {
            if !scope.contains(&ward) {
                self.flags.push(Flag::OutsideWardScope { seq: e.seq, ward });
            }
        }
    }

    /// Flags a session that opened many patients or printed in bulk.
    fn flag_totals(&mut self, config: &ReviewConfig) {
        if self.patients.len() > config.many_patients {
            self.flags.push(Flag::ManyPatients {
                distinct: self.patients.len(),
                threshold: config.many_patients,
            });
        }
        if self.printed > config.bulk_prints {
            self.flags.push(Flag::BulkPrinting {
                printed: self.printed,
                threshold: config.bulk_prints,
            });
        }
    }
}

/// The records a session opened (reads and single prints; a ward print is counted by
/// [`Flag::BulkPrinting`]): time, entry, patient.
fn openings(events: &[LedgerEntry]) -> Vec<(DateTime<Utc>, u64, &str)> {
    events
        .iter()
        .filter(|e| matches!(e.action, Action::PatientRead | Action::PatientPrint))
        .filter_map(|e| Some((e.time, e.seq, e.patient.as_deref()?)))
        .collect()
}

/// The most distinct patients opened within `window` of each other: (count, first entry,
/// last entry) of the busiest window.
fn busiest_window(
    opened: &[(DateTime<Utc>, u64, &str)],
    window: chrono::Duration,
) -> Option<(usize, u64, u64)> {
    let mut sorted = opened.to_vec();
    sorted.sort_by_key(|&(t, seq, _)| (t, seq));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut best: Option<(usize, u64, u64)> = None;
    let mut left = 0;
    for &(t, seq, key) in &sorted {
        *counts.entry(key).or_default() += 1;
        while t - sorted[left].0 > window {
            let gone = sorted[left].2;
            if let Some(n) = counts.get_mut(gone) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(gone);
                }
            }
            left += 1;
        }
        if best.is_none_or(|(n, _, _)| counts.len() > n) {
            best = Some((counts.len(), sorted[left].1, seq));
        }
    }
    best
}

impl Tally {
    /// Flags the records of the declared person's family (same family name) and of the
    /// configured VIP/employee patients, once per patient, comparing the pseudonyms the
    /// viewer recorded with those of the declared name and of the configured IDs.
    fn flag_people(&mut self, events: &[LedgerEntry], cx: &Context<'_>) {
        let family: BTreeSet<String> = self
            .declared
            .iter()
            .flat_map(|p| pseudonym::declared_family_candidates(&p.name))
            .filter_map(|n| cx.ledger.pseudonym(PseudonymKind::FamilyName, &n))
            .collect();
        let mut relatives = BTreeSet::new();
        let mut vips = BTreeSet::new();
        for e in events {
            let (Some(patient), Some(d)) = (&e.patient, e.details.as_deref()) else {
                continue;
            };
            let names = details::get(d, details::FAMILY_NAME).unwrap_or_default();
            if names.split(',').any(|n| family.contains(n)) && relatives.insert(patient) {
                self.flags.push(Flag::SameFamilyName {
                    seq: e.seq,
                    patient: patient.clone(),
                });
            }
            let id = details::get(d, details::HOSPITAL_ID).unwrap_or_default();
            if cx.vip.contains(&id) && vips.insert(patient) {
                self.flags.push(Flag::VipPatient {
                    seq: e.seq,
                    patient: patient.clone(),
                });
            }
        }
    }

    /// Flags many patients opened in little time, records opened just before the episode
    /// ended, and a session left open when it ended.
    fn flag_timing(&mut self, events: &[LedgerEntry], episode: &Episode, config: &ReviewConfig) {
        let opened = openings(events);
        if config.burst_minutes > 0 {
            let window = chrono::Duration::minutes(i64::from(config.burst_minutes));
            if let Some((n, first_seq, last_seq)) = busiest_window(&opened, window) {
                if n > config.burst_patients {
                    self.flags.push(Flag::RapidAccess {
                        patients: n,
                        minutes: config.burst_minutes,
                        threshold: config.burst_patients,
                        first_seq,
                        last_seq,
                    });
                }
            }
        }
        let Some(end) = &episode.end else {
            return;
        };
        if config.episode_end_minutes > 0 {
            let from = end.time - chrono::Duration::minutes(i64::from(config.episode_end_minutes));
            let late: Vec<_> = opened
                .iter()
                .filter(|&&(t, seq, _)| seq < end.seq && t >= from && t <= end.time)
                .collect();
            if let Some(&&(t, last_seq, _)) = late.iter().max_by_key(|(t, seq, _)| (*t, *seq)) {
                self.flags.push(Flag::EndOfEpisode {
                    records: late.len(),
                    minutes: config.episode_end_minutes,
                    last_seq,
                    seconds_before: (end.time - t).num_seconds(),
                });
            }
        }
        let closed = events
            .iter()
            .any(|e| matches!(e.action, Action::Logout | Action::SessionExpired));
        if let (false, Some(last)) = (closed, events.last()) {
            self.flags.push(Flag::NeverClosed { last_seq: last.seq });
        }
    }
}

/// Records a reviewer's verdict on a session as a ledger entry.
pub fn record_verdict(
    sink: &dyn AuditSink,
    reviewer: Actor,
    mode: Mode,
    session_id: &str,
    verdict: Verdict,
    comment: &str,
) -> Result<AuditReceipt, ReviewError> {
    if !matches!(reviewer, Actor::Admin { .. } | Actor::Console { .. }) {
        return Err(ReviewError::NotAReviewer);
    }
    if comment.trim().is_empty() && matches!(verdict, Verdict::Misuse | Verdict::NeedsFollowUp) {
        return Err(ReviewError::CommentRequired(verdict.label()));
    }
    let receipt = sink.record(AuditEvent {
        time: Utc::now(),
        actor: reviewer,
        action: Action::ReviewVerdict {
            session_id: session_id.to_string(),
            verdict: verdict.as_str().to_string(),
            comment: comment.trim().to_string(),
        },
        patient: None,
        details: None,
        client: Client::default(),
        mode,
    })?;
    Ok(receipt)
}
