//! The command line of the `akari` binary: every subcommand and option, with the help text
//! `akari … --help` prints. What the commands do is in `main.rs` and the library.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use akari::console::TypedTime;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// The data directory of a node when neither `--data-dir` nor `AKARI_DATA_DIR` names one.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/akari";

const ABOUT: &str =
    "Akari: emergency read-only EHR viewer for when the main hospital system is down.";
const LONG_ABOUT: &str = "\
Akari: emergency read-only EHR viewer for when the main hospital system is down.

A node keeps a read-only copy of essential patient data (allergies, medications, labs,
problems, ward census). During an outage or a drill, clinicians log in with sealed
emergency accounts; every access is recorded in a tamper-evident audit log first.

Commands other than `init`, `serve`, `demo` and `audit verify` are console commands: run on
the node's machine, they reach the running node through its control socket
(<data-dir>/control.sock), or open the data directory themselves when no node runs. They
are recorded in the audit log as the OS user who ran them.";
const MAIN_EXAMPLES: &str = "\
Examples:
  akari init --data-dir /var/lib/akari --host-name akari.hospital.local --ip 10.0.0.5
  akari serve --data-dir /var/lib/akari
  akari demo                       (try it on this machine, synthetic data only)
  akari <COMMAND> --help           (what a command does, with examples)";

#[derive(Parser)]
#[command(
    name = "akari",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = MAIN_EXAMPLES
)]
pub struct Cli {
    /// Directory holding this node's configuration, keys, certificate and databases
    /// [default: /var/lib/akari].
    #[arg(long, global = true, env = "AKARI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Configuration file to use instead of <data-dir>/akari.toml.
    #[arg(long, global = true, env = "AKARI_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log format on standard error: `text` for people, `json` for log collectors.
    #[arg(long, global = true, env = "AKARI_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The node's data directory: `--data-dir`, `AKARI_DATA_DIR`, or the default.
    pub fn data_dir(&self) -> &Path {
        self.data_dir
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_DATA_DIR))
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
pub enum Command {
    /// Prepare a new node: data directory, signing key, TLS certificate, snapshot key and
    /// recovery key.
    ///
    /// Creates the data directory (readable only by this user), the node's signing key, a
    /// self-signed TLS certificate, the snapshot encryption key pair and a commented
    /// config file, and prints the recovery key once. Safe to re-run: existing files are
    /// never overwritten.
    #[command(after_help = "\
Examples:
  akari init --data-dir /var/lib/akari --host-name akari.hospital.local --ip 10.0.0.5
  akari init --data-dir /var/lib/akari      (again: keeps every existing file)")]
    Init(InitArgs),
    /// Start the node: serve the viewer over HTTPS until Ctrl-C or SIGTERM.
    ///
    /// Syncs from the main EHR on schedule in standby, serves the clinician and admin pages
    /// over TLS, and takes console commands on <data-dir>/control.sock. On Ctrl-C or
    /// SIGTERM, requests in progress are allowed to finish first.
    #[command(after_help = "\
Examples:
  akari serve --data-dir /var/lib/akari
  akari serve --data-dir /var/lib/akari --listen 0.0.0.0:443 --http-redirect-listen 0.0.0.0:80")]
    Serve(ServeArgs),
    /// Show or check the configuration.
    #[command(after_help = "\
Examples:
  akari config check --data-dir /var/lib/akari
  akari config print-default > akari.toml.example")]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Try Akari on this machine with a synthetic hospital (no real patient data).
    ///
    /// A throw-away node on loopback: a synthetic Japanese hospital served by an
    /// in-process FHIR server and synced into the node, three sealed demo accounts with
    /// their seal sheets, an admin, and a drill. Ctrl-C ends the drill and prints the
    /// review, the ledger export and its offline verification.
    #[cfg(feature = "demo")]
    #[command(after_help = "\
Examples:
  akari demo
  akari demo --patients 200 --listen 127.0.0.1:9443
  akari demo --data-dir /tmp/akari-demo    (a new or empty directory)
  akari demo --source ss-mix2              (sync from an SS-MIX2 storage written for it)")]
    Demo(DemoArgs),
    /// Show the node's mode, snapshot and sync state.
    Status,
    /// Unlock the encrypted snapshot with the recovery key (read from the terminal).
    ///
    /// Lets the node show patient data before anyone has logged in; it stays unlocked
    /// until the episode ends, the last admin logs out, or `akari lock`.
    Unlock,
    /// Wipe the snapshot key from the running node's memory now.
    Lock,
    /// Pull from the main EHR now.
    #[command(after_help = "\
Examples:
  akari sync now           (incremental: what changed since the last sync)
  akari sync now --full    (everything, as a new full generation)")]
    Sync {
        #[command(subcommand)]
        command: SyncCommand,
    },
    /// List, verify, pin, roll back or promote snapshot generations.
    #[command(after_help = "\
Examples:
  akari snapshot list
  akari snapshot verify            (the current generation)
  akari snapshot rollback 12       (when the source sent bad data)")]
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Hospital IT administrator accounts (for the admin pages).
    #[command(after_help = "\
Examples:
  akari admin create --id it-suzuki --name \"鈴木 (IT)\"")]
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Declare or end an emergency or drill (recorded as the OS user who runs it).
    #[command(after_help = "\
