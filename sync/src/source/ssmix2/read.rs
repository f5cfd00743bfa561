//! Reading the storage: listing the patient, date and data-type folders, choosing the
//! files, and converting each file's message into FHIR resources or a per-file problem.

use super::work::{changed_at, Since};
use super::*;

impl Ssmix2Source {
    pub(super) fn root(&self, st: Storage) -> Option<&Path> {
        match st {
            Storage::Standard => Some(&self.s.root),
            Storage::Extended => self.s.extended_root.as_deref(),
        }
    }

    pub(super) fn label(st: Storage, rel: &Path) -> String {
        let p = rel.to_string_lossy();
        match st {
            Storage::Standard => p.into_owned(),
            Storage::Extended => format!("extended:{p}"),
        }
    }

    pub(super) fn list(&self, dir: &Path) -> std::io::Result<Vec<(String, bool)>> {
        bump(&self.counters.dirs_listed);
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            let is_dir = e.file_type()?.is_dir();
            out.push((e.file_name().to_string_lossy().into_owned(), is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// Patient folders of a storage, `<a>/<b>/<pid>` relative to its root.
    pub(super) fn patient_folders(
        &self,
        st: Storage,
        cancel: &CancellationToken,
        mut f: impl FnMut(PathBuf, String) -> bool,
    ) -> Result<(), SourceError> {
        let Some(root) = self.root(st) else {
            return Ok(());
        };
        let top = self.list(root).map_err(|e| {
            SourceError::io(format!(
                "cannot read the SS-MIX2 {} storage at {}: {e}; check [sync.source] and that the storage is mounted",
                if st == Storage::Standard { "standard" } else { "extended" },
                root.display()
            ), e)
        })?;
        for (a, is_dir) in top {
            if !is_dir || a.starts_with('.') {
                continue;
            }
            let Ok(second) = self.list(&root.join(&a)) else {
                continue;
            };
            for (b, is_dir) in second {
                if !is_dir {
                    continue;
                }
                let Ok(third) = self.list(&root.join(&a).join(&b)) else {
                    continue;
                };
                for (pid, is_dir) in third {
                    if cancel.is_cancelled() {
                        return Err(SourceError::Cancelled);
                    }
                    if is_dir && !f(PathBuf::from(&a).join(&b).join(&pid), pid) {
                        return Err(SourceError::Stopped);
                    }
                }
            }
        }
        Ok(())
    }

    /// The files of one patient folder; folders that cannot be listed are problems. With
    /// `since` (an incremental pull), only the data type folders changed since then are
    /// listed, and their files are marked changed or not.
    pub(super) fn patient_files(
        &self,
        st: Storage,
        rel_pid: &Path,
        pid: &str,
        since: Option<&Since>,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let Some(root) = self.root(st) else {
            return vec![];
        };
        let mut out = Vec::new();
        let dates = match self.list(&root.join(rel_pid)) {
            Ok(d) => d,
            Err(e) => {
                self.folder_problem(st, rel_pid, &e, r);
                return out;
            }
        };
        for (date, is_dir) in dates {
            if !is_dir {
                continue;
            }
            let rel_date = rel_pid.join(&date);
            let types = match self.list(&root.join(&rel_date)) {
                Ok(t) => t,
                Err(e) => {
                    self.folder_problem(st, &rel_date, &e, r);
                    continue;
                }
            };
            for (dtype, is_dir) in types {
                if !is_dir {
                    continue;
                }
                let rel_type = rel_date.join(&dtype);
                if since.is_some_and(|s| !self.folder_changed(&root.join(&rel_type), s)) {
                    continue;
                }
                if !self.known_type(st, &dtype, &rel_type, r) {
                    continue;
                }
                match self.list(&root.join(&rel_type)) {
                    Ok(files) => {
                        out.extend(self.entries(st, &rel_type, pid, &date, &dtype, files, since, r))
                    }
                    Err(e) => self.folder_problem(st, &rel_type, &e, r),
                }
            }
        }
        out
    }

    /// Has a folder changed since the cut-off (by its modification or change time)? A
    /// folder whose time cannot be read counts as changed.
    fn folder_changed(&self, dir: &Path, since: &Since) -> bool {
        bump(&self.counters.dirs_checked);
        std::fs::metadata(dir)
            .map(|m| changed_at(&m) >= since.time)
            .unwrap_or(true)
    }

    pub(super) fn known_type(
        &self,
        st: Storage,
        dtype: &str,
        rel_type: &Path,
        r: &mut PatientResult,
    ) -> bool {
        match layout::kind_of(dtype, st == Storage::Extended) {
            None => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: Self::label(st, rel_type),
                        place: String::new(),
                        problem: "unknown data type folder (not an SS-MIX2 data type); its files were not read".into(),
                        skipped: true,
                    },
                );
                false
            }
            Some(Kind::NotKept) => {
                *r.not_kept
                    .entry(format!(
                        "ss-mix2 {}",
                        if st == Storage::Extended {
                            "extended"
                        } else {
                            dtype
                        }
                    ))
                    .or_default() += 1;
                false
            }
            Some(_) => true,
        }
    }

    pub(super) fn folder_problem(
        &self,
        st: Storage,
        rel: &Path,
        e: &std::io::Error,
        r: &mut PatientResult,
    ) {
        r.skipped += 1;
        push_problem(
            r,
            SourceProblem {
                file: Self::label(st, rel),
                place: String::new(),
                problem: format!("cannot list the folder: {}", e.kind()),
                skipped: true,
            },
        );
    }

