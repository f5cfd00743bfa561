//! Folder-relative access to the storage. A tree of millions of small files is read with
//! as few system calls as the walk needs: each folder is opened once, relative to the
//! folder it is in (no path walk from the root per file), listed with `getdents`, whose
//! entry types spare a `stat` per entry, and its files are opened relative to it and read
//! into a buffer the reading thread keeps (no size query, no allocation per file).
//!
//! Folders and files are opened with `O_NOATIME` where the file system lets the node
//! (it owns the files or holds `CAP_FOWNER`): reading the storage then does not write
//! an access time into each inode it reads. On a storage mounted read-write (without
//! `noatime`) every first read of a file written since it was last read would otherwise
//! dirty its inode, and the full pull would write back as many inodes as it reads files
//! and folders. Where the flag is refused (`EPERM`), the node opens without it.

use std::cell::RefCell;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// An open folder of the storage.
#[derive(Debug)]
pub(super) struct Folder {
    fd: OwnedFd,
    /// Listed once already (the descriptor's read position is at the end).
    listed: AtomicBool,
}

/// Retry a system call interrupted by a signal.
fn again<T>(mut f: impl FnMut() -> Result<T, Errno>) -> io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

const FOLDER: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::CLOEXEC);
const FILE: OFlags = OFlags::RDONLY.union(OFlags::CLOEXEC);

/// Set once the file system refused `O_NOATIME` (the node neither owns the storage's
/// files nor holds `CAP_FOWNER`): later opens do not ask for it again.
static NOATIME_REFUSED: AtomicBool = AtomicBool::new(false);

