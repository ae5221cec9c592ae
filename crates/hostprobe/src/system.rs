//! Machine-wide facts: hostname, kernel, uptime, CPUs, load, pressure, vmstat, file handles.

use std::path::Path;

use crate::model::{
    CpuTimes, FileHandles, LoadAverage, Pressure, PressureFile, PressureLine, System, VmStat,
};
use crate::{Error, Result, Sources};

/// Read the system section. Only `/proc/stat` is required; every other file that is missing or
/// malformed leaves its field `null` and adds a warning.
pub fn read_system(src: &mut Sources) -> Result<System> {
    let ticks = crate::clock_ticks_per_second();
    let mut system = System {
        clock_ticks_per_second: ticks,
        page_size_bytes: crate::page_size_bytes(),
        ..System::default()
    };
    let stat_path = "/proc/stat";
    let stat = src.text(stat_path)?;
    let parsed = parse_proc_stat(&stat, &src.root().path(stat_path), ticks)?;
    system.boot_time_unix_seconds = parsed.boot_time_unix_seconds;
    system.cpu_count = parsed.cpu_count;
    system.cpu_times = parsed.cpu_times;

    system.hostname = optional_line(src, "/proc/sys/kernel/hostname");
    system.kernel_release = optional_line(src, "/proc/sys/kernel/osrelease");
    system.kernel_version = optional_line(src, "/proc/sys/kernel/version");
    system.os_pretty_name = read_os_pretty_name(src);
    if let Some(text) = optional_text(src, "/proc/uptime") {
        system.uptime_seconds = text.split_whitespace().next().and_then(|v| v.parse().ok());
    }
    let loadavg_path = "/proc/loadavg";
    if let Some(text) = optional_text(src, loadavg_path) {
        match parse_loadavg(&text, &src.root().path(loadavg_path)) {
            Ok(load) => system.load = Some(load),
            Err(e) => src.warn(e.to_string()),
        }
    }
    system.pressure = read_pressure_dir(src, "/proc/pressure");
    if let Some(text) = optional_text(src, "/proc/vmstat") {
        system.vmstat = Some(parse_vmstat(&text));
    }
    let file_nr_path = "/proc/sys/fs/file-nr";
    if let Some(text) = optional_text(src, file_nr_path) {
        match parse_file_nr(&text, &src.root().path(file_nr_path)) {
            Ok(fh) => system.file_handles = Some(fh),
            Err(e) => src.warn(e.to_string()),
        }
    }
    Ok(system)
}

fn optional_text(src: &mut Sources, path: &str) -> Option<String> {
    match src.text_opt(path) {
        Ok(t) => t,
        Err(e) => {
            src.warn(e.to_string());
            None
        }
    }
}

fn optional_line(src: &mut Sources, path: &str) -> Option<String> {
    optional_text(src, path)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

fn read_os_pretty_name(src: &mut Sources) -> Option<String> {
    for path in ["/etc/os-release", "/usr/lib/os-release"] {
        if let Some(text) = optional_text(src, path) {
            return text.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
            });
        }
    }
    None
}

/// The parts of `/proc/stat` the snapshot needs.
#[derive(Debug, Default, PartialEq)]
pub struct ProcStat {
    pub boot_time_unix_seconds: Option<u64>,
    pub cpu_count: u32,
    pub cpu_times: Option<CpuTimes>,
}

/// Parse `/proc/stat`: `btime`, the aggregate `cpu` line (ticks → ms) and the `cpuN` count.
pub fn parse_proc_stat(text: &str, path: &Path, ticks_per_second: u64) -> Result<ProcStat> {
    let mut out = ProcStat::default();
    let ticks = ticks_per_second.max(1);
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        if key == "cpu" {
            let values: Vec<u64> = fields
                .map(|f| f.parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    Error::parse(path, index + 1, "the `cpu` line holds a non-numeric field")
                })?;
            let ms = |i: usize| values.get(i).map_or(0, |v| v.saturating_mul(1000) / ticks);
            out.cpu_times = Some(CpuTimes {
                user_ms: ms(0),
                nice_ms: ms(1),
                system_ms: ms(2),
                idle_ms: ms(3),
                iowait_ms: ms(4),
                irq_ms: ms(5),
                softirq_ms: ms(6),
                steal_ms: ms(7),
            });
        } else if key.starts_with("cpu") && key[3..].bytes().all(|b| b.is_ascii_digit()) {
            out.cpu_count = out.cpu_count.saturating_add(1);
        } else if key == "btime" {
            out.boot_time_unix_seconds = fields.next().and_then(|v| v.parse().ok());
        }
    }
    if out.cpu_times.is_none() {
        return Err(Error::parse(
            path,
            1,
            "no aggregate `cpu` line: this is not /proc/stat",
        ));
    }
    Ok(out)
}

