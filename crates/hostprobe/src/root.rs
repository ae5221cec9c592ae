//! A directory that stands for `/`: the live system, a container's `/proc/<pid>/root`, or a
//! fixture tree in tests. Every reader in this crate takes a [`Root`] and a target path such as
//! `/proc/meminfo`; nothing else in the crate opens files.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directory every target path is resolved under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The live system (`/`).
    pub fn live() -> Self {
        Self {
            dir: PathBuf::from("/"),
        }
    }

    /// Any directory standing for `/` (a fixture tree, `/proc/<pid>/root`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True for the live root `/`.
    pub fn is_live(&self) -> bool {
        self.dir == Path::new("/")
    }

    /// Where `target_path` (absolute inside the target, e.g. `/proc/meminfo`) lives on this
    /// machine.
    pub fn path(&self, target_path: &str) -> PathBuf {
        self.dir.join(target_path.trim_start_matches('/'))
    }

    /// Read at most `limit` bytes of a file. Longer files are cut and reported as truncated
    /// (the bool); /proc files report size 0, so the bound is applied while reading.
    pub fn read_bounded(&self, target_path: &str, limit: u64) -> Result<(Vec<u8>, bool)> {
        let path = self.path(target_path);
        let file = self
            .open(target_path)
            .map_err(|e| Error::io("opening", &path, e))?;
        // /proc files report size 0: start with room for the usual file so one read() suffices.
        let mut data = Vec::with_capacity(limit.saturating_add(1).min(16 * 1024) as usize);
        file.take(limit.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| Error::io("reading", &path, e))?;
        let truncated = data.len() as u64 > limit;
        if truncated {
            data.truncate(limit as usize);
        }
        Ok((data, truncated))
    }

    /// Read a whole text file of at most `limit` bytes; longer is an error (a /proc or cgroup
    /// file this large is not what the parser expects). Invalid UTF-8 is replaced, not fatal.
    pub fn read_text(&self, target_path: &str, limit: u64) -> Result<String> {
        let (data, truncated) = self.read_bounded(target_path, limit)?;
        if truncated {
            return Err(Error::TooLarge {
                path: self.path(target_path),
                limit_bytes: limit,
            });
        }
        Ok(match String::from_utf8(data) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// Like [`Root::read_text`], but a missing file is `Ok(None)`.
    pub fn read_text_opt(&self, target_path: &str, limit: u64) -> Result<Option<String>> {
        match self.read_text(target_path, limit) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Open a file for streaming. Under a root other than `/`, absolute symlinks inside the tree
    /// are resolved against the root (openat2 `RESOLVE_IN_ROOT`) so a container cannot point a
    /// file it owns at the host's files; on kernels without openat2 the plain path is used.
    pub fn open(&self, target_path: &str) -> std::io::Result<std::fs::File> {
        if self.is_live() {
            return std::fs::File::open(self.path(target_path));
        }
        match open_in_root(&self.dir, target_path) {
            Ok(file) => Ok(file),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOSYS)
                    || e.raw_os_error() == Some(libc::EPERM) =>
            {
                std::fs::File::open(self.path(target_path))
            }
            Err(e) => Err(e),
        }
    }

    /// List a directory's entry names (not sorted).
    pub fn read_dir_names(&self, target_path: &str) -> Result<Vec<String>> {
        let path = self.path(target_path);
        let entries = std::fs::read_dir(&path).map_err(|e| Error::io("listing", &path, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &path, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    /// True when the target path exists (following symlinks).
    pub fn exists(&self, target_path: &str) -> bool {
        self.path(target_path).exists()
    }
}

/// `openat2(dirfd(root), path, O_RDONLY|O_CLOEXEC, RESOLVE_IN_ROOT)`.
fn open_in_root(root: &Path, target_path: &str) -> std::io::Result<std::fs::File> {
    use std::ffi::CString;
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    let root_c = CString::new(root.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "root path contains NUL")
    })?;
    let rel = target_path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let rel_c = CString::new(rel)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: `root_c` is a valid NUL-terminated string; the returned fd is owned below.
    let dirfd = unsafe {
        libc::open(
            root_c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dirfd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dirfd` was just returned by open and is not owned elsewhere.
    let dir = unsafe { OwnedFd::from_raw_fd(dirfd) };
    // SAFETY: open_how is a plain C struct for which all-zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT;
    use std::os::fd::AsRawFd;
    // SAFETY: arguments are valid for the duration of the call; `how` is a properly sized
    // `open_how` whose size is passed alongside.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel_c.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the syscall returned a new file descriptor that nothing else owns.
    Ok(unsafe { std::fs::File::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_under_the_root() {
        let root = Root::new("/tmp/fixture");
        assert_eq!(
            root.path("/proc/meminfo"),
            PathBuf::from("/tmp/fixture/proc/meminfo")
        );
        assert_eq!(
            Root::live().path("/proc/meminfo"),
            PathBuf::from("/proc/meminfo")
        );
    }

    #[test]
    fn absolute_symlinks_stay_inside_a_non_live_root() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/hostname"), "inside\n").expect("write");
        // Points at the host's /etc/hostname when followed naively.
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).expect("symlink");
        let root = Root::new(dir.path());
        let text = root
            .read_text("/link", 1024)
            .expect("read through the link");
        assert_eq!(text, "inside\n");
    }

    #[test]
    fn bounded_reads_report_truncation_and_text_reads_refuse() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("big"), vec![b'x'; 100]).expect("write");
        let root = Root::new(dir.path());
        let (data, truncated) = root.read_bounded("/big", 10).expect("read");
        assert_eq!(data.len(), 10);
        assert!(truncated);
        assert!(matches!(
            root.read_text("/big", 10),
            Err(Error::TooLarge { .. })
        ));
        assert!(
            root.read_text_opt("/missing", 10)
                .expect("missing is fine")
                .is_none()
        );
    }
}
