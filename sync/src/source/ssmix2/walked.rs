//! What the last walk of a storage found in each patient folder: its date folders and
//! their data type folders. An incremental pull by folder times then checks the time of
//! each folder instead of listing it again: a folder's modification time changes when an
//! entry is added to it, removed or renamed, so a patient folder unchanged since the
//! cut-off still holds the date folders listed before, and an unchanged date folder the
//! same data type folders. The data type folders are checked as before (their files are
//! what changes).
//!
//! The index lives in memory for the life of the source (a node restarted walks in full
//! once), about a hundred bytes per patient: one line per date folder in one string.

use std::collections::HashMap;
use std::sync::Mutex;

use super::Storage;

/// Date folders and their data type folders, as listed.
pub(super) type Tree = Vec<(String, Vec<String>)>;

#[derive(Debug, Default)]
pub(super) struct Walked {
    inner: Mutex<Maps>,
}

#[derive(Debug, Default)]
struct Maps {
    /// From the last walk.
    last: HashMap<(Storage, String), Box<str>>,
    /// From the walk in progress.
    next: HashMap<(Storage, String), Box<str>>,
}

impl Walked {
    /// Take what the last walk found for a patient.
    pub(super) fn take(&self, st: Storage, pid: &str) -> Option<Box<str>> {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.last.remove(&(st, pid.to_string()))
    }

    /// Keep what this walk found for a patient (a tree listed in full, without errors).
    pub(super) fn put(&self, st: Storage, pid: &str, tree: &Tree) {
        let Some(text) = encode(tree) else { return };
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        m.next.insert((st, pid.to_string()), text);
    }

    /// End a walk: `complete` when every patient folder was visited (patients no longer
    /// in the storage are forgotten); otherwise what was not visited is kept.
    pub(super) fn finish(&self, complete: bool) {
        let mut m = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let next = std::mem::take(&mut m.next);
        if complete {
            m.last = next;
        } else {
            m.last.extend(next);
        }
    }
}

/// `date\ttype\ttype\n…`; `None` if a name holds a tab or a line end.
fn encode(tree: &Tree) -> Option<Box<str>> {
    let mut s = String::new();
    for (date, types) in tree {
        for (i, name) in std::iter::once(date).chain(types).enumerate() {
            if name.contains(['\t', '\n']) {
                return None;
            }
            if i > 0 {
                s.push('\t');
            }
            s.push_str(name);
        }
        s.push('\n');
    }
    Some(s.into_boxed_str())
}

/// The tree of an encoded entry.
pub(super) fn decode(text: &str) -> Tree {
    text.lines()
        .map(|l| {
            let mut parts = l.split('\t');
            let date = parts.next().unwrap_or_default().to_string();
            (date, parts.map(str::to_string).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_round_trip_and_walks_replace_or_keep() {
        let tree: Tree = vec![
            ("-".into(), vec!["ADT-00".into(), "PPR-01".into()]),
            ("20240102".into(), vec![]),
            ("20240103".into(), vec!["OML-11".into()]),
        ];
        assert_eq!(decode(&encode(&tree).unwrap()), tree);
        assert_eq!(encode(&vec![("a\tb".into(), vec![])]), None);

        let w = Walked::default();
        w.put(Storage::Standard, "1", &tree);
        w.put(Storage::Standard, "2", &tree);
        w.finish(true);
        assert!(w.take(Storage::Extended, "1").is_none());
        assert!(w.take(Storage::Standard, "1").is_some());
        // An interrupted walk keeps what it did not visit.
        w.finish(false);
        assert!(w.take(Storage::Standard, "2").is_some());
        // A complete walk forgets patients no longer there.
        w.put(Storage::Standard, "3", &tree);
        w.finish(true);
        assert!(w.take(Storage::Standard, "3").is_some());
        assert!(w.take(Storage::Standard, "1").is_none());
    }
}