/// Share of CPU time spent busy (not idle, not iowait) between two readings of `/proc/stat`.
pub fn busy_percent(before: &CpuTimes, after: &CpuTimes) -> Option<f64> {
    let total = |t: &CpuTimes| {
        t.user_ms
            + t.nice_ms
            + t.system_ms
            + t.idle_ms
            + t.iowait_ms
            + t.irq_ms
            + t.softirq_ms
            + t.steal_ms
    };
    let idle = |t: &CpuTimes| t.idle_ms + t.iowait_ms;
    let elapsed = total(after).checked_sub(total(before))?;
    let idle_delta = idle(after).checked_sub(idle(before))?;
    if elapsed == 0 {
        return None;
    }
    Some(
        ((elapsed.saturating_sub(idle_delta)) as f64 * 100.0 / elapsed as f64 * 10.0).round()
            / 10.0,
    )
}

/// Parse `/proc/loadavg`: `0.52 0.58 0.59 2/1024 12345`.
pub fn parse_loadavg(text: &str, path: &Path) -> Result<LoadAverage> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let bad = || {
        Error::parse(
            path,
            1,
            format!(
                "expected `load1 load5 load15 runnable/total lastpid`, found {:?}",
                text.trim()
            ),
        )
    };
    if fields.len() < 4 {
        return Err(bad());
    }
    let load = |i: usize| {
        fields[i]
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(bad)
    };
    let (runnable, total) = fields[3].split_once('/').ok_or_else(bad)?;
    Ok(LoadAverage {
        load1: load(0)?,
        load5: load(1)?,
        load15: load(2)?,
        runnable_tasks: runnable.parse().map_err(|_| bad())?,
        total_tasks: total.parse().map_err(|_| bad())?,
    })
}

/// Parse a PSI file (`/proc/pressure/memory`, a cgroup's `memory.pressure`).
pub fn parse_pressure(text: &str, path: &Path) -> Result<PressureFile> {
    let mut out = PressureFile::default();
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(kind) = fields.next() else { continue };
        let mut parsed = PressureLine::default();
        let mut seen = 0;
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                return Err(Error::parse(
                    path,
                    index + 1,
                    format!("expected key=value, found {field:?}"),
                ));
            };
            let bad = || Error::parse(path, index + 1, format!("bad value in {field:?}"));
            let pct = || {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= 0.0)
                    .ok_or_else(bad)
            };
            match key {
                "avg10" => parsed.avg10_percent = pct()?,
                "avg60" => parsed.avg60_percent = pct()?,
                "avg300" => parsed.avg300_percent = pct()?,
                "total" => parsed.total_usec = value.parse().map_err(|_| bad())?,
                _ => continue,
            }
            seen += 1;
        }
        if seen < 4 {
            return Err(Error::parse(
                path,
                index + 1,
                "expected avg10, avg60, avg300 and total",
            ));
        }
        match kind {
            "some" => out.some = Some(parsed),
            "full" => out.full = Some(parsed),
            other => {
                return Err(Error::parse(
                    path,
                    index + 1,
                    format!("unknown PSI line kind {other:?}"),
                ));
            }
        }
    }
    if out.some.is_none() && out.full.is_none() {
        return Err(Error::parse(path, 1, "empty pressure file"));
    }
    Ok(out)
}

/// Read `cpu`, `memory` and `io` pressure files from `dir` (`/proc/pressure`) or the
/// `cpu.pressure` style names of a cgroup directory when `dir` ends without them. Missing files
/// stay `null`; unreadable or malformed ones are warnings.
pub fn read_pressure_dir(src: &mut Sources, dir: &str) -> Pressure {
    let names = ["cpu", "memory", "io"].map(|n| format!("{dir}/{n}"));
    read_pressure_files(src, &names)
}

/// Read three PSI files (cpu, memory, io), each optional.
pub fn read_pressure_files(src: &mut Sources, paths: &[String; 3]) -> Pressure {
    let mut read = |path: &str| -> Option<PressureFile> {
        match src.text_opt(path) {
            Ok(Some(text)) => match parse_pressure(&text, &src.root().path(path)) {
                Ok(p) => Some(p),
                Err(e) => {
                    src.warn(e.to_string());
                    None
                }
            },
            Ok(None) => None,
            // EOPNOTSUPP: PSI compiled in but disabled (psi=0 on the kernel command line).
            Err(e) => {
                if !matches!(&e, Error::Io { source, .. } if source.raw_os_error() == Some(libc::EOPNOTSUPP))
                {
                    src.warn(e.to_string());
                }
                None
            }
        }
    };
    Pressure {
        cpu: read(&paths[0]),
        memory: read(&paths[1]),
        io: read(&paths[2]),
    }
}

