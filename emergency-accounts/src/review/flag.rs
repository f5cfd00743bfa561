//! What the review flags in a session, and how each flag reads.

/// Something the reviewer should look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    ManyPatients {
        distinct: usize,
        threshold: usize,
    },
    /// `ward` is empty for a patient on no ward (an outpatient, a discharged patient).
    OutsideWardScope {
        seq: u64,
        ward: String,
    },
    OutsideEpisode {
        seq: u64,
    },
    BulkPrinting {
        printed: u32,
        threshold: u32,
    },
    /// The declared person's family name is the patient's (compared by pseudonym).
    SameFamilyName {
        seq: u64,
        patient: String,
    },
    /// The patient is on the configured VIP/employee list (compared by pseudonym).
    VipPatient {
        seq: u64,
        patient: String,
    },
    /// More distinct patients opened within `minutes` than `threshold`, from entry
    /// `first_seq` to `last_seq`.
    RapidAccess {
        patients: usize,
        minutes: u32,
        threshold: usize,
        first_seq: u64,
        last_seq: u64,
    },
    /// `records` patient records opened in the last `minutes` before the episode ended,
    /// the last of them (entry `last_seq`) `seconds_before` seconds before the end.
    EndOfEpisode {
        records: usize,
        minutes: u32,
        last_seq: u64,
        seconds_before: i64,
    },
    /// The episode ended and the session has no logout or expiry entry; `last_seq` is its
    /// last entry.
    NeverClosed {
        last_seq: u64,
    },
}

impl Flag {
    /// How serious the flag is, for ranking sessions: higher first. A relative's or a
    /// VIP's record comes first, then access where the account had no business, then
    /// volume, then timing and loose ends.
    pub fn severity(&self) -> u8 {
        match self {
            Flag::SameFamilyName { .. } => 9,
            Flag::VipPatient { .. } => 8,
            Flag::OutsideEpisode { .. } => 7,
            Flag::OutsideWardScope { .. } => 6,
            Flag::RapidAccess { .. } => 5,
            Flag::BulkPrinting { .. } => 4,
            Flag::ManyPatients { .. } => 3,
            Flag::EndOfEpisode { .. } => 2,
            Flag::NeverClosed { .. } => 1,
        }
    }
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::ManyPatients {
                distinct,
                threshold,
            } => write!(
                f,
                "many distinct patients: {distinct} (threshold {threshold})"
            ),
            Flag::OutsideWardScope { seq, ward } if ward.is_empty() => {
                write!(
                    f,
                    "patient outside the account's ward scope: on no ward (entry {seq})"
                )
            }
            Flag::OutsideWardScope { seq, ward } => {
                write!(
                    f,
                    "patient outside the account's ward scope: ward {ward} (entry {seq})"
                )
            }
            Flag::OutsideEpisode { seq } => {
                write!(f, "access outside the declared episode (entry {seq})")
            }
            Flag::BulkPrinting { printed, threshold } => {
                write!(
                    f,
                    "bulk printing: {printed} patient records printed (threshold {threshold})"
                )
            }
            Flag::SameFamilyName { seq, patient } => write!(
                f,
                "same family name: the declared person shares the family name of patient \
                 {patient} (entry {seq})"
            ),
            Flag::VipPatient { seq, patient } => write!(
                f,
                "VIP or employee patient: patient {patient} is on the configured list \
                 (entry {seq})"
            ),
            Flag::RapidAccess {
                patients,
                minutes,
                threshold,
                first_seq,
                last_seq,
            } => write!(
                f,
                "many patients in little time: {patients} patients opened within {minutes} \
                 minutes (threshold {threshold}; entries {first_seq} to {last_seq})"
            ),
            Flag::EndOfEpisode {
                records,
                minutes,
                last_seq,
                seconds_before,
            } => write!(
                f,
                "access at the end of the episode: {records} patient records opened in the \
                 last {minutes} minutes before it ended, the last {seconds_before} seconds \
                 before (entry {last_seq})"
            ),
            Flag::NeverClosed { last_seq } => write!(
                f,
                "session never closed: no logout or expiry after its last entry \
                 (entry {last_seq}), and the episode has ended"
            ),
        }
    }
}
