//! The transaction storage: a journal of every message written to the storage, as
//! `<dir>/<year>/TR_<YYYYMMDDHHMMSSFFF>_<n>.DAT` files. Each record starts with a header
//! line `#SSMIX,<version>,<facility>,<patient ID>,<date>,<data type>,<order No>,
//! INS|DEL,<department>,<transaction time>` followed by the message. Only the headers
//! are read here: they name the keys that changed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::layout::Key;

/// One journaled change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: Key,
    pub delete: bool,
    /// Transaction time, 17 digits.
    pub stamp: String,
}

/// What reading the journal found.
#[derive(Debug, Default)]
pub struct Journal {
    pub records: Vec<Record>,
    /// Journal files read.
    pub files: u64,
    pub bytes: u64,
    /// (file relative to the journal folder, what was wrong): data-free.
    pub problems: Vec<(String, String)>,
}

/// Read the records journaled at or after `cutoff` (a 17-digit JST stamp; `since` is the
/// same instant for file modification times). Files are chosen by name (started at or
/// after the cutoff) or modification time (appended since), so a file begun before the
/// cutoff and still being appended is read too.
pub fn read_since(
    dir: &Path,
    extended: bool,
    cutoff: &str,
    since: SystemTime,
) -> std::io::Result<Journal> {
    let mut journal = Journal::default();
    let cutoff_year: i32 = cutoff[..4].parse().unwrap_or(0);
    let mut years: Vec<(i32, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Ok(y) = name.parse::<i32>() {
            if name.len() == 4 && y >= cutoff_year - 1 && e.file_type()?.is_dir() {
                years.push((y, e.path()));
            }
        }
    }
    years.sort();
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (_, ydir) in &years {
        for e in std::fs::read_dir(ydir)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(stamp) = name
                .strip_prefix("TR_")
                .and_then(|r| r.split('_').next())
                .filter(|s| s.len() >= 8 && s.bytes().all(|b| b.is_ascii_digit()))
            else {
                continue;
            };
            let recent_name = format!("{stamp:0<17}").as_str() >= cutoff;
            let recent = recent_name
                || e.metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m >= since);
            if recent {
                files.push((name.clone(), e.path()));
            }
        }
    }
    files.sort();
    for (name, path) in files {
        let bytes = std::fs::read(&path)?;
        journal.files += 1;
        journal.bytes += bytes.len() as u64;
        parse_into(&bytes, extended, cutoff, &name, &mut journal);
    }
    Ok(journal)
}

fn parse_into(bytes: &[u8], extended: bool, cutoff: &str, file: &str, j: &mut Journal) {
    let mut line_no = 0usize;
    for line in bytes.split(|b| *b == b'\n' || *b == b'\r') {
        line_no += 1;
        let Some(rest) = line.strip_prefix(b"#SSMIX,") else {
            continue;
        };
        let text = String::from_utf8_lossy(rest);
        let f: Vec<&str> = text.split(',').map(str::trim).collect();
        // version, facility, ID, date, type, order, INS|DEL, dept, time
        if f.len() < 9 || !(f[6] == "INS" || f[6] == "DEL") {
            j.problems.push((
                file.to_string(),
                format!("line {line_no} is not a valid #SSMIX transaction header; skipped"),
            ));
            continue;
        }
        let stamp = format!("{:0<17}", f[8]);
        if stamp.as_str() < cutoff {
            continue;
        }
        j.records.push(Record {
            key: Key {
                pid: f[2].to_string(),
                date: f[3].to_string(),
                data_type: f[4].to_string(),
                order: f[5].to_string(),
                extended,
            },
            delete: f[6] == "DEL",
            stamp,
        });
    }
}

/// A header line for the journal (the writer side).
pub fn header(facility: &str, key: &Key, delete: bool, dept: &str, stamp: &str) -> String {
    format!(
        "#SSMIX,2.00,{facility},{},{},{},{},{},{dept},{stamp}",
        key.pid,
        key.date,
        key.data_type,
        key.order,
        if delete { "DEL" } else { "INS" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_read_and_filtered_by_time() {
        let key = Key {
            pid: "0000000123".into(),
            date: "-".into(),
            data_type: "ADT-00".into(),
            order: super::super::layout::NO_ORDER.into(),
            extended: false,
        };
        let mut data = Vec::new();
        for (del, stamp) in [(true, "20220101235959567"), (false, "20220102000000001")] {
            data.extend_from_slice(header("9999999999", &key, del, "-", stamp).as_bytes());
            data.extend_from_slice(b"\r\nMSH|^~\\&|x\rPID|1||0000000123\r\n");
        }
        data.extend_from_slice(b"#SSMIX,broken\r\n");
        let mut j = Journal::default();
        parse_into(&data, false, "20220102000000000", "TR_x.DAT", &mut j);
        assert_eq!(j.records.len(), 1);
        assert!(!j.records[0].delete);
        assert_eq!(j.records[0].key, key);
        assert_eq!(j.problems.len(), 1);
    }
}
