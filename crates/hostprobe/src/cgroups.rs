//! cgroup v1 and v2: memory limit, usage and working set, OOM and limit events, CPU quota and
//! throttling, PSI — for every distinct cgroup holding a collected process.
//!
//! Where each controller lives comes from the mount table (`cgroup` mounts name their
//! controllers in the super options; the `cgroup2` mount lists its controllers in
//! `cgroup.controllers`), and which cgroup a process is in comes from `/proc/<pid>/cgroup`
//! (`id:controllers:path`, v2 is the `0::` line). A controller mounted on v1 is read there; the
//! unified hierarchy is used for the controllers it holds (all of them on a pure v2 host) and
//! for per-cgroup PSI.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::cgroup_path::parse_container_identity;
use crate::model::{
    Cgroup, CgroupCpu, CgroupMemory, CgroupVersion, MemoryEvents, Mount, OomControl,
};
use crate::{Error, Result, Sources};

/// A v1 `memory.limit_in_bytes` at or above this means "no limit" (the kernel reports
/// `PAGE_COUNTER_MAX` × page size, 0x7FFFFFFFFFFFF000 on 64-bit).
pub const V1_UNLIMITED_THRESHOLD: u64 = 1 << 62;

/// One line of `/proc/<pid>/cgroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcCgroupLine {
    pub hierarchy_id: u32,
    /// Controllers of the hierarchy (`memory`, `cpu,cpuacct` → two, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    pub path: String,
}

/// Parse `/proc/<pid>/cgroup`. The path may itself contain `:`.
pub fn parse_proc_cgroup(text: &str, path: &Path) -> Result<Vec<ProcCgroupLine>> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(cgroup_path)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::parse(
                path,
                index + 1,
                format!("expected `id:controllers:path`, found {line:?}"),
            ));
        };
        let hierarchy_id = id.parse().map_err(|_| {
            Error::parse(
                path,
                index + 1,
                format!("hierarchy id {id:?} is not a number"),
            )
        })?;
        out.push(ProcCgroupLine {
            hierarchy_id,
            controllers: controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect(),
            path: cgroup_path.to_string(),
        });
    }
    Ok(out)
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub version: CgroupVersion,
    /// v1: from the super options; v2: from `cgroup.controllers` at the mount point.
    pub controllers: Vec<String>,
    pub mount_point: String,
    /// The cgroup the mount shows as its root (not `/` inside a cgroup namespace or bind mount).
    pub mount_root: String,
}

impl Hierarchy {
    /// The directory holding `cgroup_path` under this mount, or `None` when the path is outside
    /// what the mount shows.
    pub fn dir_of(&self, cgroup_path: &str) -> Option<String> {
        let relative = if self.mount_root == "/" {
            cgroup_path
        } else if cgroup_path == self.mount_root {
            "/"
        } else {
            cgroup_path
                .strip_prefix(self.mount_root.as_str())
                .filter(|r| r.starts_with('/'))?
        };
        if relative.split('/').any(|c| c == "..") {
            return None;
        }
        let base = self.mount_point.trim_end_matches('/');
        Some(if relative == "/" {
            base.to_string()
        } else {
            format!("{base}{relative}")
        })
    }
}

const V1_CONTROLLERS: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "blkio",
    "io",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// Find the cgroup hierarchies in a mount table. The v2 controller list is read from the
