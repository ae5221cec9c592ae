//! The container's /proc, /sys/fs/cgroup and /etc files, read in one exec and parsed by
//! `hostprobe` — the same parsers as for local data.
//!
//! With `sh` in the image, one exec runs a script that `cat`s every file between markers carrying
//! a per-call random nonce (so file content cannot forge a boundary). Without `sh`, each file is
//! read by its own `cat` exec (a few hundred round trips, bounded concurrency). Without `cat`
//! either, the error says so and points to `--via ephemeral`. The files are written into a private
//! temporary directory laid out as a root and [`hostprobe::collect`] runs against it.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::exec::{self, ExecTarget};
use crate::{Error, Result};

/// Files every collection reads (globs expanded in the container).
const FILES: &[&str] = &[
    "/proc/meminfo",
    "/proc/stat",
    "/proc/loadavg",
    "/proc/uptime",
    "/proc/vmstat",
    "/proc/version",
    "/proc/pressure/cpu",
    "/proc/pressure/memory",
    "/proc/pressure/io",
    "/proc/sys/fs/file-nr",
    "/proc/sys/kernel/hostname",
    "/proc/sys/kernel/osrelease",
    "/proc/sys/kernel/version",
    "/proc/sys/net/netfilter/nf_conntrack_count",
    "/proc/sys/net/netfilter/nf_conntrack_max",
    "/proc/net/stat/nf_conntrack",
    "/proc/net/dev",
    "/proc/net/tcp",
    "/proc/net/tcp6",
    "/proc/net/udp",
    "/proc/net/udp6",
    "/proc/net/sockstat",
    "/proc/net/sockstat6",
    "/proc/net/snmp",
    "/proc/net/netstat",
    "/proc/1/mountinfo",
    "/etc/passwd",
    "/etc/os-release",
    "/usr/lib/os-release",
    "/etc/hostname",
];

/// Per-process files (for every numeric /proc entry).
const PID_FILES: &[&str] = &["stat", "status", "cmdline", "cgroup"];

/// Bounds on what is fetched.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// Total bytes of the exec's stdout kept.
    pub max_total_bytes: usize,
    /// Most files materialised.
    pub max_files: usize,
    /// Most processes read.
    pub max_processes: usize,
    /// Time budget of the whole fetch.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_total_bytes: 64 << 20,
            max_files: 20_000,
            max_processes: 2_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// What came back from the container.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Path inside the container → content.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Paths that exist but could not be read (path → cat's exit code).
    pub unreadable: BTreeMap<String, i32>,
    /// How the files were read: `sh+cat (1 exec)`, `cat (N execs)`.
    pub method: String,
    /// Problems worth telling (garbage in the stream, limits reached).
    pub warnings: Vec<String>,
}

fn nonce() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// cgroup files read (the ones hostprobe parses, v1 and v2).
const CGROUP_FILES: &str = "memory.* cpu.* cpuacct.* pids.* io.stat io.pressure cgroup.controllers";