/// Open `rel` inside `dir` with `flags`, without updating its access time where allowed.
fn open_at(dir: impl rustix::fd::AsFd, rel: &Path, flags: OFlags) -> io::Result<OwnedFd> {
    let dir = dir.as_fd();
    if !NOATIME_REFUSED.load(Ordering::Relaxed) {
        match again(|| rustix::fs::openat(dir, rel, flags | OFlags::NOATIME, Mode::empty())) {
            Err(e) if e.raw_os_error() == Some(Errno::PERM.raw_os_error()) => {
                NOATIME_REFUSED.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    again(|| rustix::fs::openat(dir, rel, flags, Mode::empty()))
}

thread_local! {
    /// `getdents` buffer of this thread.
    static ENTRIES: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(32 * 1024));
    /// File contents buffer of this thread.
    static CONTENTS: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Files above this size give their buffer back after use.
const KEEP_BUFFER: usize = 1 << 20;

impl Folder {
    fn new(fd: OwnedFd) -> Folder {
        Folder {
            fd,
            listed: AtomicBool::new(false),
        }
    }

    /// Open a folder by its path.
    pub(super) fn open_path(path: &Path) -> io::Result<Folder> {
        open_at(rustix::fs::CWD, path, FOLDER).map(Folder::new)
    }

    /// Open a folder inside this one (`rel` may have several components).
    pub(super) fn open(&self, rel: impl AsRef<Path>) -> io::Result<Folder> {
        let rel = rel.as_ref();
        open_at(&self.fd, rel, FOLDER).map(Folder::new)
    }

    /// The entries of this folder (not `.` and `..`), sorted, each with whether it is a
    /// folder (a symbolic link is not).
    pub(super) fn list(&self) -> io::Result<Vec<(String, bool)>> {
        if self.listed.swap(true, Ordering::Relaxed) {
            again(|| rustix::fs::seek(&self.fd, rustix::fs::SeekFrom::Start(0)))?;
        }
        let mut out = Vec::new();
        ENTRIES.with_borrow_mut(|buf| -> io::Result<()> {
            let mut dir = rustix::fs::RawDir::new(&self.fd, buf.spare_capacity_mut());
            while let Some(entry) = dir.next() {
                let entry = match entry {
                    Err(Errno::INTR) => continue,
                    e => e?,
                };
                let name = entry.file_name().to_bytes();
                if name == b"." || name == b".." {
                    continue;
                }
                let is_dir = match entry.file_type() {
                    FileType::Directory => true,
                    // File systems that do not give entry types (some network ones).
                    FileType::Unknown => {
                        let st = again(|| {
                            rustix::fs::statat(
                                &self.fd,
                                entry.file_name(),
                                AtFlags::SYMLINK_NOFOLLOW,
                            )
                        })?;
                        FileType::from_raw_mode(st.st_mode) == FileType::Directory
                    }
                    _ => false,
                };
                out.push((String::from_utf8_lossy(name).into_owned(), is_dir));
            }
            Ok(())
        })?;
        out.sort_unstable();
        Ok(out)
    }

    /// The later of the modification and change times of `rel` inside this folder;
    /// `follow`: of what a symbolic link points to.
    pub(super) fn changed_at(&self, rel: impl AsRef<Path>, follow: bool) -> io::Result<SystemTime> {
        let flags = if follow {
            AtFlags::empty()
        } else {
            AtFlags::SYMLINK_NOFOLLOW
        };
        let rel = rel.as_ref();
        let st = again(|| rustix::fs::statat(&self.fd, rel, flags))?;
        let at = |secs: i64, nanos: u64| {
            SystemTime::UNIX_EPOCH
                + Duration::new(secs.max(0) as u64, nanos.min(999_999_999) as u32)
        };
        #[allow(clippy::unnecessary_cast)]
        let (m, c) = (
            at(st.st_mtime as i64, st.st_mtime_nsec as u64),
            at(st.st_ctime as i64, st.st_ctime_nsec as u64),
        );
        Ok(m.max(c))
    }

    /// Read the file `rel` inside this folder with this thread's buffer and give its
    /// contents to `f`.
    pub(super) fn read_with<T>(
        &self,
        rel: impl AsRef<Path>,
        f: impl FnOnce(&[u8]) -> T,
    ) -> io::Result<T> {
        let rel = rel.as_ref();
        let fd = open_at(&self.fd, rel, FILE)?;
        CONTENTS.with_borrow_mut(|buf| {
            let mut n = 0;
            loop {
                if n == buf.len() {
                    let more = (buf.len() * 2).max(64 * 1024);
                    buf.resize(more, 0);
                }
                // Read until `read` says the end (0): a short read is not taken for the
                // end, since on a network mount (NFS, SMB) an interrupted read may return
                // part of a message and the rest of it would be lost without a word.
                match again(|| rustix::io::read(&fd, &mut buf[n..]))? {
                    0 => break,
                    k => n += k,
                }
            }
            drop(fd);
            let out = f(&buf[..n]);
            if buf.len() > KEEP_BUFFER {
                *buf = Vec::new();
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_opens_and_reads_relative_to_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), b"hello").unwrap();
        let big = vec![7u8; 200_000];
        std::fs::write(dir.path().join("a/big"), &big).unwrap();
        // Exactly the first buffer size: the read after the full buffer sees the end.
        std::fs::write(dir.path().join("a/even"), vec![1u8; 64 * 1024]).unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a/link")).unwrap();
        let root = Folder::open_path(dir.path()).unwrap();
        let a = root.open("a").unwrap();
        let want = vec![
            ("b".to_string(), true),
            ("big".to_string(), false),
            ("even".to_string(), false),
            ("link".to_string(), false),
        ];
        assert_eq!(a.list().unwrap(), want);
        assert_eq!(a.list().unwrap(), want, "a second listing starts over");
        assert_eq!(a.read_with("b/f", |b| b.to_vec()).unwrap(), b"hello");
        assert_eq!(a.read_with("big", |b| b.to_vec()).unwrap(), big);
        assert_eq!(a.read_with("even", |b| b.len()).unwrap(), 64 * 1024);
        assert_eq!(a.read_with("b/f", |b| b.to_vec()).unwrap(), b"hello");
        assert_eq!(
            root.open("a/b")
                .unwrap()
                .read_with("f", |b| b.len())
                .unwrap(),
            5
        );
        assert!(a.changed_at("b", true).unwrap() > SystemTime::UNIX_EPOCH);
        assert_eq!(
            a.open("missing").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            a.read_with("missing", |_| ()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    /// Reading leaves the access times of the storage's files and folders as they were
    /// (the test is run as the files' owner, who may ask for `O_NOATIME`). Without the
    /// flag, a `relatime` mount updates an access time older than the modification time.
    #[test]
    fn reading_does_not_touch_access_times() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/f"), b"message").unwrap();
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(946_684_800);
        for p in ["d", "d/f"] {
            std::fs::File::open(dir.path().join(p))
                .unwrap()
                .set_times(std::fs::FileTimes::new().set_accessed(old))
                .unwrap();
        }
        let accessed = |p: &str| {
            std::fs::metadata(dir.path().join(p))
                .unwrap()
                .accessed()
                .unwrap()
        };
        assert_eq!(accessed("d"), old);
        let d = Folder::open_path(dir.path()).unwrap().open("d").unwrap();
        assert_eq!(d.list().unwrap(), vec![("f".to_string(), false)]);
        assert_eq!(d.read_with("f", |b| b.to_vec()).unwrap(), b"message");
        assert_eq!(accessed("d/f"), old, "the file's access time was updated");
        assert_eq!(accessed("d"), old, "the folder's access time was updated");
    }
}
