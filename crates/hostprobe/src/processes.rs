//! The `ps aux` / `top` view from `/proc/<pid>/{stat,status,cmdline,cgroup}`.
//!
//! Processes come and go while they are read: a pid whose files vanish (ENOENT, ESRCH) is
//! skipped and counted in `vanished`, never an error for the collection. %CPU is the change of
//! utime + stime over a short sample (like `top`); with no sample it is CPU time over lifetime
//! (like `ps`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgroups::{ProcCgroupLine, parse_proc_cgroup};
use crate::model::{CpuPercentBasis, Process, ProcessSummary};
use crate::{Error, Result, Root, Sources};

/// Longest command line kept per process (JVM class paths can be huge); longer ones end in `…`.
pub const MAX_COMMAND_BYTES: u64 = 16 * 1024;

/// The fields of `/proc/<pid>/stat` the snapshot uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PidStat {
    pub pid: u32,
    pub comm: String,
    pub state: char,
    pub ppid: u32,
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub nice: i32,
    pub num_threads: u32,
    pub starttime_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

/// Parse `/proc/<pid>/stat`. The command sits in parentheses and may itself contain spaces and
/// parentheses, so the fields are counted from the last `)`.
pub fn parse_pid_stat(text: &str, path: &Path) -> Result<PidStat> {
    let open = text
        .find('(')
        .ok_or_else(|| Error::parse(path, 1, "no `(` before the command name"))?;
    let close = text
        .rfind(')')
        .ok_or_else(|| Error::parse(path, 1, "no `)` after the command name"))?;
    if close < open {
        return Err(Error::parse(path, 1, "`)` before `(`"));
    }
    let pid = text[..open]
        .trim()
        .parse()
        .map_err(|_| Error::parse(path, 1, "pid is not a number"))?;
    let comm = text[open + 1..close].to_string();
    let rest: Vec<&str> = text[close + 1..].split_whitespace().collect();
    if rest.len() < 22 {
        return Err(Error::parse(
            path,
            1,
            format!("expected at least 24 fields, found {}", rest.len() + 2),
        ));
    }
    let num = |i: usize, name: &str| -> Result<u64> {
        rest[i]
            .parse::<u64>()
            .map_err(|_| Error::parse(path, 1, format!("{name} is not a number: {:?}", rest[i])))
    };
    let state = rest[0].chars().next().unwrap_or('?');
    Ok(PidStat {
        pid,
        comm,
        state,
        ppid: u32::try_from(num(1, "ppid")?)
            .map_err(|_| Error::parse(path, 1, "ppid out of range"))?,
        utime_ticks: num(11, "utime")?,
        stime_ticks: num(12, "stime")?,
        nice: rest[16]
            .parse()
            .map_err(|_| Error::parse(path, 1, "nice is not a number"))?,
        num_threads: u32::try_from(num(17, "num_threads")?).unwrap_or(u32::MAX),
        starttime_ticks: num(19, "starttime")?,
        vsize_bytes: num(20, "vsize")?,
        // rss can be reported as a negative number transiently on some kernels; treat as 0.
        rss_pages: rest[21]
            .parse::<i64>()
            .map(|v| v.max(0) as u64)
            .map_err(|_| Error::parse(path, 1, "rss is not a number"))?,
    })
}

/// The fields of `/proc/<pid>/status` the snapshot uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PidStatus {
    /// Effective uid (the one `ps` shows as USER).
    pub euid: Option<u32>,
    /// `NStgid`: the pid in each nested pid namespace, outermost first.
    pub ns_tgid: Vec<u32>,
    /// `VmRSS` in bytes: the exact sum of the RSS counters (the `rss` of `stat` is the per-CPU
    /// approximation and can be off by tens of pages); absent for kernel threads.
    pub vm_rss_bytes: Option<u64>,
}

