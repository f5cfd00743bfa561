//! Reading the storage: listing the patient, date and data-type folders, choosing the
//! files, and converting each file's message into FHIR resources or a per-file problem.

use super::folder::Folder;
use super::work::Since;
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

    /// List a folder (counted).
    pub(super) fn list(&self, dir: &Folder) -> std::io::Result<Vec<(String, bool)>> {
        bump(&self.counters.dirs_listed);
        dir.list()
    }

    /// Patient folders of a storage: `f` gets the folder holding it, its path
    /// `<a>/<b>/<pid>` relative to the root, and the patient ID.
    pub(super) fn patient_folders(
        &self,
        st: Storage,
        cancel: &CancellationToken,
        mut f: impl FnMut(&Arc<Folder>, PathBuf, String) -> bool,
    ) -> Result<(), SourceError> {
        let Some(root) = self.root(st) else {
            return Ok(());
        };
        let unreadable = |e: std::io::Error| {
            SourceError::io(format!(
                "cannot read the SS-MIX2 {} storage at {}: {e}; check [sync.source] and that the storage is mounted",
                if st == Storage::Standard { "standard" } else { "extended" },
                root.display()
            ), e)
        };
        let top = Folder::open_path(root).map_err(unreadable)?;
        for (a, is_dir) in self.list(&top).map_err(unreadable)? {
            if !is_dir || a.starts_with('.') {
                continue;
            }
            let Ok(fa) = top.open(&a) else { continue };
            let Ok(second) = self.list(&fa) else {
                continue;
            };
            for (b, is_dir) in second {
                if !is_dir {
                    continue;
                }
                let Ok(fb) = fa.open(&b) else { continue };
                let Ok(third) = self.list(&fb) else {
                    continue;
                };
                let fb = Arc::new(fb);
                for (pid, is_dir) in third {
                    if cancel.is_cancelled() {
                        return Err(SourceError::Cancelled);
                    }
                    if is_dir && !f(&fb, PathBuf::from(&a).join(&b).join(&pid), pid) {
                        return Err(SourceError::Stopped);
                    }
                }
            }
        }
        Ok(())
    }

    /// Open a patient's folder of a storage by its path; `None` if it does not exist, a
    /// problem if it cannot be opened.
    pub(super) fn patient_folder(
        &self,
        st: Storage,
        pid: &str,
        r: &mut PatientResult,
    ) -> Option<Folder> {
        let root = self.root(st)?;
        let rel = layout::patient_folder(pid);
        match Folder::open_path(&root.join(&rel)) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                self.folder_problem(st, &rel, &e, r);
                None
            }
        }
    }

    /// The files of one patient folder; folders that cannot be listed are problems. With
    /// `since` (an incremental pull), only the data type folders changed since then are
    /// listed, and their files are marked changed or not.
    pub(super) fn patient_files(
        &self,
        st: Storage,
        folder: &Folder,
        rel_pid: &Path,
        pid: &str,
        since: Option<&Since>,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let mut out = Vec::new();
        let keep = self.keeps_walks(st);
        let last = keep.then(|| self.walked.take(st, pid)).flatten();
        let (tree, complete) = self.tree(st, folder, rel_pid, since, last.as_deref(), r);
        if keep && complete {
            self.walked.put(st, pid, &tree);
        }
        for (date, types) in tree {
            for dtype in types {
                let rel_type = || rel_pid.join(&date).join(&dtype);
                let in_patient = Path::new(&date).join(&dtype);
                if since.is_some_and(|s| !self.folder_changed(folder, &in_patient, s)) {
                    continue;
                }
                if !self.known_type(st, &dtype, rel_type, r) {
                    continue;
                }
                match folder
                    .open(&in_patient)
                    .and_then(|t| Ok((self.list(&t)?, t)))
                {
                    Ok((files, type_folder)) => out.extend(self.entries(
                        st,
                        &type_folder,
                        (pid, &date, &dtype),
                        files,
                        since,
                        r,
                    )),
                    Err(e) => self.folder_problem(st, &rel_type(), &e, r),
                }
            }
        }
        out
    }

    /// Are the walks of this storage kept for the next incremental pull (which walks
    /// it, having no transaction storage)?
    fn keeps_walks(&self, st: Storage) -> bool {
        match st {
            Storage::Standard => self.s.transaction_dir.is_none(),
            Storage::Extended => self.s.extended_transaction_dir.is_none(),
        }
    }

    /// A patient folder's date folders and their data type folders, and whether every
    /// folder could be listed. In an incremental pull, `last` (what the last walk found)
    /// stands for the folders unchanged since the cut-off; the others are listed.
    fn tree(
        &self,
        st: Storage,
        folder: &Folder,
        rel_pid: &Path,
        since: Option<&Since>,
        last: Option<&str>,
        r: &mut PatientResult,
    ) -> (walked::Tree, bool) {
        let mut complete = true;
        let mut tree = walked::Tree::new();
        let list_types = |date: &str, complete: &mut bool, r: &mut PatientResult| match folder
            .open(date)
            .and_then(|d| self.list(&d))
        {
            Ok(t) => Some(
                t.into_iter()
                    .filter(|(_, is_dir)| *is_dir)
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>(),
            ),
            Err(e) => {
                *complete = false;
                self.folder_problem(st, &rel_pid.join(date), &e, r);
                None
            }
        };
        let last = match (since, last) {
            (Some(s), Some(last)) if !self.folder_changed(folder, Path::new("."), s) => last,
            _ => {
                let dates = match self.list(folder) {
                    Ok(d) => d,
                    Err(e) => {
                        self.folder_problem(st, rel_pid, &e, r);
                        return (tree, false);
                    }
                };
                for (date, is_dir) in dates {
                    if !is_dir {
                        continue;
                    }
                    if let Some(types) = list_types(&date, &mut complete, r) {
                        tree.push((date, types));
                    }
                }
                return (tree, complete);
            }
        };
        let s = since.expect("checked above");
        for (date, types) in walked::decode(last) {
            if !self.folder_changed(folder, Path::new(&date), s) {
                tree.push((date, types));
            } else if let Some(types) = list_types(&date, &mut complete, r) {
                tree.push((date, types));
            }
        }
        (tree, complete)
    }

    /// Has a folder changed since the cut-off (by its modification or change time)? A
    /// folder whose time cannot be read counts as changed.
    fn folder_changed(&self, parent: &Folder, rel: &Path, since: &Since) -> bool {
        bump(&self.counters.dirs_checked);
        parent
            .changed_at(rel, true)
            .map(|t| t >= since.time)
            .unwrap_or(true)
    }

    pub(super) fn known_type(
        &self,
        st: Storage,
        dtype: &str,
        rel_type: impl FnOnce() -> PathBuf,
        r: &mut PatientResult,
    ) -> bool {
        match layout::kind_of(dtype, st == Storage::Extended) {
            None => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: Self::label(st, &rel_type()),
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

    /// Parse the names in a data type folder (`folder`, of the patient, date and data
    /// type `(pid, date, dtype)`); names that do not fit are problems. `since`: mark
    /// files changed at or after it (by 発生日時 or change time).
    pub(super) fn entries(
        &self,
        st: Storage,
        folder: &Folder,
        (pid, date, dtype): (&str, &str, &str),
        files: Vec<(String, bool)>,
        since: Option<&Since>,
        r: &mut PatientResult,
    ) -> Vec<Entry> {
        let extended = st == Storage::Extended;
        let label = |raw: &str| {
            Self::label(
                st,
                &layout::patient_folder(pid).join(date).join(dtype).join(raw),
            )
        };
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
                            file: label(&raw),
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
                        file: label(&raw),
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
                        folder
                            .changed_at(&raw, false)
                            .map(|t| t >= s.time)
                            .unwrap_or(true)
                    }
                }
            };
            out.push(Entry { name, raw, changed });
        }
        out
    }

    /// Convert one file of the patient whose folder is `folder`. Problems go to `r`;
    /// `None` if the file was skipped.
    pub(super) fn convert(
        &self,
        st: Storage,
        folder: &Folder,
        e: &Entry,
        context: bool,
        r: &mut PatientResult,
    ) -> Option<Converted> {
        let label = || Self::label(st, &e.name.relative_path(&e.raw));
        let counter = if context {
            &self.counters.context_files_read
        } else {
            &self.counters.files_read
        };
        bump(counter);
        let mut notes = Vec::new();
        let result = folder.read_with(e.name.path_in_patient(&e.raw), |bytes| {
            r.bytes += bytes.len() as u64;
            self.convert_bytes(bytes, &e.name, &mut notes)
        });
        let result = match result {
            Ok(res) => res,
            Err(err) => {
                r.skipped += 1;
                push_problem(
                    r,
                    SourceProblem {
                        file: label(),
                        place: String::new(),
                        problem: format!("cannot read the file: {}", err.kind()),
                        skipped: true,
                    },
                );
                return None;
            }
        };
        for n in notes {
            push_problem(
                r,
                SourceProblem {
                    file: label(),
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
                    file: label(),
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
