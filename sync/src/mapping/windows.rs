//! How far back each kind of item is kept and shown, measured from the data time.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Time windows, measured back from the data time (see the module doc); items outside
/// them are dropped at sync (and retracted in incremental syncs) and not shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Windows {
    /// Medication administrations (MAR) newer than this many hours.
    pub administrations_hours: u32,
    /// Vital signs and other bedside observations newer than this many hours.
    pub vitals_hours: u32,
    /// Lab results newer than this many days (blood typing is kept whatever its age).
    pub labs_days: u32,
    /// Finished encounters that ended within this many days (in-progress ones always).
    pub encounters_days: u32,
    /// Prescriptions no longer in effect, kept when they ended (or started) within this
    /// many days.
    pub prescriptions_days: u32,
    /// Of those, the ones shown (greyed, with their status) on the patient page: ended
    /// within this many days.
    pub prescriptions_recent_days: u32,
    /// Diagnostic reports (imaging, pathology) issued within this many days.
    pub reports_days: u32,
}

impl Default for Windows {
    fn default() -> Self {
        Windows {
            administrations_hours: 72,
            vitals_hours: 72,
            labs_days: 180,
            encounters_days: 90,
            prescriptions_days: 90,
            prescriptions_recent_days: 14,
            reports_days: 365,
        }
    }
}

impl Windows {
    /// Oldest MAR entry kept for data as of `data_time`.
    pub fn administrations_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::hours(self.administrations_hours.into())
    }

    /// Oldest vital sign kept for data as of `data_time`.
    pub fn vitals_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::hours(self.vitals_hours.into())
    }

    /// Oldest lab result kept for data as of `data_time`.
    pub fn labs_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::days(self.labs_days.into())
    }

    /// Oldest end of a finished encounter kept for data as of `data_time`.
    pub fn encounters_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::days(self.encounters_days.into())
    }

    /// Oldest prescription no longer in effect kept for data as of `data_time`.
    pub fn prescriptions_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::days(self.prescriptions_days.into())
    }

    /// Oldest end of a prescription no longer in effect that the patient page still
    /// shows for data as of `data_time`.
    pub fn prescriptions_recent_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::days(self.prescriptions_recent_days.into())
    }

    /// Oldest diagnostic report kept for data as of `data_time`.
    pub fn reports_from(&self, data_time: DateTime<Utc>) -> DateTime<Utc> {
        data_time - Duration::days(self.reports_days.into())
    }
}
