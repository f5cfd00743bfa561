//! The SS-MIX2 storage layout: folder tree, file names, keys and condition flags.
//!
//! ```text
//! <root>/<ID[0:3]>/<ID[3:6]>/<patient ID>/<診療日 YYYYMMDD or "-">/<data type>/<file>
//! file: <patient ID>_<診療日>_<data type>_<order No>_<発生日時 YYYYMMDDHHMMSSFFF>_<dept>_<flag>
//! ```
//! The extended storage has the same tree down to the data type folder, which holds one
//! content folder per message (`<ID>_<診療日>_<type>_<key>_<発生日時>[_<dept>]_<flag>`)
//! with the message in `main_document.hl7`.
//!
//! Condition flag: `1` current, `2` superseded, `0` deleted. For each key (patient ID,
//! 診療日, data type, order No) the newest `_1` wins; a key without a `_1` is deleted.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};

/// The order number of data that is not an order (ADT, allergies, problems).
pub const NO_ORDER: &str = "999999999999999";
/// The file holding the message inside an extended-storage content folder.
pub const MAIN_DOCUMENT: &str = "main_document.hl7";
/// The extended-storage data type of vital signs (ORU^R30).
pub const VITALS_TYPE: &str = "L-OBSERVATIONS^OBSERVATIONS^99ZL01";

/// Condition flag of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    Deleted,
    Current,
    Superseded,
}

impl Flag {
    pub fn parse(s: &str) -> Option<Flag> {
        match s {
            "0" => Some(Flag::Deleted),
            "1" => Some(Flag::Current),
            "2" => Some(Flag::Superseded),
            _ => None,
        }
    }
    pub fn digit(self) -> char {
        match self {
            Flag::Deleted => '0',
            Flag::Current => '1',
            Flag::Superseded => '2',
        }
    }
}

/// What a data type contributes to the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// ADT-00: the patient (and AL1 allergies, OBX height/weight).
    Patient,
    /// ADT-12: an outpatient visit.
    Visit,
    /// ADT-22 / ADT-42 / ADT-52: admission, transfer, discharge (the census).
    Stay,
    /// ADT-61: allergies (IAM).
    Allergies,
    /// PPR-01: problems.
    Problems,
    /// OMP-01 / OMP-02: prescription and injection orders.
    Orders,
    /// OMP-11 / OMP-12: their administrations.
    Administrations,
    /// OML-11: lab results.
    LabResults,
    /// Extended storage ORU^R30: vital signs.
    Vitals,
    /// A data type of the standard that the record does not use (diet, imaging, lab
    /// orders, planned events, leave): parsed, counted, not kept.
    NotKept,
}

/// Classify a data type folder name; `None`: not an SS-MIX2 data type.
pub fn kind_of(data_type: &str, extended: bool) -> Option<Kind> {
    if extended {
        return Some(if data_type == VITALS_TYPE {
            Kind::Vitals
        } else {
            Kind::NotKept
        });
    }
    Some(match data_type {
        "ADT-00" => Kind::Patient,
        "ADT-12" => Kind::Visit,
        "ADT-22" | "ADT-42" | "ADT-52" => Kind::Stay,
        "ADT-61" => Kind::Allergies,
        "PPR-01" => Kind::Problems,
        "OMP-01" | "OMP-02" => Kind::Orders,
        "OMP-11" | "OMP-12" => Kind::Administrations,
        "OML-11" => Kind::LabResults,
        "ADT-01" | "ADT-21" | "ADT-31" | "ADT-32" | "ADT-41" | "ADT-51" | "OMD" | "OML-01" => {
            Kind::NotKept
        }
        t if t.starts_with("OMG-")
            && t.len() == 6
            && t[4..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            Kind::NotKept
        }
        _ => return None,
    })
}

/// The identity of a stored message: what a newer version replaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pid: String,
    /// `YYYYMMDD`, or `-` for data without a visit date.
    pub date: String,
    pub data_type: String,
    pub order: String,
    /// Extended storage (a different tree with its own keys).
    pub extended: bool,
}

impl Key {
    /// The folder holding every version of this key, relative to its root.
    pub fn folder(&self) -> PathBuf {
        patient_folder(&self.pid)
            .join(&self.date)
            .join(&self.data_type)
    }
}

/// `<ID[0:3]>/<ID[3:6]>/<ID>` relative to a root (IDs shorter than six characters give
/// shorter folder names; the standard does not pad them).
pub fn patient_folder(pid: &str) -> PathBuf {
    let a: String = pid.chars().take(3).collect();
    let b: String = pid.chars().skip(3).take(3).collect();
    PathBuf::from(a).join(b).join(pid)
}

/// A parsed file (or content folder) name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub key: Key,
    /// 発生日時 as written (17 digits: YYYYMMDDHHMMSSFFF); sorts as time.
    pub stamp: String,
    pub dept: String,
    pub flag: Flag,
}