Examples:
  akari mode declare-emergency --reason \"EHR down since 02:10 (ransomware)\"
  akari mode start-drill --reason \"quarterly drill\"
  akari mode end --reason \"EHR back\"
  akari mode standby --reason \"accounts re-sealed, review done\"")]
    Mode {
        #[command(subcommand)]
        command: ModeCommand,
    },
    /// The staff notice on every clinician page and printout: post, withdraw.
    #[command(after_help = "\
Examples:
  akari notice post \"検査結果は内線1234へ電話で\"
  akari notice withdraw")]
    Notice {
        #[command(subcommand)]
        command: NoticeCommand,
    },
    /// Sealed emergency accounts: provision, list, re-seal, revoke.
    #[command(after_help = "\
Examples:
  akari account provision --label ER-1
  akari account provision --label 5F-West-2 --wards 5F-West --expires 2027-03-31
  akari account list
  akari account reseal EA-7K2Q9M")]
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
    /// The audit ledger: export, offline verification, review report, checkpoints.
    #[command(after_help = "\
Examples:
  akari audit report                 (the list of episodes)
  akari audit report 8               (one episode, for the incident report)
  akari audit export --out audit.ndjson
  akari audit verify audit.ndjson --key /var/lib/akari/keys/node-signing.pub")]
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Downtime records (what was given and measured during an outage): status, export
    /// for back-entry, offline verification of an export, marking entries reconciled.
    #[command(after_help = "\
Examples:
  akari downtime status
  akari downtime export 8 --out /media/usb/downtime-8
  akari downtime verify /media/usb/downtime-8 --key /var/lib/akari/keys/node-signing.pub
  akari downtime reconcile --episode 8")]
    Downtime {
        #[command(subcommand)]
        command: DowntimeCommand,
    },
}

