//! Where the cgroups are and what they say: the layout under a cgroup root (v1 hierarchies or
//! the unified v2 one) and one sample of a cgroup's memory, CPU throttling and memory pressure
//! read through `hostprobe`. Which cgroups exist comes from the processes (`procs`).
//!
//! The layout is taken from the directory, not the mount table, so a DaemonSet that mounts the
//! host's `/sys/fs/cgroup` anywhere, and a fixture tree in a test, work the same way.

use std::path::{Path, PathBuf};

use hostprobe::{CgroupCpu, CgroupMemory, Limits, Root, Sources};

/// Which cgroup version holds the memory controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Version {
    V1,
    V2,
}

/// Where the controllers live under a cgroup root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The version of the memory controller (the one the triggers watch).
    pub version: Version,
    /// The hierarchy walked for cgroups: v1 `memory`, or the unified root.
    pub memory_root: PathBuf,
    /// v1 `cpu` hierarchy (v2: the unified root).
    pub cpu_root: Option<PathBuf>,
    /// The unified hierarchy, for PSI (`memory.pressure`) on a hybrid host too.
    pub unified_root: Option<PathBuf>,
}

/// Find the layout under `cgroup_root` (normally `/sys/fs/cgroup`).
pub fn detect_layout(cgroup_root: &Path) -> Option<Layout> {
    if cgroup_root.join("cgroup.controllers").is_file() {
        return Some(Layout {
            version: Version::V2,
            memory_root: cgroup_root.to_path_buf(),
            cpu_root: Some(cgroup_root.to_path_buf()),
            unified_root: Some(cgroup_root.to_path_buf()),
        });
    }
    let memory = cgroup_root.join("memory");
    if !memory.join("memory.usage_in_bytes").is_file() {
        return None;
    }
    let cpu_root = ["cpu", "cpu,cpuacct", "cpuacct,cpu"]
        .iter()
        .map(|n| cgroup_root.join(n))
        .find(|p| p.join("cpu.stat").is_file());
    let unified = cgroup_root.join("unified");
    Some(Layout {
        version: Version::V1,
        memory_root: memory,
        cpu_root,
        unified_root: unified.join("cgroup.procs").is_file().then_some(unified),
    })
}

/// The directory of cgroup `path` (`/a/b`) under hierarchy `root`.
pub fn dir_under(root: &Path, path: &str) -> PathBuf {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() {
        root.to_path_buf()
    } else {
        root.join(relative)
    }
}

/// `some`/`full` lines of one pressure file.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct PressureFigures {
    pub some_avg10: f64,
    pub some_total_usec: u64,
    pub full_avg10: Option<f64>,
    pub full_total_usec: Option<u64>,
}

/// One reading of one cgroup.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CgroupReading {
    pub memory: Option<CgroupMemory>,
    pub cpu: Option<CgroupCpu>,
    pub memory_pressure: Option<PressureFigures>,
}

fn sources() -> Sources {
    Sources::new(Root::live(), Limits::default(), false)
}

/// Read the memory controller of `dir` (`None` when the cgroup is gone or has no memory files).
pub fn read_memory(version: Version, dir: &Path) -> Result<Option<CgroupMemory>, String> {
    let mut src = sources();
    let mut errors = Vec::new();
    let dir = dir.to_string_lossy();
    let result = match version {
        Version::V1 => hostprobe::cgroups::read_memory_v1(&mut src, &dir, &mut errors),
        Version::V2 => hostprobe::cgroups::read_memory_v2(&mut src, &dir, &mut errors),
    };
    match result {
        Ok(m) => Ok(m),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// Read the CPU controller of `dir` (quota and throttling counters).
pub fn read_cpu(version: Version, dir: &Path) -> Option<CgroupCpu> {
    if !dir.join("cpu.stat").is_file() {
        return None;
    }
    let mut src = sources();
    let mut errors = Vec::new();
    let dir = dir.to_string_lossy();
    let result = match version {
        Version::V1 => hostprobe::cgroups::read_cpu_v1(&mut src, &dir, &mut errors),
        Version::V2 => hostprobe::cgroups::read_cpu_v2(&mut src, &dir, &mut errors),
    };
    result.ok().flatten()
}

/// Read `memory.pressure` in `dir` (`None` when absent: PSI disabled, or not a v2 cgroup).
pub fn read_memory_pressure(dir: &Path) -> Option<PressureFigures> {
    let path = dir.join("memory.pressure");
    let text = std::fs::read_to_string(&path).ok()?;
    let file = hostprobe::system::parse_pressure(&text, &path).ok()?;
    let some = file.some.as_ref()?;
    Some(PressureFigures {
        some_avg10: some.avg10_percent,
        some_total_usec: some.total_usec,
        full_avg10: file.full.as_ref().map(|f| f.avg10_percent),
        full_total_usec: file.full.as_ref().map(|f| f.total_usec),
    })
}

/// Parse a v2 `memory.events` file into (high, max, oom, oom_kill); missing keys are 0.
pub fn read_memory_events(dir: &Path) -> Option<MemoryEventCounts> {
    let path = dir.join("memory.events");
    let text = std::fs::read_to_string(&path).ok()?;
    let map = hostprobe::cgroups::parse_flat_keyed(&text, &path).ok()?;
    let get = |k: &str| map.get(k).copied().unwrap_or(0);
    Some(MemoryEventCounts {
        high: get("high"),
        max: get("max"),
        oom: get("oom"),
        oom_kill: get("oom_kill"),
    })
}

/// The v2 `memory.events` counters the triggers look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEventCounts {
    pub high: u64,
    pub max: u64,
    pub oom: u64,
    pub oom_kill: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirs_under_a_hierarchy() {
        assert_eq!(dir_under(Path::new("/r"), "/a/b"), PathBuf::from("/r/a/b"));
        assert_eq!(dir_under(Path::new("/r"), "/"), PathBuf::from("/r"));
    }
}