impl FileName {
    /// Parse a standard-storage file name, or an extended-storage content folder name
    /// (whose department part is optional).
    pub fn parse(name: &str, extended: bool) -> Result<FileName, String> {
        let parts: Vec<&str> = name.split('_').collect();
        let (pid, date, dtype, order, stamp, dept, flag) = match (parts.len(), extended) {
            (7, _) => (
                parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6],
            ),
            (6, true) => (parts[0], parts[1], parts[2], parts[3], parts[4], "-", parts[5]),
            (n, _) => {
                return Err(format!(
                    "the file name has {n} parts separated by `_`, not the 7 of <patient ID>_<date>_<data type>_<order No>_<time>_<department>_<flag>"
                ))
            }
        };
        if pid.is_empty() || !pid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err("the patient ID part of the file name is empty or not alphanumeric".into());
        }
        if date != "-" && parse_date(date).is_none() {
            return Err(
                "the date part of the file name is neither `-` nor a valid YYYYMMDD date".into(),
            );
        }
        if dtype.is_empty() {
            return Err("the data type part of the file name is empty".into());
        }
        if order.is_empty() || !order.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(
                "the order number part of the file name is empty or not alphanumeric".into(),
            );
        }
        if !(8..=17).contains(&stamp.len())
            || !stamp.bytes().all(|b| b.is_ascii_digit())
            || stamp_time(stamp).is_none()
        {
            return Err(
                "the time part of the file name is not a valid YYYYMMDDHHMMSSFFF time".into(),
            );
        }
        let flag = Flag::parse(flag).ok_or_else(|| {
            "the condition flag at the end of the file name is not 0, 1 or 2".to_string()
        })?;
        Ok(FileName {
            key: Key {
                pid: pid.to_string(),
                date: date.to_string(),
                data_type: dtype.to_string(),
                order: order.to_string(),
                extended,
            },
            stamp: format!("{stamp:0<17}"),
            dept: dept.to_string(),
            flag,
        })
    }

    /// The name as written in the storage.
    pub fn name(&self) -> String {
        let k = &self.key;
        format!(
            "{}_{}_{}_{}_{}_{}_{}",
            k.pid,
            k.date,
            k.data_type,
            k.order,
            self.stamp,
            self.dept,
            self.flag.digit()
        )
    }

    /// Path of the file (standard) or of the message inside the content folder
    /// (extended), relative to its patient's folder.
    pub fn path_in_patient(&self, as_written: &str) -> PathBuf {
        let k = &self.key;
        let mut p = String::with_capacity(
            k.date.len() + k.data_type.len() + as_written.len() + MAIN_DOCUMENT.len() + 3,
        );
        for part in [k.date.as_str(), "/", &k.data_type, "/", as_written] {
            p.push_str(part);
        }
        if k.extended {
            p.push('/');
            p.push_str(MAIN_DOCUMENT);
        }
        PathBuf::from(p)
    }

    /// Path of the file (standard) or of the message inside the content folder
    /// (extended), relative to its root.
    pub fn relative_path(&self, as_written: &str) -> PathBuf {
        let p = self.key.folder().join(as_written);
        if self.key.extended {
            p.join(MAIN_DOCUMENT)
        } else {
            p
        }
    }
}

/// `YYYYMMDD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y%m%d").ok()
}

/// The time of a 発生日時 stamp (at least YYYYMMDD; missing parts are zero).
pub fn stamp_time(stamp: &str) -> Option<NaiveDateTime> {
    let padded = format!("{stamp:0<14}");
    let date = parse_date(&padded[..8])?;
    let h: u32 = padded[8..10].parse().ok()?;
    let m: u32 = padded[10..12].parse().ok()?;
    let s: u32 = padded[12..14].parse().ok()?;
    date.and_hms_opt(h, m, s)
}

/// A 17-digit 発生日時 stamp for a JST wall-clock time.
pub fn stamp_of(t: NaiveDateTime) -> String {
    t.format("%Y%m%d%H%M%S%3f").to_string()
}

/// Is `path` (relative) inside the storage tree shape? Used to name files in reports.
pub fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_round_trip() {
        let n = FileName::parse(
            "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1",
            false,
        )
        .unwrap();
        assert_eq!(n.key.pid, "9999013");
        assert_eq!(n.key.date, "20110701");
        assert_eq!(n.key.data_type, "OMP-01");
        assert_eq!(n.key.order, "000000011000185");
        assert_eq!(n.stamp, "20110701224603984");
        assert_eq!(n.dept, "01");
        assert_eq!(n.flag, Flag::Current);
        assert_eq!(
            n.name(),
            "9999013_20110701_OMP-01_000000011000185_20110701224603984_01_1"
        );
        let e = FileName::parse(
            "0123456789_20160101_L-OBSERVATIONS^OBSERVATIONS^99ZL01_000000020160101_201601011500321_1",
            true,
        )
        .unwrap();
        assert_eq!(e.key.data_type, VITALS_TYPE);
        assert_eq!(e.dept, "-");
        assert_eq!(
            e.relative_path(&e.name())
                .parent()
                .unwrap()
                .parent()
                .unwrap(),
            Path::new("012/345/0123456789/20160101/L-OBSERVATIONS^OBSERVATIONS^99ZL01")
        );
        assert_eq!(
            patient_folder("9999013"),
            PathBuf::from("999").join("901").join("9999013")
        );
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        for (name, word) in [
            ("readme.txt", "parts"),
            ("1_20110701_OMP-01_1_20110701224603984_01_7", "flag"),
            ("1_20111301_OMP-01_1_20110701224603984_01_1", "date"),
            ("1_20110701_OMP-01_1_2011070122460x984_01_1", "time"),
            ("1_20110701__1_20110701224603984_01_1", "data type"),
        ] {
            let e = FileName::parse(name, false).unwrap_err();
            assert!(e.contains(word), "{name}: {e}");
        }
        assert_eq!(kind_of("OMP-11", false), Some(Kind::Administrations));
        assert_eq!(kind_of("OMG-13", false), Some(Kind::NotKept));
        assert_eq!(kind_of("XYZ-99", false), None);
    }
}
