//! A directory of NDJSON files, for air-gapped transfer on removable media.
//!
//! Every `*.ndjson` file in the directory (not its subdirectories) is read in name order,
//! line by line and streaming; files may hold one resource type each or mix types. Files
//! whose name starts with `deleted` hold Bulk-Data-style deletion records: `Bundle`s whose
//! entries have `request.method = DELETE` and `request.url = <Type>/<id>`. Deletions are
//! delivered before the other files.
//!
//! A directory is a snapshot, not a change feed: an incremental pull delivers the whole
//! content too (unchanged resources are no-ops in the engine), and only `deleted*` files
//! remove anything.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::{Change, PullKind, PullSummary, SinkStopped, Source, SourceError};
use crate::engine::CancellationToken;

/// Lines longer than this are not held in memory: their first bytes are delivered (as
/// invalid JSON the engine rejects and counts) and the rest is skipped.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct NdjsonDirSource {
    dir: PathBuf,
}

impl NdjsonDirSource {
    pub fn new(dir: PathBuf) -> Self {
        NdjsonDirSource { dir }
    }

    fn files(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>), SourceError> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| {
            SourceError::io(
                format!(
                    "cannot read the NDJSON directory {}: {e}; check `dir` in [sync.source] and that the media is mounted",
                    self.dir.display()
                ),
                e,
            )
        })?;
        let mut deleted = vec![];
        let mut data = vec![];
        for entry in rd {
            let entry = entry.map_err(|e| {
                SourceError::io(format!("cannot list {}: {e}", self.dir.display()), e)
            })?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if !name.ends_with(".ndjson") || !path.is_file() {
                continue;
            }
            if name.starts_with("deleted") {
                deleted.push(path);
            } else {
                data.push(path);
            }
        }
        deleted.sort();
        data.sort();
        Ok((deleted, data))
    }
}

/// Read `reader` line by line, calling `f` with each non-blank line (without its line
/// ending). Over-long lines are cut to their first 1 KiB.
pub(crate) fn for_each_line(
    reader: impl Read,
    what: &Path,
    cancel: &CancellationToken,
    mut f: impl FnMut(&[u8]) -> Result<(), SourceError>,
) -> Result<u64, SourceError> {
    let mut r = BufReader::with_capacity(1 << 20, reader);
    let mut buf = Vec::with_capacity(4096);
    let mut bytes = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Err(SourceError::Cancelled);
        }
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', &mut buf)
            .map_err(|e| SourceError::io(format!("reading {} failed: {e}", what.display()), e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        if buf.len() > MAX_LINE_BYTES && buf.last() != Some(&b'\n') {
            // Skip the rest of this line without holding it.
            let mut skipped = Vec::new();
            loop {
                skipped.clear();
                let m = (&mut r)
                    .take(1 << 20)
                    .read_until(b'\n', &mut skipped)
                    .map_err(|e| {
                        SourceError::io(format!("reading {} failed: {e}", what.display()), e)
                    })?;
                bytes += m as u64;
                if m == 0 || skipped.last() == Some(&b'\n') {
                    break;
                }
            }
            buf.truncate(1024);
            f(&buf)?;
            continue;
        }
        let mut line: &[u8] = &buf;
        while let Some((&last, rest)) = line.split_last() {
            if last == b'\n' || last == b'\r' {
                line = rest;
            } else {
                break;
            }
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        f(line)?;
    }
    Ok(bytes)
}

/// The deletions in one Bulk-style deletion record (a Bundle with DELETE entries).
pub(crate) fn deletions_in(line: &[u8]) -> Result<Vec<Change>, String> {
    #[derive(serde::Deserialize)]
    struct Bundle {
        #[serde(rename = "resourceType")]
        resource_type: String,
        #[serde(default)]
        entry: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        request: Option<Request>,
    }
    #[derive(serde::Deserialize)]
    struct Request {
        method: String,
        url: String,
    }
    let b: Bundle = serde_json::from_slice(line).map_err(|e| {
        format!(
            "a deletion record is not a valid Bundle (line/column {}:{})",
            e.line(),
            e.column()
        )
    })?;
    if b.resource_type != "Bundle" {
        return Err("a deletion record is not a Bundle".into());
    }
    let mut out = vec![];
    for e in b.entry {
        if let Some(r) = e.request {
            if r.method.eq_ignore_ascii_case("DELETE") {
                let (resource_type, id) = super::split_reference(&r.url)
                    .ok_or_else(|| "a DELETE entry has no <Type>/<id> url".to_string())?;
                out.push(Change::Delete { resource_type, id });
            }
        }
    }
    Ok(out)
}

impl Source for NdjsonDirSource {
    fn describe(&self) -> String {
        format!("ndjson-dir {}", self.dir.display())
    }

    fn pull(
        &self,
        _kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let (deleted, data) = self.files()?;
        if deleted.is_empty() && data.is_empty() {
            return Err(SourceError::Io {
                detail: format!(
                    "no .ndjson files in {}; is this the right directory?",
                    self.dir.display()
                ),
                source: None,
            });
        }
        let mut summary = PullSummary::default();
        let open = |p: &Path| {
            std::fs::File::open(p)
                .map_err(|e| SourceError::io(format!("cannot open {}: {e}", p.display()), e))
        };
        for path in &deleted {
            let mut bad = 0u64;
            summary.bytes += for_each_line(open(path)?, path, cancel, |line| {
                match deletions_in(line) {
                    Ok(changes) => {
                        for c in changes {
                            summary.deletions += 1;
                            sink(c).map_err(|_| SourceError::Stopped)?;
                        }
                    }
                    Err(_) => bad += 1,
                }
                Ok(())
            })?;
            if bad > 0 {
                return Err(SourceError::Protocol(format!(
                    "{bad} deletion records in {} could not be read; without them deleted resources would stay visible, so the pull stops",
                    path.display()
                )));
            }
        }
        for path in &data {
            summary.bytes += for_each_line(open(path)?, path, cancel, |line| {
                summary.resources += 1;
                sink(Change::Upsert(line.to_vec())).map_err(|_| SourceError::Stopped)
            })?;
        }
        Ok(summary)
    }
}