/// mount's `cgroup.controllers` (empty on a hybrid host where v1 holds them).
pub fn find_hierarchies(src: &mut Sources, mounts: &[Mount]) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for m in mounts {
        match m.fs_type.as_str() {
            "cgroup" => {
                let controllers: Vec<String> = m
                    .super_options
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o) || o.starts_with("name="))
                    .map(str::to_string)
                    .collect();
                // A later mount of the same controllers shadows nothing: keep the first.
                if !out.iter().any(|h: &Hierarchy| {
                    h.version == CgroupVersion::V1 && h.controllers == controllers
                }) {
                    out.push(Hierarchy {
                        version: CgroupVersion::V1,
                        controllers,
                        mount_point: m.mount_point.clone(),
                        mount_root: m.root.clone(),
                    });
                }
            }
            "cgroup2"
                if !out
                    .iter()
                    .any(|h: &Hierarchy| h.version == CgroupVersion::V2) =>
            {
                let file = format!("{}/cgroup.controllers", m.mount_point.trim_end_matches('/'));
                let controllers = match src.text_opt(&file) {
                    Ok(text) => text
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    Err(e) => {
                        src.warn(e.to_string());
                        Vec::new()
                    }
                };
                out.push(Hierarchy {
                    version: CgroupVersion::V2,
                    controllers,
                    mount_point: m.mount_point.clone(),
                    mount_root: m.root.clone(),
                });
            }
            _ => {}
        }
    }
    out
}

/// The cgroups collector's result.
#[derive(Debug, Clone, Default)]
pub struct CgroupReport {
    pub cgroups: Vec<Cgroup>,
    /// pid → the path of the cgroup holding its memory accounting (for `processes[].cgroup`).
    pub memory_path_of_pid: HashMap<u32, String>,
}

#[derive(Default)]
struct Pending {
    memory_dir: Option<String>,
    cpu_dir: Option<String>,
    cpuacct_dir: Option<String>,
    pressure_dir: Option<String>,
    pids: Vec<u32>,
}