/// Parse `/proc/<pid>/status`; unknown or garbled lines are ignored.
pub fn parse_pid_status(text: &str) -> PidStatus {
    let mut out = PidStatus::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            out.euid = rest.split_whitespace().nth(1).and_then(|v| v.parse().ok());
        } else if let Some(rest) = line.strip_prefix("VmRSS:") {
            out.vm_rss_bytes = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .map(|kb| kb.saturating_mul(1024));
        } else if let Some(rest) = line.strip_prefix("NStgid:") {
            out.ns_tgid = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
        }
    }
    out
}

/// Parse `/etc/passwd` into uid → name (first entry wins, as getpwuid does).
pub fn parse_passwd(text: &str) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in text.lines() {
        let mut fields = line.split(':');
        let (Some(name), Some(_), Some(uid)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if name.is_empty() || name.starts_with('#') {
            continue;
        }
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_string());
        }
    }
    users
}

/// Turn a NUL-separated cmdline into a display string (`[comm]` when empty, as `ps` does).
pub fn command_line(raw: &[u8], comm: &str, truncated: bool) -> String {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    if trimmed.is_empty() {
        return format!("[{comm}]");
    }
    let mut out: String = String::from_utf8_lossy(trimmed).replace('\0', " ");
    if truncated {
        out.push('…');
    }
    out
}

/// Which processes to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessScope {
    /// Every process.
    All,
    /// This pid and its descendants.
    Tree(u32),
}

/// CPU time of each process at one instant, for %CPU over an interval.
#[derive(Debug, Clone)]
pub struct CpuSample {
    pub taken_at: Instant,
    /// pid → (starttime ticks, utime + stime ticks); the start time tells a reused pid apart.
    pub ticks: HashMap<u32, (u64, u64)>,
}

/// How to read processes.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    pub scope: ProcessScope,
    /// Length of the %CPU sample; zero for lifetime %CPU (unless `previous` is given).
    pub cpu_sample: Duration,
    /// A sample taken earlier (the first sample of `--interval`): %CPU is computed against it
    /// and no extra sample is taken.
    pub previous: Option<CpuSample>,
    /// Where to read `/etc/passwd` from (the target's root).
    pub passwd_root: Root,
}

/// Processes with their summary, plus what other collectors need from the same read.
#[derive(Debug, Clone, Default)]
pub struct ProcessTable {
    pub processes: Vec<Process>,
    pub summary: ProcessSummary,
    /// pid → its `/proc/<pid>/cgroup` lines (for the cgroups collector).
    pub cgroup_lines: HashMap<u32, Vec<ProcCgroupLine>>,
    /// The CPU times at the end of collection (for a later interval).
    pub sample: Option<CpuSample>,
}

/// The membership the cgroups collector needs: every collected pid and its cgroup lines.
pub type Membership = HashMap<u32, Vec<ProcCgroupLine>>;

struct Partial {
    stat: PidStat,
    status: PidStatus,
    command: String,
    cgroups: Vec<ProcCgroupLine>,
}

