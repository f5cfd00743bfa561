//! Shared by the sync benches: an NDJSON file as a sync source, and process CPU time.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use akari_sync::engine::{CancellationToken, PullSummary, SinkStopped, Source, SourceError};
use akari_sync::source::{Change, PullKind};

/// Streams one NDJSON file line by line (what a directory source does per file): by path,
/// or one already opened (pulled once; its name may be gone, so its disk space is freed
/// when the pull has read it, before the sync writes the generation).
pub enum NdjsonFile {
    Path(PathBuf),
    Opened(std::sync::Mutex<Option<std::fs::File>>),
}

impl Source for NdjsonFile {
    fn describe(&self) -> String {
        "bench-ndjson".into()
    }

    fn pull(
        &self,
        _: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let f = match self {
            NdjsonFile::Path(p) => {
                std::fs::File::open(p).map_err(|e| SourceError::io(e.to_string(), e))?
            }
            NdjsonFile::Opened(f) => f.lock().unwrap().take().expect("pulled once"),
        };
        read_lines(f, cancel, sink)
    }
}

fn read_lines(
    f: std::fs::File,
    cancel: &CancellationToken,
    sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
) -> Result<PullSummary, SourceError> {
    {
        let mut r = BufReader::with_capacity(8 << 20, f);
        let mut s = PullSummary::default();
        let mut line = Vec::with_capacity(4096);
        loop {
            line.clear();
            let n = r
                .read_until(b'\n', &mut line)
                .map_err(|e| SourceError::io(e.to_string(), e))?;
            if n == 0 {
                break;
            }
            if cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            s.bytes += n as u64;
            let body = line.strip_suffix(b"\n").unwrap_or(&line);
            if body.is_empty() {
                continue;
            }
            s.resources += 1;
            sink(Change::Upsert(body.to_vec())).map_err(|_| SourceError::Stopped)?;
        }
        Ok(s)
    }
}

/// CPU seconds (user + system) this process has used so far.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the comm field.
    (ticks(11) + ticks(12)) / 100.0
}