    /// Parse the names in a data type folder; names that do not fit are problems.
    /// `since`: mark files changed at or after it (by 発生日時 or change time).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn entries(
        &self,
        st: Storage,
        rel_type: &Path,
        pid: &str,
        date: &str,
        dtype: &str,
        files: Vec<(String, bool)>,
        since: Option<&Since>,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let root = self.root(st).unwrap_or(Path::new(""));
        let extended = st == Storage::Extended;
        let mut out = Vec::new();
        for (raw, is_dir) in files {
            if raw.starts_with('.') || is_dir != extended {
                continue;
            }
            let name = match FileName::parse(&raw, extended) {
                Ok(n) => n,
                Err(why) => {
                    r.skipped += 1;
                    push_problem(
                        r,
                        SourceProblem {
                            file: Self::label(st, &rel_type.join(&raw)),
                            place: String::new(),
                            problem: format!("file name does not parse: {why}"),
                            skipped: true,
                        },
                    );
                    continue;
                }
            };
            if name.key.pid != pid || name.key.date != date || name.key.data_type != dtype {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: Self::label(st, &rel_type.join(&raw)),
                        place: String::new(),
                        problem: "the file name's patient ID, date or data type differs from the folder it is in".into(),
                        skipped: true,
                    },
                );
                continue;
            }
            let changed = match since {
                None => true,
                Some(s) => {
                    name.stamp.as_str() >= s.stamp.as_str() || {
                        bump(&self.counters.files_checked);
                        std::fs::symlink_metadata(root.join(rel_type).join(&raw))
                            .map(|m| changed_at(&m) >= s.time)
                            .unwrap_or(true)
                    }
                }
            };
            out.push(Entry { name, raw, changed });
        }
        out
    }

    /// Convert one file. Problems go to `r`; `None` if the file was skipped.
    pub(super) fn convert(
        &self,
        st: Storage,
        e: &Entry,
        context: bool,
        r: &mut PatientResult,
    ) -> Option<Converted> {
        let root = self.root(st)?;
        let rel = e.name.relative_path(&e.raw);
        let label = Self::label(st, &rel);
        let counter = if context {
            &self.counters.context_files_read
        } else {
            &self.counters.files_read
        };
        bump(counter);
        let bytes = match std::fs::read(root.join(&rel)) {
            Ok(b) => b,
            Err(err) => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: label,
                        place: String::new(),
                        problem: format!("cannot read the file: {}", err.kind()),
                        skipped: true,
                    },
                );
                return None;
            }
        };
        r.bytes += bytes.len() as u64;
        let mut notes = Vec::new();
        let result = self.convert_bytes(&bytes, &e.name, &mut notes);
        for n in notes {
            push_problem(
                r,
                SourceProblem {
                    file: label.clone(),
                    place: n.place.to_string(),
                    problem: n.what,
                    skipped: false,
                },
            );
        }
        if let Err(n) = &result {
            r.skipped += 1;
            push_problem(
                r,
                SourceProblem {
                    file: label,
                    place: n.place.to_string(),
                    problem: n.what.clone(),
                    skipped: true,
                },
            );
        }
        result.ok()
    }

    pub(super) fn convert_bytes(
        &self,
        bytes: &[u8],
        name: &FileName,
        notes: &mut Vec<Note>,
    ) -> Result<Converted, Note> {
        convert_message(bytes, name, &self.s.institution, notes)
    }
}

/// Convert one stored message (its bytes and its parsed file name) into FHIR resources,
/// or say why the file cannot be used. Warnings go to `notes`.
pub fn convert_file(
    bytes: &[u8],
    name: &FileName,
    institution: &str,
    notes: &mut Vec<Note>,
) -> Result<(Vec<Out>, Option<census::StayEvent>), Note> {
    convert_message(bytes, name, institution, notes).map(|c| (c.outs, c.stay))
}

pub(super) fn convert_message(
    bytes: &[u8],
    name: &FileName,
    institution: &str,
    notes: &mut Vec<Note>,
) -> Result<Converted, Note> {
    if bytes.is_empty() {
        return Err(Note::new(Place::none(), "the file is empty"));
    }
    let (text, _) = er7::decode(bytes, notes);
    let msg = Message::parse(&text, notes).map_err(|e| e.0)?;
    let kind = layout::kind_of(&name.key.data_type, name.key.extended)
        .ok_or_else(|| Note::new(Place::none(), "unknown data type"))?;
    let (_, event) = map::check_message_type(&msg, &name.key.data_type)?;
    map::check_patient(&msg, &name.key.pid)?;
    let mut outs = Vec::new();
    let mut stay = None;
    {
        let mut cx = Ctx {
            name,
            institution,
            notes,
            out: &mut outs,
        };
        match kind {
            Kind::Patient => map::patient(&msg, &event, &mut cx)?,
            Kind::Visit => map::visit(&msg, &event, &mut cx)?,
            Kind::Allergies => map::allergies(&msg, &mut cx)?,
            Kind::Problems => map::problems(&msg, &mut cx)?,
            Kind::Orders => map::orders(&msg, &mut cx)?,
            Kind::Administrations => map::administrations(&msg, &mut cx)?,
            Kind::LabResults => map::lab_results(&msg, &mut cx)?,
            Kind::Vitals => map::vitals(&msg, &mut cx)?,
            Kind::Stay => stay = Some(census::read_event(&msg, name, &event, cx.notes)?),
            Kind::NotKept => {}
        }
    }
    Ok(Converted { outs, stay })
}

pub(super) fn push_problem(r: &mut PatientResult, p: SourceProblem) {
    if r.problems.len() < MAX_SOURCE_PROBLEMS {
        r.problems.push(p);
    }
}