/// Read the processes. `on_membership` is called once, right after the first pass, with the
/// cgroup lines of every collected pid, so the cgroups collector can start before the CPU
/// sample ends.
pub fn read_processes(
    src: &mut Sources,
    options: &ProcessOptions,
    on_membership: &mut dyn FnMut(&Membership),
) -> Result<ProcessTable> {
    let ticks = crate::clock_ticks_per_second().max(1);
    let page_size = crate::page_size_bytes();
    // Context: boot time for start times, uptime for lifetime %CPU, MemTotal for %MEM.
    let boot_time = src
        .text_uncaptured("/proc/stat")
        .ok()
        .and_then(|t| crate::system::parse_proc_stat(&t, Path::new("/proc/stat"), ticks).ok())
        .and_then(|s| s.boot_time_unix_seconds);
    let uptime_seconds: Option<f64> = src
        .text_uncaptured("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()));
    let mem_total = src
        .text_uncaptured(crate::memory::MEMINFO)
        .ok()
        .and_then(|t| crate::memory::parse_meminfo(&t, Path::new(crate::memory::MEMINFO)).ok())
        .map(|m| m.total_bytes)
        .unwrap_or(0);
    let users = match options
        .passwd_root
        .read_text_opt("/etc/passwd", src.limits().max_file_bytes)
    {
        Ok(Some(text)) => parse_passwd(&text),
        Ok(None) => HashMap::new(),
        Err(e) => {
            src.warn(format!("user names unavailable: {e}"));
            HashMap::new()
        }
    };
    src.note("/etc/passwd");
    for pattern in [
        "/proc/[pid]/stat",
        "/proc/[pid]/status",
        "/proc/[pid]/cmdline",
        "/proc/[pid]/cgroup",
    ] {
        src.note(pattern);
    }

    // Pids to read. A tree needs the parent of every process first (stat of all pids); the
    // rest of the files are read only for the selected ones, spread over a few threads.
    let mut vanished = 0u64;
    let mut unreadable = 0u64;
    let limit = src.limits().max_processes;
    let mut pids: Vec<u32> = src
        .root()
        .read_dir_names("/proc")?
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect();
    pids.sort_unstable();
    if pids.len() > limit {
        src.warn(format!(
            "more than {limit} processes; the rest were not read"
        ));
        pids.truncate(limit);
    }
    let jobs: Vec<(u32, Option<PidStat>)> = match options.scope {
        ProcessScope::All => pids.into_iter().map(|pid| (pid, None)).collect(),
        ProcessScope::Tree(root_pid) => {
            let mut stats = Vec::new();
            for pid in pids {
                match read_stat(src.root(), src.limits().max_file_bytes, pid) {
                    Ok(stat) => stats.push(stat),
                    Err(e) if e.is_not_found() => vanished += 1,
                    Err(e) => {
                        unreadable += 1;
                        src.warn(e.to_string());
                    }
                }
            }
            if !stats.iter().any(|s| s.pid == root_pid) {
                return Err(Error::NoSuchProcess {
                    pid: root_pid,
                    root: src.root().dir().to_path_buf(),
                });
            }
            let selected = descendants(&stats, root_pid);
            stats
                .into_iter()
                .filter(|s| selected.contains(&s.pid))
                .map(|s| (s.pid, Some(s)))
                .collect()
        }
    };
    let capture_per_pid =
        matches!(options.scope, ProcessScope::Tree(_)) && jobs.len() <= 64 && src.capture_raw();
    let root = src.root().clone();
    let max_file = src.limits().max_file_bytes;
    let outcomes = parallel_map(jobs, |(pid, stat)| {
        read_process_files(&root, max_file, pid, stat, capture_per_pid)
    });
    let mut partials: Vec<Partial> = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        match outcome {
            Ok((partial, raw)) => {
                for (path, data, truncated) in raw {
                    src.record(&path, &data, truncated);
                }
                partials.push(partial);
            }
            Err(e) if e.is_not_found() => vanished += 1,
            Err(e) => {
                unreadable += 1;
                src.warn(e.to_string());
            }
        }
    }
    let membership: Membership = partials
        .iter()
        .map(|p| (p.stat.pid, p.cgroups.clone()))
        .collect();
    on_membership(&membership);

    // Second pass: CPU over the sample or against the previous sample.
    let first = CpuSample {
        taken_at: Instant::now(),
        ticks: partials
            .iter()
            .map(|p| {
                (
                    p.stat.pid,
                    (
                        p.stat.starttime_ticks,
                        p.stat.utime_ticks + p.stat.stime_ticks,
                    ),
                )
            })
            .collect(),
    };
    let (basis, reference) = match (&options.previous, options.cpu_sample.is_zero()) {
        (Some(previous), _) => (CpuPercentBasis::Sampled, Some(previous.clone())),
        (None, false) => {
            src.set_progress("sleeping for the %CPU sample");
            std::thread::sleep(options.cpu_sample);
            (CpuPercentBasis::Sampled, Some(first))
        }
        (None, true) => (CpuPercentBasis::Lifetime, None),
    };
    let mut final_ticks: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut processes = Vec::with_capacity(partials.len());
    let now = Instant::now();
    let elapsed = reference
        .as_ref()
        .map(|r| now.duration_since(r.taken_at).as_secs_f64());
    for mut partial in partials {
        let pid = partial.stat.pid;
        if reference.is_some() && options.previous.is_none() {
            // Re-read stat for the end of the sample.
            let path = format!("/proc/{pid}/stat");
            match src
                .text_uncaptured(&path)
                .and_then(|t| parse_pid_stat(&t, &src.root().path(&path)))
            {
                Ok(stat) if stat.starttime_ticks == partial.stat.starttime_ticks => {
                    partial.stat = stat
                }
                Ok(_) => {
                    vanished += 1; // the pid was reused: the process we sampled is gone
                    continue;
                }
                Err(e) if e.is_not_found() => {
                    vanished += 1;
                    continue;
                }
                Err(e) => {
                    unreadable += 1;
                    src.warn(e.to_string());
                    continue;
                }
            }
        }
        let stat = &partial.stat;
        let cpu_ticks = stat.utime_ticks + stat.stime_ticks;
        final_ticks.insert(pid, (stat.starttime_ticks, cpu_ticks));
        let lifetime_seconds =
            uptime_seconds.map(|u| (u - stat.starttime_ticks as f64 / ticks as f64).max(0.0));
        let lifetime_percent = match lifetime_seconds {
            Some(l) if l > 0.0 => cpu_ticks as f64 / ticks as f64 / l * 100.0,
            _ => 0.0,
        };
        let cpu_percent = match (&reference, elapsed) {
            (Some(reference), Some(elapsed)) if elapsed > 0.0 => match reference.ticks.get(&pid) {
                Some(&(start, before)) if start == stat.starttime_ticks => {
                    cpu_ticks.saturating_sub(before) as f64 / ticks as f64 / elapsed * 100.0
                }
                // Started during the interval: its CPU time over its own short life.
                _ => match lifetime_seconds {
                    Some(l) if l > 0.0 => {
                        cpu_ticks as f64 / ticks as f64 / l.min(elapsed).max(0.001) * 100.0
                    }
                    _ => 0.0,
                },
            },
            _ => lifetime_percent,
        };
        let rss_bytes = partial
            .status
            .vm_rss_bytes
            .unwrap_or_else(|| stat.rss_pages.saturating_mul(page_size));
        let uid = partial.status.euid;
        let namespace_pid = partial.status.ns_tgid.last().copied().filter(|&p| p != pid);
        processes.push(Process {
            pid,
            ppid: stat.ppid,
            namespace_pid,
            uid,
            user: uid.and_then(|u| users.get(&u).cloned()),
            state: stat.state.to_string(),
            comm: stat.comm.clone(),
            command: std::mem::take(&mut partial.command),
            cpu_percent: round2(cpu_percent),
            cpu_time_ms: cpu_ticks.saturating_mul(1000) / ticks,
            rss_bytes,
            vsz_bytes: stat.vsize_bytes,
            mem_percent: if mem_total > 0 {
                round2(rss_bytes as f64 / mem_total as f64 * 100.0)
            } else {
                0.0
            },
            threads: stat.num_threads,
            nice: stat.nice,
            start_time: boot_time.and_then(|b| {
                let seconds = b as i64 + (stat.starttime_ticks / ticks) as i64;
                jiff::Timestamp::from_second(seconds)
                    .ok()
                    .map(|t| t.to_string())
            }),
            start_after_boot_ms: stat.starttime_ticks.saturating_mul(1000) / ticks,
            cgroup: None,
        });
    }
    let summary = summarize(
        &processes,
        vanished,
        unreadable,
        basis,
        elapsed.map(|e| (e * 1000.0).round() as u64),
    );
    Ok(ProcessTable {
        processes,
        summary,
        cgroup_lines: membership,
        sample: Some(CpuSample {
            taken_at: now,
            ticks: final_ticks,
        }),
    })
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}

