//! False-positive rate on a clean corpus built from this machine's real files: every process's
//! command line (never its environment), the text logs under /var/log, dpkg's status database,
//! the kernel log (`dmesg`) and the journal (`journalctl`) when they can be read, the plain-text
//! files under /etc (private-key and shadow files excluded) and /usr/share/doc. Secrets are not expected there, so every redacted line is
//! counted as a false positive; the rate must stay at or under 1 % of lines. Flagged lines are
//! printed (rule names only) so a regression can be inspected with `--nocapture`.

use std::fs;
use std::path::{Path, PathBuf};

use redact::Redactor;

/// Keep the test quick: at most this much from any one file and in total.
const PER_FILE_BYTES: usize = 4 << 20;
const TOTAL_BYTES: usize = 48 << 20;

fn read_capped(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut data = Vec::new();
    fs::File::open(path)
        .ok()?
        .take(PER_FILE_BYTES as u64)
        .read_to_end(&mut data)
        .ok()?;
    Some(data)
}

/// True for files that look like text (compressed rotated logs and journals are skipped).
fn is_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(4096)];
    !head.is_empty() && memchr::memchr(0, head).is_none()
}

/// Files never read: they hold real secrets on a real machine.
fn is_secret_store(path: &Path) -> bool {
    let p = path.to_string_lossy();
    p.contains("/private")
        || p.contains("shadow")
        || p.ends_with(".key")
        || p.contains("/ssh/ssh_host_")
}

fn program_output(program: &str, args: &[&str]) -> Option<Vec<u8>> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    (out.status.success() && !out.stdout.is_empty())
        .then(|| out.stdout[..out.stdout.len().min(PER_FILE_BYTES)].to_vec())
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if is_secret_store(&path) {
            continue;
        }
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() && depth < 6 {
            collect_logs(&path, out, depth + 1);
        } else if meta.is_file() {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.ends_with(".gz")
                && !name.ends_with(".xz")
                && !name.ends_with(".zst")
                && !name.ends_with(".journal")
            {
                out.push(path);
            }
        }
    }
}

/// The corpus: (source name, bytes), newline-terminated text.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut sources = Vec::new();
    // Command lines: NUL-separated arguments become one line per process.
    let mut cmdlines = Vec::new();
    if let Ok(procs) = fs::read_dir("/proc") {
        for entry in procs.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
                && let Ok(mut cmd) = fs::read(entry.path().join("cmdline"))
                && !cmd.is_empty()
            {
                for b in &mut cmd {
                    if *b == 0 {
                        *b = b' ';
                    }
                }
                cmdlines.extend_from_slice(cmd.trim_ascii_end());
                cmdlines.push(b'\n');
            }
        }
    }
    sources.push(("/proc/*/cmdline".to_string(), cmdlines));
    if let Some(kmsg) = program_output("dmesg", &[]) {
        sources.push(("dmesg".to_string(), kmsg));
    }
    if let Some(journal) = program_output("journalctl", &["--no-pager", "-q", "-n", "50000"]) {
        sources.push(("journalctl".to_string(), journal));
    }
    let mut files = vec![
        PathBuf::from("/var/lib/dpkg/status"),
        PathBuf::from("/proc/self/mountinfo"),
        PathBuf::from("/proc/cpuinfo"),
        PathBuf::from("/proc/meminfo"),
        PathBuf::from("/etc/services"),
        PathBuf::from("/etc/protocols"),
        PathBuf::from("/etc/passwd"),
        PathBuf::from("/etc/group"),
        PathBuf::from("/etc/login.defs"),
        PathBuf::from("/etc/ssh/sshd_config"),
        PathBuf::from("/etc/ssh/ssh_config"),
        PathBuf::from("/etc/adduser.conf"),
        PathBuf::from("/etc/ca-certificates.conf"),
    ];
    collect_logs(Path::new("/var/log"), &mut files, 0);
    collect_logs(Path::new("/etc"), &mut files, 0);
    collect_logs(Path::new("/usr/share/doc"), &mut files, 0);
    let mut total = sources.iter().map(|(_, d)| d.len()).sum::<usize>();
    for path in files {
        if total >= TOTAL_BYTES {
            break;
        }
        if let Some(data) = read_capped(&path)
            && is_text(&data)
        {
            total += data.len();
            sources.push((path.display().to_string(), data));
        }
    }
    sources
}

fn category(source: &str) -> &'static str {
    match source {
        "/proc/*/cmdline" => "process command lines",
        "dmesg" | "journalctl" => "kernel log and journal",
        "/var/lib/dpkg/status" => "dpkg status",
        s if s.starts_with("/var/log") => "/var/log",
        s if s.starts_with("/proc") => "/proc files",
        s if s.starts_with("/etc") => "/etc",
        _ => "/usr/share/doc (text, html)",
    }
}

#[test]
fn clean_corpus_false_positive_rate_is_at_most_one_percent() {
    let redactor = Redactor::default();
    let mut lines = 0u64;
    let mut flagged = 0u64;
    let mut bytes = 0u64;
    // Category → (lines, flagged), for the figures in bench/redact/RESULTS.md.
    let mut by_category: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for (source, data) in corpus() {
        let category = category(&source);
        for line in data.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            lines += 1;
            bytes += line.len() as u64 + 1;
            let entry = by_category.entry(category).or_default();
            entry.0 += 1;
            let out = redactor.redact_bytes(line);
            if !out.counts.is_empty() {
                flagged += 1;
                entry.1 += 1;
                // Rule names only: if this machine did hold a real secret, it stays out of logs.
                eprintln!(
                    "flagged in {source}: {:?}",
                    out.counts.keys().collect::<Vec<_>>()
                );
            }
        }
    }
    for (category, (n, f)) in &by_category {
        eprintln!(
            "  {category:<28} {f:>6} of {n:>8} lines ({:.4} %)",
            *f as f64 * 100.0 / (*n).max(1) as f64
        );
    }
    let rate = flagged as f64 * 100.0 / lines.max(1) as f64;
    eprintln!(
        "false positives: {flagged} of {lines} lines ({rate:.4} %), {bytes} bytes of clean corpus"
    );
    assert!(
        lines >= 2000,
        "the clean corpus is too small to measure ({lines} lines): is /var/lib/dpkg/status there?"
    );
    assert!(
        rate <= 1.0,
        "false-positive rate {rate:.3} % exceeds 1 % ({flagged} of {lines} lines)"
    );
}