/// Read every distinct cgroup of the given processes (`pid → /proc/<pid>/cgroup lines`).
pub fn read_cgroups(
    src: &mut Sources,
    hierarchies: &[Hierarchy],
    membership: &HashMap<u32, Vec<ProcCgroupLine>>,
) -> Result<CgroupReport> {
    let v1 = |controller: &str| {
        hierarchies.iter().find(|h| {
            h.version == CgroupVersion::V1 && h.controllers.iter().any(|c| c == controller)
        })
    };
    let v2 = hierarchies.iter().find(|h| h.version == CgroupVersion::V2);
    let v2_has =
        |controller: &str| v2.is_some_and(|h| h.controllers.iter().any(|c| c == controller));
    let line_for = |lines: &[ProcCgroupLine], controller: &str| -> Option<String> {
        lines
            .iter()
            .find(|l| l.hierarchy_id != 0 && l.controllers.iter().any(|c| c == controller))
            .map(|l| l.path.clone())
    };
    let unified_line = |lines: &[ProcCgroupLine]| {
        lines
            .iter()
            .find(|l| l.hierarchy_id == 0 && l.controllers.is_empty())
            .map(|l| l.path.clone())
    };
    let pure_v2 = v2.is_some()
        && !hierarchies.iter().any(|h| {
            h.version == CgroupVersion::V1
                && h.controllers.iter().any(|c| c == "memory" || c == "cpu")
        });

    let mut pending: BTreeMap<(u8, String), Pending> = BTreeMap::new();
    let mut memory_path_of_pid = HashMap::new();
    let mut pids: Vec<&u32> = membership.keys().collect();
    pids.sort();
    let mut unreachable = 0usize;
    for &pid in pids {
        let lines = &membership[&pid];
        let mut touch = |version: CgroupVersion, path: &str, set: &mut dyn FnMut(&mut Pending)| {
            let key = (version as u8, path.to_string());
            if !pending.contains_key(&key) && pending.len() >= src.limits().max_cgroups {
                return;
            }
            let entry = pending.entry(key).or_default();
            if entry.pids.last() != Some(&pid) {
                entry.pids.push(pid);
            }
            set(entry);
        };
        let mut place = |controller: &str,
                         field: fn(&mut Pending) -> &mut Option<String>,
                         v2_controller: &str|
         -> Option<String> {
            if let (Some(h), Some(path)) = (v1(controller), line_for(lines, controller)) {
                match h.dir_of(&path) {
                    Some(dir) => touch(CgroupVersion::V1, &path, &mut |p| {
                        *field(p) = Some(dir.clone())
                    }),
                    None => unreachable += 1,
                }
                return Some(path);
            }
            if let (Some(h), Some(path)) = (v2, unified_line(lines)) {
                if v2_has(v2_controller) {
                    match h.dir_of(&path) {
                        Some(dir) => touch(CgroupVersion::V2, &path, &mut |p| {
                            *field(p) = Some(dir.clone())
                        }),
                        None => unreachable += 1,
                    }
                    return Some(path);
                }
            }
            None
        };
        if let Some(path) = place("memory", |p| &mut p.memory_dir, "memory") {
            memory_path_of_pid.insert(pid, path);
        }
        place("cpu", |p| &mut p.cpu_dir, "cpu");
        // cpuacct exists only on v1; v2 cpu.stat always has usage even without the cpu controller.
        if v1("cpuacct").is_some() {
            place("cpuacct", |p| &mut p.cpuacct_dir, "cpu");
        } else if let (Some(h), Some(path)) = (v2, unified_line(lines)) {
            if let Some(dir) = h.dir_of(&path) {
                touch(CgroupVersion::V2, &path, &mut |p| {
                    p.cpuacct_dir = Some(dir.clone())
                });
            }
        }
        // PSI lives in the unified hierarchy; on a hybrid host only non-root cgroups have it.
        if let (Some(h), Some(path)) = (v2, unified_line(lines)) {
            if let Some(dir) = h.dir_of(&path) {
                if pure_v2 || (path != "/" && src.root().exists(&format!("{dir}/memory.pressure")))
                {
                    touch(CgroupVersion::V2, &path, &mut |p| {
                        p.pressure_dir = Some(dir.clone())
                    });
                }
            }
        }
        if !pure_v2 && v2.is_some() {
            if let Some(path) = unified_line(lines) {
                memory_path_of_pid.entry(pid).or_insert(path);
            }
        }
    }
    if unreachable > 0 {
        src.warn(format!("{unreachable} cgroup paths lie outside the mounted hierarchies (cgroup namespace?) and were not read"));
    }
    // A controller mounted nowhere leaves its half of every cgroup null: say so once, here,
    // rather than let the nulls look like "no limit".
    if !membership.is_empty() {
        for (controller, what) in [
            ("memory", "memory limits, usage and OOM kills"),
            ("cpu", "CPU quotas and throttling"),
        ] {
            if v1(controller).is_none() && !v2_has(controller) {
                src.warn(format!(
                    "the {controller} cgroup controller is not mounted (no cgroup v1 `{controller}` hierarchy in /proc/self/mountinfo, and the cgroup2 mount does not list it in cgroup.controllers): {what} are unknown for every cgroup; mount the controller to see them"
                ));
            }
        }
    }
    if pending.len() >= src.limits().max_cgroups {
        src.warn(format!(
            "more than {} cgroups; the rest were not read",
            src.limits().max_cgroups
        ));
    }

    let mut cgroups = Vec::with_capacity(pending.len());
    for ((version, path), p) in pending {
        let version = if version == CgroupVersion::V1 as u8 {
            CgroupVersion::V1
        } else {
            CgroupVersion::V2
        };
        let mut errors = Vec::new();
        let memory = p.memory_dir.as_deref().and_then(|dir| {
            let result = match version {
                CgroupVersion::V1 => read_memory_v1(src, dir, &mut errors),
                CgroupVersion::V2 => read_memory_v2(src, dir, &mut errors),
            };
            result.unwrap_or_else(|e| {
                errors.push(e.to_string());
                None
            })
        });
        let mut cpu = p.cpu_dir.as_deref().and_then(|dir| {
            let result = match version {
                CgroupVersion::V1 => read_cpu_v1(src, dir, &mut errors),
                CgroupVersion::V2 => read_cpu_v2(src, dir, &mut errors),
            };
            result.unwrap_or_else(|e| {
                errors.push(e.to_string());
                None
            })
        });
        if let Some(dir) = p.cpuacct_dir.as_deref() {
            let cpu = cpu.get_or_insert_with(|| CgroupCpu {
                source_dir: dir.to_string(),
                ..CgroupCpu::default()
            });
            match version {
                CgroupVersion::V1 => read_cpuacct_v1(src, dir, cpu, &mut errors),
                CgroupVersion::V2 if p.cpu_dir.is_none() => {
                    read_cpu_stat_v2(src, dir, cpu, &mut errors)
                }
                CgroupVersion::V2 => {}
            }
        }
        let cpu = cpu.filter(|c| {
            c != &CgroupCpu {
                source_dir: c.source_dir.clone(),
                ..CgroupCpu::default()
            }
        });
        let pressure = p
            .pressure_dir
            .as_deref()
            .map(|dir| {
                let names = ["cpu", "memory", "io"].map(|n| format!("{dir}/{n}.pressure"));
                crate::system::read_pressure_files(src, &names)
            })
            .filter(|pr| pr.cpu.is_some() || pr.memory.is_some() || pr.io.is_some());
        if memory.is_none() && cpu.is_none() && pressure.is_none() && errors.is_empty() {
            continue;
        }
        for e in &errors {
            src.warn(format!("cgroup {path}: {e}"));
        }
        cgroups.push(Cgroup {
            container: parse_container_identity(&path),
            path,
            version,
            pids: p.pids,
            memory,
            cpu,
            pressure,
            errors,
        });
    }
    Ok(CgroupReport {
        cgroups,
        memory_path_of_pid,
    })
}