/// The one-exec script. With a `grep` that knows `-Z` (GNU, busybox), one `grep -aHsZ '' FILES…`
/// prints every line of every file as `PATH\0LINE` — a single process however many files, and
/// file content cannot forge a boundary since grep prefixes every line itself. Without it, each
/// file is `cat` between `@@TRIAGE:<nonce>:B:<path>` and `@@TRIAGE:<nonce>:E:<path>:<exit code>`
/// lines (the nonce is random per call).
fn script(nonce: &str, max_processes: usize) -> String {
    let fixed = FILES.join(" ");
    let pid_files = PID_FILES
        .iter()
        .map(|f| format!("\"$d/{f}\""))
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        r#"N={nonce}
set -- {fixed}
n=0
for d in /proc/[0-9]*; do
  n=$((n+1)); [ $n -gt {max_processes} ] && break
  set -- "$@" {pid_files}
done
for c in {CGROUP_FILES}; do set -- "$@" /sys/fs/cgroup/$c /sys/fs/cgroup/*/$c; done
if [ -r /proc/1/cgroup ]; then
  while IFS=: read -r id ctl p; do
    [ -n "$p" ] && [ "$p" != / ] || continue
    ctl=${{ctl#name=}}
    for base in "/sys/fs/cgroup$p" "/sys/fs/cgroup/$ctl$p" "/sys/fs/cgroup/${{ctl%%,*}}$p"; do
      [ -d "$base" ] || continue
      for c in {CGROUP_FILES}; do set -- "$@" "$base"/$c; done
    done
  done < /proc/1/cgroup
fi
if printf 'x\n' | grep -aHsZ '' - >/dev/null 2>&1; then
  printf '@@TRIAGE:%s:GREP\n' "$N"
  grep -aHsZ '' "$@" 2>/dev/null
  printf '\n@@TRIAGE:%s:DONE\n' "$N"
  exit 0
fi
for f in "$@"; do
  [ -f "$f" ] && [ -r "$f" ] || continue
  printf '\n@@TRIAGE:%s:B:%s\n' "$N" "$f"; cat "$f" 2>/dev/null; printf '\n@@TRIAGE:%s:E:%s:%s\n' "$N" "$f" "$?"
done
printf '\n@@TRIAGE:%s:DONE\n' "$N"
"#
    )
}

/// Split grep's `PATH\0LINE` records into files (lines joined with `\n`; `cmdline` files keep
/// their NUL separators and lose the newline grep adds).
fn parse_grep(out: &[u8], nonce: &str, fetched: &mut Fetched, max_files: usize) {
    let done = format!("@@TRIAGE:{nonce}:DONE");
    let mut saw_done = false;
    let mut garbage = 0usize;
    for line in out.split(|&b| b == b'\n') {
        let Some(nul) = line.iter().position(|&b| b == 0) else {
            if line == done.as_bytes() {
                saw_done = true;
            } else if !line.is_empty() && !line.starts_with(b"@@TRIAGE:") {
                garbage += 1;
            }
            continue;
        };
        let path = String::from_utf8_lossy(&line[..nul]).into_owned();
        if !path.starts_with('/') {
            garbage += 1;
            continue;
        }
        if !fetched.files.contains_key(&path) && fetched.files.len() >= max_files {
            continue;
        }
        let content = fetched.files.entry(path).or_default();
        content.extend_from_slice(&line[nul + 1..]);
        content.push(b'\n');
    }
    for (path, content) in fetched.files.iter_mut() {
        if path.ends_with("/cmdline") {
            content.pop();
        }
    }
    if garbage > 0 {
        fetched.warnings.push(format!(
            "{garbage} lines that were not file content were ignored"
        ));
    }
    if !saw_done {
        fetched.warnings.push("the file listing did not finish (output cut or over the size cap): the snapshot is partial".into());
    }
}

/// Split the script's output into files. Content that does not follow the framing is skipped
/// and reported (a container printing garbage where /proc content was expected).
fn parse_framed(out: &[u8], nonce: &str, fetched: &mut Fetched, max_files: usize) {
    let begin = format!("\n@@TRIAGE:{nonce}:B:");
    let end_prefix = format!("\n@@TRIAGE:{nonce}:E:");
    let done = format!("\n@@TRIAGE:{nonce}:DONE");
    let mut rest = out;
    let mut saw_done = false;
    while let Some(start) = find(rest, begin.as_bytes()) {
        if start > 0 && !rest[..start].iter().all(|b| b.is_ascii_whitespace()) {
            fetched.warnings.push(format!(
                "{} unexpected bytes between files were ignored",
                start
            ));
        }
        let after = &rest[start + begin.len()..];
        let Some(nl) = after.iter().position(|&b| b == b'\n') else {
            break;
        };
        let path = String::from_utf8_lossy(&after[..nl]).into_owned();
        let body = &after[nl + 1..];
        let marker = format!("{end_prefix}{path}:");
        let Some(end) = find(body, marker.as_bytes()) else {
            fetched.warnings.push(format!(
                "{path}: the stream ended inside this file (cut off or over the size cap)"
            ));
            break;
        };
        let tail = &body[end + marker.len()..];
        let code_end = tail.iter().position(|&b| b == b'\n').unwrap_or(tail.len());
        let code: i32 = String::from_utf8_lossy(&tail[..code_end])
            .trim()
            .parse()
            .unwrap_or(-1);
        if code == 0 {
            if fetched.files.len() < max_files {
                fetched.files.insert(path, body[..end].to_vec());
            } else if fetched.files.len() == max_files {
                fetched.warnings.push(format!(
                    "more than {max_files} files: the rest were dropped"
                ));
            }
        } else {
            fetched.unreadable.insert(path, code);
        }
        rest = &tail[code_end..];
        if rest.starts_with(done.as_bytes()) {
            saw_done = true;
            break;
        }
    }
    if !saw_done && find(out, done.as_bytes()).is_none() {
        fetched.warnings.push("the file listing did not finish (output cut or over the size cap): the snapshot is partial".into());
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Read the container's files: one exec with `sh`, else one `cat` per file.
pub async fn fetch(target: &ExecTarget, limits: &FetchLimits) -> Result<Fetched> {
    let n = nonce();
    let script = script(&n, limits.max_processes);
    let attempt = tokio::time::timeout(
        limits.timeout,
        exec::run(target, &["sh", "-c", &script], limits.max_total_bytes),
    )
    .await;
    let output = match attempt {
        Ok(r) => r?,
        Err(_) => {
            return Err(Error::Protocol(format!(
                "reading /proc of pod/{} took longer than {:?}; the kubelet or the container is slow — retry or raise the budget",
                target.pod, limits.timeout
            )));
        }
    };
    let mut fetched = Fetched::default();
    if !output.command_missing() {
        let grep_marker = format!("@@TRIAGE:{n}:GREP\n");
        if output.stdout.starts_with(grep_marker.as_bytes()) {
            fetched.method = "sh + grep (1 exec)".into();
            parse_grep(
                &output.stdout[grep_marker.len()..],
                &n,
                &mut fetched,
                limits.max_files,
            );
        } else {
            fetched.method = "sh + cat (1 exec)".into();
            parse_framed(&output.stdout, &n, &mut fetched, limits.max_files);
        }
        if output.stdout_truncated {
            fetched.warnings.push(format!(
                "output over {} bytes was cut",
                limits.max_total_bytes
            ));
        }
        if fetched.files.is_empty() {
            return Err(Error::Protocol(format!(
                "pod/{} container {}: the file listing script printed nothing usable ({} bytes, exit code {}): \
                 the container's sh does not behave as expected; try --via ephemeral",
                target.pod,
                target.container,
                output.stdout.len(),
                output.exit_code
            )));
        }
        return Ok(fetched);
    }
    fetch_with_cat_only(target, limits, fetched).await
}

/// No `sh`: one `cat` exec per fixed file and per file of the processes listed in
/// /proc/1/task-less views (without a shell there is no glob; the container's pid 1 is read).
async fn fetch_with_cat_only(
    target: &ExecTarget,
    limits: &FetchLimits,
    mut fetched: Fetched,
) -> Result<Fetched> {
    let probe = exec::run(target, &["cat", "/proc/1/stat"], 1 << 20).await?;
    if probe.command_missing() {
        return Err(Error::NotUsable(format!(
            "pod/{} container {} has neither `sh` nor `cat` (a distroless or scratch image): nothing can be read by exec; \
             use --via ephemeral --image IMAGE to run the collectors from an ephemeral container that shares its process namespace",
            target.pod, target.container
        )));
    }
    let mut paths: Vec<String> = FILES.iter().map(|s| s.to_string()).collect();
    paths.extend(PID_FILES.iter().map(|f| format!("/proc/1/{f}")));
    paths.extend(["/proc/self/cgroup".to_string()]);
    fetched.method = format!("cat only ({} execs: the image has no sh)", paths.len() + 1);
    use futures_util::StreamExt;
    let results: Vec<(String, Result<exec::ExecOutput>)> = futures_util::stream::iter(paths)
        .map(|p| async move {
            let r = exec::run(target, &["cat", &p], limits.max_total_bytes.min(8 << 20)).await;
            (p, r)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (path, r) in results {
        match r {
            Ok(o) if o.exit_code == 0 => {
                fetched.files.insert(path, o.stdout);
            }
            Ok(o) => {
                if !String::from_utf8_lossy(&o.stderr).contains("No such file") {
                    fetched.unreadable.insert(path, o.exit_code);
                }
            }
            Err(e) => fetched.warnings.push(format!("{path}: {e}")),
        }
    }
    Ok(fetched)
}

/// True when `path` is absolute and made of normal components only (no `..`, no `.`).
fn safe_relative(path: &str) -> Option<&Path> {
    let rel = Path::new(path).strip_prefix("/").ok()?;
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(rel)
}

/// Write the fetched files under `root` (a fresh private directory) at their container paths.
/// Returns how many were written; unsafe paths are skipped and counted in warnings.
pub fn materialise(fetched: &mut Fetched, root: &Path) -> Result<usize> {
    let mut written = 0;
    let mut skipped = 0;
    for (path, data) in &fetched.files {
        let Some(rel) = safe_relative(path) else {
            skipped += 1;
            continue;
        };
        let dest = root.join(rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        // create_new: a path fetched twice, or through a symlinked parent we made, is refused.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
        {
            Ok(mut f) => {
                use std::io::Write;
                f.write_all(data)
                    .map_err(|e| Error::io("writing", &dest, e))?;
                written += 1;
            }
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        fetched.warnings.push(format!(
            "{skipped} fetched paths were not safe to write and were skipped"
        ));
    }
    Ok(written)
}

/// A collection of the container, parsed by hostprobe from the materialised files.
pub struct ContainerSnapshot {
    pub collection: hostprobe::Collection,
    pub fetched_method: String,
    pub files_read: usize,
    pub unreadable: BTreeMap<String, i32>,
    pub warnings: Vec<String>,
}

/// Where a container's files are laid out for the parsers: `$XDG_RUNTIME_DIR` or `/dev/shm`
/// (memory filesystems, when writable), else the temporary directory.
fn scratch_dir() -> PathBuf {
    static SCRATCH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    SCRATCH.get_or_init(find_scratch_dir).clone()
}

fn find_scratch_dir() -> PathBuf {
    let writable_dir = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_dir() && !m.permissions().readonly())
            && tempfile::Builder::new()
                .prefix(".triage-probe-")
                .tempfile_in(p)
                .is_ok()
    };
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/dev/shm")])
        .find(|p| writable_dir(p))
        .unwrap_or_else(std::env::temp_dir)
}

/// Fetch, materialise into a private temp dir, and run hostprobe's collectors on it.
pub async fn snapshot_container(
    target: &ExecTarget,
    limits: &FetchLimits,
) -> Result<ContainerSnapshot> {
    let mut fetched = fetch(target, limits).await?;
    // File creation is the expensive part (on an ext4 with many recently deleted inodes, most of
    // a 200-pod snapshot went into `ext4_new_inode`): it runs off the async threads, in a
    // memory filesystem when there is one.
    let scratch = scratch_dir();
    let (collection, fetched, files_read) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::Builder::new()
            .prefix("triage-pod-root-")
            .tempdir_in(&scratch)
            .map_err(|e| Error::io("creating a temporary directory in", &scratch, e))?;
        let files_read = materialise(&mut fetched, dir.path())?;
        // hostprobe reads /proc/self/mountinfo for the host target: in the container that is
        // its pid 1's view.
        let mountinfo = dir.path().join("proc/1/mountinfo");
        if mountinfo.exists() {
            let self_dir = dir.path().join("proc/self");
            let _ = std::fs::create_dir_all(&self_dir);
            let _ = std::fs::copy(&mountinfo, self_dir.join("mountinfo"));
        }
        let options = hostprobe::CollectOptions {
            root: hostprobe::Root::new(dir.path().to_path_buf()),
            target: hostprobe::Target::Host,
            cpu_sample: Duration::ZERO,
            capture_raw: true,
            ..Default::default()
        };
        let collection = hostprobe::collect(&options)
            .map_err(|e| Error::Protocol(format!("parsing the container's files: {e}")))?;
        Ok::<_, Error>((collection, fetched, files_read))
    })
    .await
    .map_err(|e| Error::Protocol(format!("the collectors panicked: {e}")))??;
    Ok(ContainerSnapshot {
        collection,
        fetched_method: fetched.method,
        files_read,
        unreadable: fetched.unreadable,
        warnings: fetched.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_splits_files_and_ignores_forgeries_and_garbage() {
        let n = "abc123";
        let mut out = Vec::new();
        out.extend_from_slice(b"garbage before\n");
        out.extend_from_slice(
            format!(
                "\n@@TRIAGE:{n}:B:/proc/meminfo\nMemTotal: 1 kB\n\n@@TRIAGE:{n}:E:/proc/meminfo:0\n"
            )
            .as_bytes(),
        );
        // A file whose content pretends to end with another nonce.
        out.extend_from_slice(
            format!("\n@@TRIAGE:{n}:B:/proc/1/cmdline\nx\n@@TRIAGE:forged:E:/proc/1/cmdline:0\ny\n@@TRIAGE:{n}:E:/proc/1/cmdline:0\n").as_bytes(),
        );
        out.extend_from_slice(
            format!("\n@@TRIAGE:{n}:B:/sys/fs/cgroup/x\n\n@@TRIAGE:{n}:E:/sys/fs/cgroup/x:1\n")
                .as_bytes(),
        );
        out.extend_from_slice(format!("\n@@TRIAGE:{n}:DONE\n").as_bytes());
        let mut f = Fetched::default();
        parse_framed(&out, n, &mut f, 100);
        assert_eq!(f.files["/proc/meminfo"], b"MemTotal: 1 kB\n");
        assert_eq!(
            f.files["/proc/1/cmdline"],
            b"x\n@@TRIAGE:forged:E:/proc/1/cmdline:0\ny"
        );
        assert_eq!(f.unreadable.get("/sys/fs/cgroup/x"), Some(&1));
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    }

    #[test]
    fn grep_records_rebuild_files_and_cannot_be_forged() {
        let n = "n2";
        let mut out = Vec::new();
        out.extend_from_slice(b"/proc/meminfo\0MemTotal: 1 kB\n/proc/meminfo\0MemFree: 0 kB\n");
        // A line of content that pretends to be another file stays in its own file.
        out.extend_from_slice(b"/proc/1/status\0/proc/meminfo\0Forged: 1\n");
        out.extend_from_slice(b"/proc/1/cmdline\0sleep\x001000\0\n");
        out.extend_from_slice(b"garbage without a path\n");
        out.extend_from_slice(format!("\n@@TRIAGE:{n}:DONE\n").as_bytes());
        let mut f = Fetched::default();
        parse_grep(&out, n, &mut f, 100);
        assert_eq!(f.files["/proc/meminfo"], b"MemTotal: 1 kB\nMemFree: 0 kB\n");
        assert_eq!(f.files["/proc/1/status"], b"/proc/meminfo\0Forged: 1\n");
        assert_eq!(f.files["/proc/1/cmdline"], b"sleep\x001000\0");
        assert_eq!(f.warnings.len(), 1, "{:?}", f.warnings);
    }

    #[test]
    fn cut_stream_is_reported() {
        let n = "n1";
        let out = format!("\n@@TRIAGE:{n}:B:/proc/stat\ncpu 1 2 3");
        let mut f = Fetched::default();
        parse_framed(out.as_bytes(), n, &mut f, 100);
        assert!(f.files.is_empty());
        assert!(
            f.warnings.iter().any(|w| w.contains("ended inside")),
            "{:?}",
            f.warnings
        );
    }

    #[test]
    fn unsafe_paths_are_not_materialised() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = Fetched::default();
        f.files.insert("/proc/../../etc/evil".into(), b"x".to_vec());
        f.files.insert("relative".into(), b"x".to_vec());
        f.files
            .insert("/proc/meminfo".into(), b"MemTotal: 1 kB\n".to_vec());
        assert_eq!(materialise(&mut f, dir.path()).unwrap(), 1);
        assert!(dir.path().join("proc/meminfo").exists());
        assert!(!dir.path().parent().unwrap().join("etc/evil").exists());
    }
}