fn read_stat(root: &Root, max_file: u64, pid: u32) -> Result<PidStat> {
    let path = format!("/proc/{pid}/stat");
    let text = root.read_text(&path, max_file)?;
    // The directory name is the pid; a stat that says otherwise is not trusted.
    parse_pid_stat(&text, &root.path(&path)).map(|stat| PidStat { pid, ..stat })
}

/// A raw copy to keep: (path, bytes, why it is incomplete).
type RawCopy = (String, Vec<u8>, Option<String>);

/// Read stat (unless given), status, cmdline and cgroup of one process.
fn read_process_files(
    root: &Root,
    max_file: u64,
    pid: u32,
    stat: Option<PidStat>,
    capture: bool,
) -> Result<(Partial, Vec<RawCopy>)> {
    let stat = match stat {
        Some(stat) => stat,
        None => read_stat(root, max_file, pid)?,
    };
    let status_path = format!("/proc/{pid}/status");
    let status_text = root.read_text(&status_path, max_file)?;
    let cmdline_path = format!("/proc/{pid}/cmdline");
    let (raw_cmdline, truncated) = root.read_bounded(&cmdline_path, MAX_COMMAND_BYTES)?;
    let cgroup_path = format!("/proc/{pid}/cgroup");
    let cgroups = match root.read_text(&cgroup_path, max_file) {
        Ok(text) => parse_proc_cgroup(&text, &root.path(&cgroup_path))?,
        // A kernel without cgroups has no such file.
        Err(e) if e.is_not_found() && root.exists(&format!("/proc/{pid}")) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut raw = Vec::new();
    if capture {
        let stat_path = format!("/proc/{pid}/stat");
        if let Ok(text) = root.read_text(&stat_path, max_file) {
            raw.push((stat_path, text.into_bytes(), None));
        }
        raw.push((status_path, status_text.clone().into_bytes(), None));
        let note = truncated.then(|| format!("cut at {MAX_COMMAND_BYTES} bytes"));
        raw.push((cmdline_path, raw_cmdline.clone(), note));
    }
    let command = command_line(&raw_cmdline, &stat.comm, truncated);
    Ok((
        Partial {
            status: parse_pid_status(&status_text),
            command,
            cgroups,
            stat,
        },
        raw,
    ))
}

/// Map `items` in order over a few threads (reading /proc is system-call bound, and the
/// process list is the critical path of a snapshot). Small inputs stay on this thread.
fn parallel_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 32;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut iter = items.into_iter();
    loop {
        let part: Vec<T> = iter.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        chunks.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        // A worker that panicked re-raises here; the collector turns that into a recorded failure.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// `root` and every process whose parent chain leads to it.
pub fn descendants(stats: &[PidStat], root: u32) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for s in stats {
        if s.pid != s.ppid {
            children.entry(s.ppid).or_default().push(s.pid);
        }
    }
    let mut out = HashSet::from([root]);
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for &child in children.get(&pid).map(Vec::as_slice).unwrap_or(&[]) {
            if out.insert(child) {
                stack.push(child);
            }
        }
    }
    out
}