/// Read one optional number file; `Ok(None)` when missing.
fn number_file(src: &mut Sources, path: &str) -> Result<Option<u64>> {
    let Some(text) = src.text_opt(path)? else {
        return Ok(None);
    };
    let t = text.trim();
    t.parse::<u64>().map(Some).map_err(|_| {
        Error::parse(
            &src.root().path(path),
            1,
            format!("expected a number, found {t:?}"),
        )
    })
}

/// A number file that may say `max` (→ `None`, unlimited).
fn limit_file(src: &mut Sources, path: &str) -> Result<Option<Option<u64>>> {
    let Some(text) = src.text_opt(path)? else {
        return Ok(None);
    };
    let t = text.trim();
    if t == "max" {
        return Ok(Some(None));
    }
    t.parse::<u64>().map(|v| Some(Some(v))).map_err(|_| {
        Error::parse(
            &src.root().path(path),
            1,
            format!("expected a number or `max`, found {t:?}"),
        )
    })
}

/// Parse a flat-keyed file (`memory.stat`, `cpu.stat`, `memory.events`): `key value` lines.
/// Lines whose value is not a number are reported; new keys are kept as they come.
pub fn parse_flat_keyed(text: &str, path: &Path) -> Result<HashMap<String, u64>> {
    let mut out = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        let value = fields
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| {
                Error::parse(
                    path,
                    index + 1,
                    format!("expected `key number`, found {line:?}"),
                )
            })?;
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