#[derive(Subcommand)]
pub enum DowntimeCommand {
    /// How many entries each episode has, and how many are not yet reconciled.
    Status,
    /// Export an episode's entries (without EPISODE: every entry) into a new directory:
    /// a FHIR R4 transaction Bundle per patient, the reconciliation list as CSV and PDF,
    /// and a manifest signed with the node key. Recorded in the audit ledger first; a
    /// locked snapshot key asks for the recovery key.
    #[command(after_help = "\
Examples:
  akari downtime export 8 --out /media/usb/downtime-8")]
    Export {
        /// Episode number, as `akari audit report` lists them.
        episode: Option<u64>,
        /// A new, empty directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Verify an export offline: the manifest's signature and every file's hash.
    ///
    /// Needs no node and no data directory: only the export and the node's public key.
    #[command(after_help = "\
Examples:
  akari downtime verify /media/usb/downtime-8 --key /var/lib/akari/keys/node-signing.pub
  akari downtime verify downtime-episode-8.zip --key node-signing.pub")]
    Verify {
        /// The directory written by `akari downtime export`, or the zip archive
        /// downloaded from the admin page (verified as it is, without unpacking).
        dir: PathBuf,
        /// The node's public key (keys/node-signing.pub, or 64 hex digits in a file).
        #[arg(long, value_name = "PUBKEY_FILE")]
        key: PathBuf,
    },
    /// Mark entries reconciled once they are entered back into the hospital's records
    /// (recorded in the audit ledger first): the entries named, or every entry of an
    /// episode.
    #[command(after_help = "\
Examples:
  akari downtime reconcile 12 13 14
  akari downtime reconcile --episode 8")]
    Reconcile {
        /// Entry numbers, as the reconciliation list shows them.
        entries: Vec<u64>,
        /// Every entry of this episode.
        #[arg(long, conflicts_with = "entries")]
        episode: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum NoticeCommand {
    /// Show TEXT at the top of every clinician page and printout (replaces the one shown;
    /// one line, at most 200 characters, no patient data). Recorded in the audit ledger.
    Post {
        /// The notice, e.g. "検査結果は内線1234へ電話で".
        text: String,
    },
    /// Remove the notice. Recorded in the audit ledger.
    Withdraw,
}

#[derive(Subcommand)]
pub enum SyncCommand {
    /// Run one sync now (incremental from the last one; --full pulls everything).
    #[command(after_help = "\
Examples:
  akari sync now
  akari sync now --full")]
    Now {
        /// Pull every resource (a new full generation), not only what changed.
        #[arg(long)]
        full: bool,
    },
    /// What the last sync received, stored, rejected and kept with warnings (by reason
    /// and resource type), and the last refused pull, if any.
    #[command(after_help = "\
Examples:
  akari sync report")]
    Report,
}

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// List the generations kept (the current one is marked *).
    #[command(after_help = "\
Examples:
  akari snapshot list")]
    List,
    /// Re-check a generation's items, counts and hash (default: the current one).
    #[command(after_help = "\
Examples:
  akari snapshot verify
  akari snapshot verify 12")]
    Verify {
        /// Generation number, as `akari snapshot list` shows it [default: the current one].
        generation: Option<u64>,
    },
    /// Make an older generation current again (e.g. when the source was poisoned).
    ///
    /// The generation is copied as a new current generation; nothing is deleted.
    #[command(after_help = "\
Examples:
  akari snapshot list
  akari snapshot rollback 12")]
    Rollback {
        /// Generation to serve again, as `akari snapshot list` shows it.
        generation: u64,
    },
    /// Serve a quarantined generation (a sync that would have lost much of the data)
    /// after all, once you have checked with the source that the loss is real.
    ///
    /// The promotion is recorded in the audit ledger first; the generation is verified
    /// before it is served.
    #[command(after_help = "\
Examples:
  akari snapshot list
  akari snapshot promote 14")]
    Promote {
        /// The quarantined generation, as `akari snapshot list` shows it.
        generation: u64,
    },
    /// Keep a generation whatever the retention (--unpin to release it).
    Pin {
        /// Generation to keep, as `akari snapshot list` shows it.
        generation: u64,
        /// Release the pin instead: retention may delete the generation again.
        #[arg(long)]
        unpin: bool,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an administrator and print a one-time enrolment code for their passkey.
    ///
    /// The password is read twice from the terminal (or from --password-file); the admin
    /// then registers a passkey or security key with the code on the admin pages.
    #[command(after_help = "\
Examples:
  akari admin create --id it-suzuki --name \"鈴木 (IT)\"
  akari admin create --id it-2 --name \"IT night shift\" --password-file /run/secrets/pw")]
    Create {
        /// Login ID: letters, digits, '-', '_' or '.'.
        #[arg(long)]
        id: String,
        /// Name shown in the audit log.
        #[arg(long)]
        name: String,
        /// Read the password from this file (first line) instead of the terminal.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Issue an admin a new one-time enrolment code, to add a passkey or security key
    /// (lost or new device). Any earlier code stops working; their passkeys stay.
    ///
    /// Recorded in the audit log (who, for which admin) before it takes effect.
    #[command(
        visible_alias = "add-passkey",
        after_help = "\
Examples:
  akari admin new-code --id it-suzuki"
    )]
    NewCode {
        /// The admin's login ID.
        #[arg(long)]
        id: String,
    },
    /// Remove every passkey and security key of an admin (lost or stolen) and issue a new
    /// enrolment code to register a new one. The removed ones stop working at once and
    /// the admin's sessions end.
    #[command(after_help = "\
Examples:
  akari admin replace-passkeys --id it-suzuki")]
    ReplacePasskeys {
        /// The admin's login ID.
        #[arg(long)]
        id: String,
    },
    /// Give an admin a new password, generated and printed only this once. The old one
    /// stops working at once and the admin's sessions end; their passkeys stay.
    ///
    /// With an encrypted snapshot the admin's key slot is remade from the new password:
    /// the recovery key is asked for unless the node is unlocked.
    #[command(after_help = "\
Examples:
  akari admin reset-password --id it-suzuki")]
    ResetPassword {
        /// The admin's login ID.
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
pub enum ModeCommand {
    /// Standby → emergency: sealed accounts can log in.
    #[command(after_help = "\
Examples:
  akari mode declare-emergency --reason \"EHR down since 02:10 (ransomware)\"")]
    DeclareEmergency {
        /// Why, for the audit log and the review (required).
        #[arg(long)]
        reason: String,
    },
    /// Standby → drill: like an emergency, every event flagged as a drill.
    #[command(after_help = "\
Examples:
  akari mode start-drill --reason \"quarterly drill\"")]
    StartDrill {
        /// Why, for the audit log and the review.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Emergency or drill → recovery: logins end, opened accounts are retired.
    #[command(after_help = "\
Examples:
  akari mode end --reason \"EHR back at 14:30\"")]
    End {
        /// Why the episode ends, for the audit log and the review.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Recovery → standby, once accounts are re-sealed and the review is done.
    #[command(after_help = "\
Examples:
  akari mode standby --reason \"accounts re-sealed, review done\"")]
    Standby {
        /// Why, for the audit log.
        #[arg(long, default_value = "")]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create a sealed emergency account and print its seal sheet (the credential is
    /// shown only this once).
    #[command(after_help = "\
Examples:
  akari account provision --label ER-1
  akari account provision --label 5F-West-2 --wards 5F-West,5F-East --expires 2027-03-31")]
    Provision {
        /// Name staff recognise, e.g. ER-1 or 5F-West-2.
        #[arg(long)]
        label: String,
        /// Wards it may see (comma-separated or repeated); default all wards.
        #[arg(long, value_delimiter = ',', value_name = "WARD")]
        wards: Vec<String>,
        /// Expiry: 2027-03-31 (works through that day on the hospital's clock,
        /// [display] time_zone), 2027-03-31T18:00 on that clock, or RFC 3339 with an offset.
        #[arg(long, value_parser = TypedTime::parse, value_name = "TIME")]
        expires: Option<TypedTime>,
    },
    /// List emergency accounts and their seal state.
    List,
    /// Issue a new credential and seal sheet (the old credential stops working).
    #[command(after_help = "\
Examples:
  akari account list
  akari account reseal EA-7K2Q9M")]
    Reseal {
        /// The account's ID, as on its seal sheet and in `akari account list`.
        account_id: String,
    },
    /// Revoke an account for good.
    Revoke {
        /// The account's ID, as on its seal sheet and in `akari account list`.
        account_id: String,
        /// Why, for the audit log (required).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Export ledger entries (with hashes and signed checkpoints in ndjson).
    #[command(after_help = "\
Examples:
  akari audit export --out audit.ndjson
  akari audit export --from 2027-01-31 --to 2027-02-01 --format csv --out jan31.csv
  akari audit export --format fhir > audit-events.json")]
    Export {
        /// From this time: 2027-01-31 (midnight on the hospital's clock, [display]
        /// time_zone), 2027-01-31T09:00 on that clock, or RFC 3339 with an offset.
        #[arg(long, value_parser = TypedTime::parse, value_name = "TIME")]
        from: Option<TypedTime>,
        /// Up to (not including) this time, read as --from is: --to 2027-02-01 stops at
        /// the midnight that begins 1 February.
        #[arg(long, value_parser = TypedTime::parse, value_name = "TIME")]
        to: Option<TypedTime>,
        /// ndjson (verifiable offline), fhir (R4 AuditEvent Bundle) or csv.
        #[arg(long, default_value = "ndjson", value_parser = ["ndjson", "fhir", "csv"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Verify an ndjson export offline: the hash chain and every checkpoint signature.
    ///
    /// Needs no node and no data directory: only the export and the node's public key.
    #[command(after_help = "\
Examples:
  akari audit verify audit.ndjson --key /var/lib/akari/keys/node-signing.pub")]
    Verify {
        /// The ndjson file written by `akari audit export`.
        export: PathBuf,
        /// The node's public key (keys/node-signing.pub, or 64 hex digits in a file).
        #[arg(long, value_name = "PUBKEY_FILE")]
        key: PathBuf,
    },
    /// Summary of an episode for the incident report (without EPISODE: list them); with
    /// --resolve the patients are named, with --patient every session that saw one patient
    /// is listed, with --csv / --pdf the review is also written as CSV / printable PDF. Names are shown only with a
    /// --purpose, recorded in the ledger first; a locked snapshot asks for the recovery key.
    #[command(after_help = "\
Examples:
  akari audit report
  akari audit report 8
  akari audit report 8 --resolve --purpose \"complaint 2027-014\"
  akari audit report --patient 00012345 --purpose \"disclosure request\"
  akari audit report 8 --csv /media/usb/episode8.csv --pdf /media/usb/episode8.pdf")]
    Report {
        /// Episode number, as the list (and `akari mode end`) shows it.
        episode: Option<u64>,
        /// Name the patients behind the opaque keys (name, kana, hospital ID, birth date).
        #[arg(long, requires = "purpose")]
        resolve: bool,
        /// Start from a patient: hospital ID, name or kana (or a patient key); lists every
        /// session in any episode that saw them.
        #[arg(long, value_name = "PATIENT", requires = "purpose")]
        patient: Option<String>,
        /// Why the names are needed: recorded in the ledger with the resolution.
        #[arg(long, value_name = "TEXT")]
        purpose: Option<String>,
        /// Also write the episode's review (sessions, declared persons, patients seen,
        /// flags, verdicts, sign-offs) as CSV to FILE; patients named with --resolve.
        #[arg(long, value_name = "FILE", requires = "episode")]
        csv: Option<PathBuf>,
        /// Also write the same review as a printable PDF (A4, Japanese) to FILE; patients
        /// named with --resolve. Needs a Japanese font (`[print] font`, or fonts-noto-cjk).
        #[arg(long, value_name = "FILE", requires = "episode")]
        pdf: Option<PathBuf>,
    },
    /// Sign off an episode's review with a verdict, recorded in the ledger.
    #[command(after_help = "\
Examples:
  akari audit sign-off 8 --verdict no-issues
  akari audit sign-off 8 --verdict needs-check --comment \"ask the 5W ward manager\"")]
    SignOff {
        /// Episode number.
        episode: u64,
        /// no-issues (問題なし), needs-check (要確認) or inappropriate (不適切).
        #[arg(long)]
        verdict: String,
        /// Why (required unless no-issues).
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Sign a checkpoint now and print it; --write-to copies it to removable media.
    Checkpoint {
        /// Also write the checkpoint into this directory (e.g. a mounted USB stick).
        #[arg(long, value_name = "DIR")]
        write_to: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration file, with an explanation of every setting.
    PrintDefault,
    /// Check the configuration, data directory, keys and certificate without starting;
    /// prints what is wrong and exits non-zero if anything is.
    Check,
    /// Print the configuration in effect (file + environment), secrets hidden.
    Show,
}

#[derive(Args)]
pub struct InitArgs {
    /// Host name clinicians type to reach this node (repeat for several); goes into the
    /// self-signed certificate. Default: localhost.
    #[arg(long = "host-name", value_name = "NAME")]
    pub host_names: Vec<String>,
    /// IP address clinicians use to reach this node (repeat for several); goes into the
    /// self-signed certificate. Default: 127.0.0.1 and ::1.
    #[arg(long = "ip", value_name = "ADDRESS")]
    pub ip_addresses: Vec<IpAddr>,
}

#[derive(Args, Default)]
pub struct ServeArgs {
    /// HTTPS address and port, e.g. 0.0.0.0:443 (overrides server.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Metrics address and port (overrides metrics.listen).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<String>,
    /// Also listen on plain HTTP here, only to redirect browsers to HTTPS.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http_redirect_listen: Option<String>,
    /// Also accept TLS 1.2 for old browsers (overrides tls.allow_tls12).
    #[arg(long)]
    pub allow_tls12: bool,
}

/// `akari demo`'s options. Its `--data-dir` replaces the global one: the demo never uses
/// the default node directory.
#[cfg(feature = "demo")]
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address and port for the demo node; a free port is chosen if this one is taken.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8443")]
    pub listen: std::net::SocketAddr,
    /// Synthetic patients to generate (spread over the wards and outpatients).
    #[arg(long, value_name = "N", default_value_t = 2_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub patients: u64,
    /// A new or empty directory for the demo node's data
    /// [default: a new temporary directory, kept after exit; its path is printed].
    #[arg(long, env = "AKARI_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the node syncs from: the synthetic hospital served as FHIR, or written as an
    /// SS-MIX2 storage (ISO-2022-JP files, transaction storage) in the data directory.
    #[arg(long, value_enum, default_value = "fhir")]
    pub source: DemoSource,
}

/// The demo's sync source.
#[cfg(feature = "demo")]
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoSource {
    Fhir,
    #[value(name = "ss-mix2")]
    SsMix2,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand and every option or argument a person can type has a description.
    #[test]
    fn every_subcommand_and_argument_is_described() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            if command.get_about().is_none() && !path.is_empty() {
                missing.push(format!("`akari{path}`"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("`akari{path}` argument `{id}`"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut command = Cli::command();
        command.build();
        let mut missing = Vec::new();
        walk(&command, "", &mut missing);
        assert!(missing.is_empty(), "no description: {missing:?}");
    }

    #[test]
    fn times_are_read_on_the_hospitals_clock_unless_they_carry_an_offset() {
        let new_york: akari_accounts::Zone = "America/New_York".parse().unwrap();
        let start = |text: &str| {
            TypedTime::parse(text)
                .unwrap()
                .start(&new_york)
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(start("2027-03-31"), "2027-03-31T04:00:00+00:00");
        assert_eq!(start("2027-01-31"), "2027-01-31T05:00:00+00:00");
        assert_eq!(start("2027-01-31T09:30"), "2027-01-31T14:30:00+00:00");
        assert_eq!(
            start("2027-03-31T09:00:00+09:00"),
            "2027-03-31T00:00:00+00:00"
        );
        let end = TypedTime::parse("2027-03-31")
            .unwrap()
            .end(&akari_accounts::Zone::default())
            .unwrap();
        assert_eq!(end.to_rfc3339(), "2027-03-31T14:59:59+00:00");
        let skipped = TypedTime::parse("2027-03-14T02:30")
            .unwrap()
            .start(&new_york)
            .unwrap_err();
        assert!(skipped.contains("America/New_York"), "{skipped}");
        assert!(TypedTime::parse("31/03/2027")
            .unwrap_err()
            .contains("2027-03-31"));
    }
}
