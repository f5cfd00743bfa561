//! [`MemorySource`]: a source that replays changes already in memory.

use super::*;

/// A source that replays a fixed list of changes (tests, benchmarks, and air-gapped
/// transfer already read into memory).
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    pub changes: Arc<Mutex<Vec<Change>>>,
    pub high_water: Option<DateTime<Utc>>,
}

impl MemorySource {
    pub fn new(changes: Vec<Change>) -> Self {
        MemorySource {
            changes: Arc::new(Mutex::new(changes)),
            high_water: None,
        }
    }

    /// Every `*.json` file of `dir` (one resource or Bundle each), in name order: JSON
    /// files carried across an air gap, and conformance sets.
    pub fn from_json_files(dir: &std::path::Path) -> std::io::Result<MemorySource> {
        let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        names.retain(|p| p.extension().is_some_and(|e| e == "json"));
        names.sort();
        let changes = names
            .iter()
            .map(|p| std::fs::read(p).map(Change::Upsert))
            .collect::<Result<_, _>>()?;
        Ok(MemorySource::new(changes))
    }

    pub fn replace(&self, changes: Vec<Change>) {
        *self.changes.lock().unwrap_or_else(|e| e.into_inner()) = changes;
    }
}

impl Source for MemorySource {
    fn describe(&self) -> String {
        "memory".to_string()
    }

    fn data_time(&self) -> Option<DateTime<Utc>> {
        self.high_water
    }

    fn pull(
        &self,
        _kind: PullKind,
        cancel: &CancellationToken,
        sink: &mut dyn FnMut(Change) -> Result<(), SinkStopped>,
    ) -> Result<PullSummary, SourceError> {
        let changes = self
            .changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut summary = PullSummary {
            high_water: self.high_water,
            ..PullSummary::default()
        };
        for c in changes {
            if cancel.is_cancelled() {
                return Err(SourceError::Cancelled);
            }
            match &c {
                Change::Upsert(b) => {
                    summary.resources += 1;
                    summary.bytes += b.len() as u64;
                }
                Change::Delete { .. } => summary.deletions += 1,
            }
            sink(c).map_err(|_| SourceError::Stopped)?;
        }
        Ok(summary)
    }
}