fn keyed_file(
    src: &mut Sources,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<HashMap<String, u64>> {
    match src.text_opt(path) {
        Ok(Some(text)) => match parse_flat_keyed(&text, &src.root().path(path)) {
            Ok(map) => Some(map),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    }
}

fn soft<T>(result: Result<Option<T>>, errors: &mut Vec<String>) -> Option<T> {
    result.unwrap_or_else(|e| {
        errors.push(e.to_string());
        None
    })
}

fn working_set(usage: u64, inactive_file: Option<u64>) -> u64 {
    usage.saturating_sub(inactive_file.unwrap_or(0))
}

fn memory_events(map: &HashMap<String, u64>) -> MemoryEvents {
    MemoryEvents {
        low: map.get("low").copied(),
        high: map.get("high").copied(),
        max: map.get("max").copied(),
        oom: map.get("oom").copied(),
        oom_kill: map.get("oom_kill").copied(),
        oom_group_kill: map.get("oom_group_kill").copied(),
    }
}

/// v2 memory controller. `None` when `memory.current` is absent (controller not enabled here).
pub fn read_memory_v2(
    src: &mut Sources,
    dir: &str,
    errors: &mut Vec<String>,
) -> Result<Option<CgroupMemory>> {
    let Some(usage) = number_file(src, &format!("{dir}/memory.current"))? else {
        return Ok(None);
    };
    let limit = soft(limit_file(src, &format!("{dir}/memory.max")), errors).flatten();
    let high = soft(limit_file(src, &format!("{dir}/memory.high")), errors).flatten();
    let stat = keyed_file(src, &format!("{dir}/memory.stat"), errors);
    let inactive_file = stat.as_ref().and_then(|s| s.get("inactive_file").copied());
    let events =
        keyed_file(src, &format!("{dir}/memory.events"), errors).map(|m| memory_events(&m));
    let events_local =
        keyed_file(src, &format!("{dir}/memory.events.local"), errors).map(|m| memory_events(&m));
    let oom_kills = events_local
        .as_ref()
        .and_then(|e| e.oom_kill)
        .or_else(|| events.as_ref().and_then(|e| e.oom_kill));
    Ok(Some(CgroupMemory {
        source_dir: dir.to_string(),
        limit_bytes: limit,
        high_bytes: high,
        usage_bytes: usage,
        working_set_bytes: working_set(usage, inactive_file),
        inactive_file_bytes: inactive_file,
        anon_bytes: stat.as_ref().and_then(|s| s.get("anon").copied()),
        file_bytes: stat.as_ref().and_then(|s| s.get("file").copied()),
        swap_bytes: soft(
            number_file(src, &format!("{dir}/memory.swap.current")),
            errors,
        ),
        peak_bytes: soft(number_file(src, &format!("{dir}/memory.peak")), errors),
        failcnt: None,
        events,
        events_local,
        oom_control: None,
        oom_kills,
    }))
}

/// v1 memory controller. `None` when `memory.usage_in_bytes` is absent.
pub fn read_memory_v1(
    src: &mut Sources,
    dir: &str,
    errors: &mut Vec<String>,
) -> Result<Option<CgroupMemory>> {
    let Some(usage) = number_file(src, &format!("{dir}/memory.usage_in_bytes"))? else {
        return Ok(None);
    };
    let limit = soft(
        number_file(src, &format!("{dir}/memory.limit_in_bytes")),
        errors,
    )
    .filter(|&l| l < V1_UNLIMITED_THRESHOLD);
    let stat = keyed_file(src, &format!("{dir}/memory.stat"), errors);
    let stat_get = |keys: &[&str]| {
        stat.as_ref()
            .and_then(|s| keys.iter().find_map(|k| s.get(*k).copied()))
    };
    let inactive_file = stat_get(&["total_inactive_file", "inactive_file"]);
    let memsw = soft(
        number_file(src, &format!("{dir}/memory.memsw.usage_in_bytes")),
        errors,
    );
    let oom_control = match src.text_opt(&format!("{dir}/memory.oom_control")) {
        Ok(Some(text)) => match parse_flat_keyed(
            &text,
            &src.root().path(&format!("{dir}/memory.oom_control")),
        ) {
            Ok(map) => Some(OomControl {
                oom_kill_disable: map.get("oom_kill_disable").is_some_and(|v| *v != 0),
                under_oom: map.get("under_oom").is_some_and(|v| *v != 0),
                oom_kill: map.get("oom_kill").copied(),
            }),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    Ok(Some(CgroupMemory {
        source_dir: dir.to_string(),
        limit_bytes: limit,
        high_bytes: None,
        usage_bytes: usage,
        working_set_bytes: working_set(usage, inactive_file),
        inactive_file_bytes: inactive_file,
        anon_bytes: stat_get(&["total_rss", "rss"]),
        file_bytes: stat_get(&["total_cache", "cache"]),
        swap_bytes: memsw.map(|m| m.saturating_sub(usage)),
        peak_bytes: soft(
            number_file(src, &format!("{dir}/memory.max_usage_in_bytes")),
            errors,
        ),
        failcnt: soft(number_file(src, &format!("{dir}/memory.failcnt")), errors),
        events: None,
        events_local: None,
        oom_kills: oom_control.as_ref().and_then(|o| o.oom_kill),
        oom_control,
    }))
}

/// v2 cpu controller (`cpu.max`, `cpu.weight`, `cpu.stat`).
pub fn read_cpu_v2(
    src: &mut Sources,
    dir: &str,
    errors: &mut Vec<String>,
) -> Result<Option<CgroupCpu>> {
    let mut cpu = CgroupCpu {
        source_dir: dir.to_string(),
        ..CgroupCpu::default()
    };
    let max_path = format!("{dir}/cpu.max");
    if let Some(text) = soft(src.text_opt(&max_path), errors) {
        let fields: Vec<&str> = text.split_whitespace().collect();
        match fields[..] {
            [quota, period] => {
                let period: Option<u64> = period.parse().ok();
                if period.is_none() {
                    errors.push(format!(
                        "{max_path}: period {:?} is not a number",
                        fields[1]
                    ));
                }
                cpu.period_usec = period;
                if quota != "max" {
                    match quota.parse::<u64>() {
                        Ok(q) => cpu.quota_usec = Some(q),
                        Err(_) => errors.push(format!(
                            "{max_path}: quota {quota:?} is neither a number nor `max`"
                        )),
                    }
                }
            }
            _ => errors.push(format!(
                "{max_path}: expected `$MAX $PERIOD`, found {:?}",
                text.trim()
            )),
        }
    }
    cpu.limit_cores = limit_cores(cpu.quota_usec, cpu.period_usec);
    cpu.weight = soft(number_file(src, &format!("{dir}/cpu.weight")), errors);
    read_cpu_stat_v2(src, dir, &mut cpu, errors);
    Ok(Some(cpu))
}

fn read_cpu_stat_v2(src: &mut Sources, dir: &str, cpu: &mut CgroupCpu, errors: &mut Vec<String>) {
    if let Some(stat) = keyed_file(src, &format!("{dir}/cpu.stat"), errors) {
        cpu.usage_usec = stat.get("usage_usec").copied();
        cpu.user_usec = stat.get("user_usec").copied();
        cpu.system_usec = stat.get("system_usec").copied();
        cpu.nr_periods = stat.get("nr_periods").copied();
        cpu.nr_throttled = stat.get("nr_throttled").copied();
        cpu.throttled_usec = stat.get("throttled_usec").copied();
        cpu.nr_bursts = stat.get("nr_bursts").copied();
        cpu.burst_usec = stat.get("burst_usec").copied();
    }
}

fn limit_cores(quota: Option<u64>, period: Option<u64>) -> Option<f64> {
    match (quota, period) {
        (Some(q), Some(p)) if p > 0 => Some(q as f64 / p as f64),
        _ => None,
    }
}

/// v1 cpu controller (`cpu.cfs_quota_us`, `cpu.cfs_period_us`, `cpu.shares`, `cpu.stat`).
pub fn read_cpu_v1(
    src: &mut Sources,
    dir: &str,
    errors: &mut Vec<String>,
) -> Result<Option<CgroupCpu>> {
    let mut cpu = CgroupCpu {
        source_dir: dir.to_string(),
        ..CgroupCpu::default()
    };
    let quota_path = format!("{dir}/cpu.cfs_quota_us");
    if let Some(text) = soft(src.text_opt(&quota_path), errors) {
        match text.trim().parse::<i64>() {
            Ok(q) if q >= 0 => cpu.quota_usec = Some(q as u64),
            Ok(_) => {} // -1: unlimited
            Err(_) => errors.push(format!(
                "{quota_path}: expected a number, found {:?}",
                text.trim()
            )),
        }
    }
    cpu.period_usec = soft(
        number_file(src, &format!("{dir}/cpu.cfs_period_us")),
        errors,
    );
    cpu.limit_cores = limit_cores(cpu.quota_usec, cpu.period_usec);
    cpu.shares = soft(number_file(src, &format!("{dir}/cpu.shares")), errors);
    if let Some(stat) = keyed_file(src, &format!("{dir}/cpu.stat"), errors) {
        cpu.nr_periods = stat.get("nr_periods").copied();
        cpu.nr_throttled = stat.get("nr_throttled").copied();
        cpu.throttled_usec = stat.get("throttled_time").map(|ns| ns / 1000);
        cpu.nr_bursts = stat.get("nr_bursts").copied();
        cpu.burst_usec = stat.get("burst_time").map(|ns| ns / 1000);
    }
    Ok(Some(cpu))
}

/// v1 cpuacct (`cpuacct.usage` in ns, `cpuacct.stat` in USER_HZ ticks).
fn read_cpuacct_v1(src: &mut Sources, dir: &str, cpu: &mut CgroupCpu, errors: &mut Vec<String>) {
    if let Some(ns) = soft(number_file(src, &format!("{dir}/cpuacct.usage")), errors) {
        cpu.usage_usec = Some(ns / 1000);
    }
    if let Some(stat) = keyed_file(src, &format!("{dir}/cpuacct.stat"), errors) {
        let ticks = crate::clock_ticks_per_second().max(1);
        cpu.user_usec = stat
            .get("user")
            .map(|t| t.saturating_mul(1_000_000) / ticks);
        cpu.system_usec = stat
            .get("system")
            .map(|t| t.saturating_mul(1_000_000) / ticks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_lines() {
        let text =
            "12:memory:/kubepods/pod1/abc\n4:cpu,cpuacct:/a:b\n1:name=systemd:/x\n0::/user.slice\n";
        let lines = parse_proc_cgroup(text, Path::new("/proc/1/cgroup")).expect("parses");
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(lines[1].path, "/a:b");
        assert_eq!(lines[3].hierarchy_id, 0);
        assert!(lines[3].controllers.is_empty());
        assert!(parse_proc_cgroup("x:memory:/\n", Path::new("c")).is_err());
        assert!(parse_proc_cgroup("4-memory\n", Path::new("c")).is_err());
    }

    #[test]
    fn hierarchy_dirs_respect_the_mount_root() {
        let h = Hierarchy {
            version: CgroupVersion::V1,
            controllers: vec!["memory".into()],
            mount_point: "/sys/fs/cgroup/memory".into(),
            mount_root: "/".into(),
        };
        assert_eq!(
            h.dir_of("/a/b").as_deref(),
            Some("/sys/fs/cgroup/memory/a/b")
        );
        assert_eq!(h.dir_of("/").as_deref(), Some("/sys/fs/cgroup/memory"));
        let nested = Hierarchy {
            mount_root: "/kubepods/pod1".into(),
            ..h.clone()
        };
        assert_eq!(
            nested.dir_of("/kubepods/pod1/c1").as_deref(),
            Some("/sys/fs/cgroup/memory/c1")
        );
        assert_eq!(
            nested.dir_of("/kubepods/pod1").as_deref(),
            Some("/sys/fs/cgroup/memory")
        );
        assert_eq!(nested.dir_of("/kubepods/pod10/c1"), None);
        assert_eq!(h.dir_of("/../../etc"), None);
    }

    #[test]
    fn flat_keyed_reports_the_bad_line() {
        let m = parse_flat_keyed("anon 10\nfile 20\n\nnew_key 3\n", Path::new("memory.stat"))
            .expect("parses");
        assert_eq!(m["new_key"], 3);
        let e = parse_flat_keyed("anon 10\nfile twenty\n", Path::new("memory.stat")).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn working_set_floors_at_zero() {
        assert_eq!(working_set(100, Some(30)), 70);
        assert_eq!(working_set(100, Some(300)), 0);
        assert_eq!(working_set(100, None), 100);
    }
}