/// Counts and orderings over processes.
pub fn summarize(
    processes: &[Process],
    vanished: u64,
    unreadable: u64,
    basis: CpuPercentBasis,
    cpu_sample_ms: Option<u64>,
) -> ProcessSummary {
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for p in processes {
        *by_state.entry(p.state.clone()).or_default() += 1;
    }
    let count = |s: &str| by_state.get(s).copied().unwrap_or(0);
    let mut by_cpu: Vec<&Process> = processes.iter().collect();
    by_cpu.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then(b.cpu_time_ms.cmp(&a.cpu_time_ms))
            .then(a.pid.cmp(&b.pid))
    });
    let mut by_memory: Vec<&Process> = processes.iter().collect();
    by_memory.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)));
    ProcessSummary {
        total: processes.len() as u64,
        threads_total: processes.iter().map(|p| u64::from(p.threads)).sum(),
        running: count("R"),
        uninterruptible: count("D"),
        zombies: count("Z"),
        vanished,
        unreadable,
        cpu_percent_basis: basis,
        cpu_sample_ms: if basis == CpuPercentBasis::Sampled {
            cpu_sample_ms
        } else {
            None
        },
        pids_by_cpu: by_cpu.iter().map(|p| p.pid).collect(),
        pids_by_memory: by_memory.iter().map(|p| p.pid).collect(),
        by_state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "1234 (my (odd) proc) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 5000 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";

    #[test]
    fn stat_with_parentheses_in_the_name() {
        let s = parse_pid_stat(STAT, Path::new("/proc/1234/stat")).expect("parses");
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, "my (odd) proc");
        assert_eq!(s.state, 'S');
        assert_eq!(
            (s.ppid, s.utime_ticks, s.stime_ticks, s.nice, s.num_threads),
            (1, 250, 50, 0, 7)
        );
        assert_eq!(
            (s.starttime_ticks, s.vsize_bytes, s.rss_pages),
            (5000, 104_857_600, 2560)
        );
    }

    #[test]
    fn malformed_stat_is_an_error() {
        for bad in [
            "",
            "12 (x",
            "12 x) S",
            "12 (x) S 1 2 3",
            "x (y) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 1 1 1",
        ] {
            assert!(
                parse_pid_stat(bad, Path::new("s")).is_err(),
                "{bad:?} should fail"
            );
        }
    }

    #[test]
    fn status_takes_effective_uid_and_nstgid() {
        let s = parse_pid_status(
            "Name:\tx\nUid:\t1000\t0\t0\t0\nVmRSS:\t   17472 kB\nNStgid:\t4242\t7\n",
        );
        assert_eq!(s.euid, Some(0));
        assert_eq!(s.vm_rss_bytes, Some(17_472 * 1024));
        assert_eq!(parse_pid_status("Name:\tkthreadd\n").vm_rss_bytes, None);
        assert_eq!(s.ns_tgid, vec![4242, 7]);
    }

    #[test]
    fn passwd_and_command_lines() {
        let users = parse_passwd(
            "root:x:0:0:root:/root:/bin/bash\n#c\nbad\nnobody:x:65534:65534::/:/x\nroot2:x:0:0::/:/x\n",
        );
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(
            command_line(b"java\0-Xmx1g\0Main\0", "java", false),
            "java -Xmx1g Main"
        );
        assert_eq!(command_line(b"", "kthreadd", false), "[kthreadd]");
        assert_eq!(command_line(b"abc", "x", true), "abc…");
    }

    #[test]
    fn descendants_follow_the_parent_chain() {
        let mk = |pid, ppid| PidStat {
            pid,
            ppid,
            ..PidStat::default()
        };
        let stats = vec![mk(1, 0), mk(10, 1), mk(11, 10), mk(12, 11), mk(20, 1)];
        let d = descendants(&stats, 10);
        assert_eq!(d, HashSet::from([10, 11, 12]));
    }

    #[test]
    fn summary_orders_and_counts() {
        let mk = |pid, cpu, rss, state: &str| Process {
            pid,
            cpu_percent: cpu,
            rss_bytes: rss,
            state: state.into(),
            threads: 2,
            ..Process::default()
        };
        let ps = vec![
            mk(1, 5.0, 10, "S"),
            mk(2, 50.0, 5, "R"),
            mk(3, 0.0, 100, "Z"),
            mk(4, 5.0, 100, "S"),
        ];
        let s = summarize(&ps, 2, 0, CpuPercentBasis::Sampled, Some(200));
        assert_eq!(s.pids_by_cpu, vec![2, 1, 4, 3]);
        assert_eq!(s.pids_by_memory, vec![3, 4, 1, 2]);
        assert_eq!(
            (s.total, s.zombies, s.running, s.vanished, s.threads_total),
            (4, 1, 1, 2, 8)
        );
        assert_eq!(s.cpu_sample_ms, Some(200));
    }
}
