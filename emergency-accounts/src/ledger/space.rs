//! Free space on the ledger's disk, checked against a reserve so that administrators are
//! alerted while there is still room: once the disk is full the ledger refuses every append
//! and, failing closed, the node shows no patient data.
//!
//! The reserve is `disk_reserve_bytes` or `disk_reserve_percent` of the file system,
//! whichever is smaller (defaults 1 GiB and 5 %): a large disk alerts at 1 GiB free, a small
//! one at 5 % of its size. The reading comes from `statvfs(3)` on the ledger file's
//! directory (space available to the node's user); tests inject their own.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One reading of a file system's space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpace {
    /// Bytes the node's user may still write.
    pub free_bytes: u64,
    /// The file system's size.
    pub total_bytes: u64,
}

/// Where the ledger reads its disk's space from.
pub type SpaceProbe = Arc<dyn Fn() -> std::io::Result<DiskSpace> + Send + Sync>;

/// `statvfs(3)` of `dir`: the space available to unprivileged writers, and the size.
pub fn statvfs_probe(dir: PathBuf) -> SpaceProbe {
    Arc::new(move || statvfs(&dir))
}

// The field types differ between platforms (u32 or u64); the conversions are no-ops here.
#[allow(clippy::useless_conversion)]
fn statvfs(dir: &Path) -> std::io::Result<DiskSpace> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    let unit = u64::from(st.fragment_size());
    Ok(DiskSpace {
        free_bytes: u64::from(st.blocks_available()).saturating_mul(unit),
        total_bytes: u64::from(st.blocks()).saturating_mul(unit),
    })
}

/// The ledger disk's space against its reserve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpaceStatus {
    pub space: DiskSpace,
    /// The reserve for this file system: below it, administrators are alerted.
    pub reserve_bytes: u64,
}

impl SpaceStatus {
    /// `bytes` of reserve, or `percent` % of the file system if that is smaller.
    pub fn new(space: DiskSpace, reserve_bytes: u64, reserve_percent: u8) -> Self {
        let share = u64::try_from(
            u128::from(space.total_bytes) * u128::from(reserve_percent.min(100)) / 100,
        )
        .unwrap_or(u64::MAX);
        SpaceStatus {
            space,
            reserve_bytes: reserve_bytes.min(share),
        }
    }

    /// Free space is below the reserve.
    pub fn is_low(&self) -> bool {
        self.space.free_bytes < self.reserve_bytes
    }

    /// For administrators: what is wrong and what to do (sizes only).
    pub fn message(&self) -> String {
        format!(
            "the audit ledger's disk has {} free of {}, below the reserve of {}; free space \
             on it (or move the data directory to a larger disk) before it fills: with the \
             disk full no audit entry can be written and no patient data is shown",
            human(self.space.free_bytes),
            human(self.space.total_bytes),
            human(self.reserve_bytes)
        )
    }
}

/// Bytes in binary units, one decimal.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    #[test]
    fn the_reserve_is_the_smaller_of_its_size_and_share() {
        let big = DiskSpace {
            free_bytes: 2 * GIB,
            total_bytes: 1000 * GIB,
        };
        let s = SpaceStatus::new(big, GIB, 5);
        assert_eq!(s.reserve_bytes, GIB);
        assert!(!s.is_low());
        let small = DiskSpace {
            free_bytes: 4 << 20,
            total_bytes: 100 << 20,
        };
        let s = SpaceStatus::new(small, GIB, 5);
        assert_eq!(s.reserve_bytes, 5 << 20);
        assert!(s.is_low());
        assert!(
            s.message().contains("4.0 MiB free of 100.0 MiB"),
            "{}",
            s.message()
        );
        assert!(statvfs(Path::new("/")).unwrap().total_bytes > 0);
    }
}