/// Pick the counters the rules need out of `/proc/vmstat`; unknown or garbled lines are ignored.
pub fn parse_vmstat(text: &str) -> VmStat {
    let mut out = VmStat::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(key), Some(value)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Ok(value) = value.parse::<u64>() else {
            continue;
        };
        match key {
            "oom_kill" => out.oom_kill = Some(value),
            "pgmajfault" => out.pgmajfault = Some(value),
            "pgfault" => out.pgfault = Some(value),
            "pswpin" => out.pswpin = Some(value),
            "pswpout" => out.pswpout = Some(value),
            _ => {}
        }
    }
    out
}

/// Parse `/proc/sys/fs/file-nr`: `allocated unused max`.
pub fn parse_file_nr(text: &str, path: &Path) -> Result<FileHandles> {
    let values: Vec<u64> = text
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    match values[..] {
        [allocated, unused, max] => Ok(FileHandles {
            allocated,
            unused,
            max,
        }),
        _ => Err(Error::parse(
            path,
            1,
            format!("expected three numbers, found {:?}", text.trim()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/proc/x")
    }

    #[test]
    fn proc_stat_counts_cpus_and_converts_ticks() {
        let text = "cpu  100 0 50 1000 10 0 5 0 0 0\ncpu0 50 0 25 500 5 0 2 0 0 0\ncpu1 50 0 25 500 5 0 3 0 0 0\nintr 1\nbtime 1700000000\n";
        let s = parse_proc_stat(text, p(), 100).expect("parses");
        assert_eq!(s.cpu_count, 2);
        assert_eq!(s.boot_time_unix_seconds, Some(1_700_000_000));
        let t = s.cpu_times.expect("cpu line");
        assert_eq!(t.user_ms, 1000);
        assert_eq!(t.idle_ms, 10_000);
        assert!(parse_proc_stat("intr 1\n", p(), 100).is_err());
        assert!(parse_proc_stat("cpu 1 x 3\n", p(), 100).is_err());
    }

    #[test]
    fn busy_share_between_two_readings() {
        let a = CpuTimes {
            user_ms: 100,
            idle_ms: 900,
            ..CpuTimes::default()
        };
        let b = CpuTimes {
            user_ms: 400,
            idle_ms: 1600,
            iowait_ms: 0,
            ..CpuTimes::default()
        };
        assert_eq!(busy_percent(&a, &b), Some(30.0));
        assert_eq!(busy_percent(&a, &a), None);
        assert_eq!(busy_percent(&b, &a), None);
    }

    #[test]
    fn loadavg_parses_and_rejects_garbage() {
        let l = parse_loadavg("0.52 0.58 0.59 2/1024 12345\n", p()).expect("parses");
        assert_eq!((l.load1, l.runnable_tasks, l.total_tasks), (0.52, 2, 1024));
        assert!(parse_loadavg("0.5 nan 1 2/3 4", p()).is_err());
        assert!(parse_loadavg("0.5 0.5", p()).is_err());
        assert!(parse_loadavg("0.5 0.5 0.5 23 4", p()).is_err());
    }

    #[test]
    fn pressure_with_and_without_full() {
        let text = "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n";
        let pf = parse_pressure(text, p()).expect("parses");
        let some = pf.some.expect("some");
        assert_eq!(some.avg10_percent, 1.5);
        assert_eq!(some.total_usec, 123_456);
        assert_eq!(pf.full.expect("full").total_usec, 7);
        let cpu_old = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", p())
            .expect("old cpu");
        assert!(cpu_old.full.is_none());
        assert!(parse_pressure("some avg10=x avg60=0 avg300=0 total=0", p()).is_err());
        assert!(parse_pressure("some avg10=1", p()).is_err());
        assert!(parse_pressure("", p()).is_err());
    }

    #[test]
    fn vmstat_and_file_nr() {
        let v = parse_vmstat("pgfault 10\npgmajfault 3\noom_kill 2\ngarbage\nx y\n");
        assert_eq!(
            (v.oom_kill, v.pgmajfault, v.pgfault, v.pswpin),
            (Some(2), Some(3), Some(10), None)
        );
        let f = parse_file_nr("1024\t0\t9223372036854775807\n", p()).expect("parses");
        assert_eq!((f.allocated, f.max), (1024, 9_223_372_036_854_775_807));
        assert!(parse_file_nr("1 2", p()).is_err());
    }
}
