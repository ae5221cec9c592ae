//! The processes of the node: which cgroup each one is in and whether it is a HotSpot JVM or a
//! Go program, remembered by (pid, start time) so a process is classified once, not every pass.
//!
//! A JVM is recognised by `libjvm.so` in its memory map (the same test the attach client makes);
//! a Go program by the `.go.buildinfo` section of its executable, found in the ELF section
//! headers (a few kilobytes read, cached per executable inode).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::cgroupfs::Version;

/// What runs in a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Jvm,
    Go,
    Other,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jvm => "jvm",
            Kind::Go => "go",
            Kind::Other => "other",
        }
    }
}

/// One process, as of the last scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub start_time: u64,
    pub comm: String,
    pub kind: Kind,
    /// When the kind was decided: a young "other" is looked at again (the launcher maps
    /// libjvm.so some milliseconds after exec).
    pub classified_at: std::time::Instant,
    /// The memory cgroup path (`/kubepods/…`), as `/proc/<pid>/cgroup` names it.
    pub cgroup: String,
    /// v1: the cpu controller's path (usually the same).
    pub cpu_cgroup: Option<String>,
    /// The unified (v2) path: where PSI lives on a hybrid host.
    pub unified_cgroup: Option<String>,
}

/// How long a process classified as neither JVM nor Go is classified again at every scan.
const RECHECK_OTHER: std::time::Duration = std::time::Duration::from_secs(10);

/// Remembers classifications between scans.
#[derive(Debug, Default)]
pub struct ProcessScanner {
    known: HashMap<u32, ProcessInfo>,
    go_by_inode: HashMap<(u64, u64), bool>,
}

/// Start time (field 22 of `/proc/<pid>/stat`, clock ticks since boot) and command name. The
/// name is part of a process's identity here because `exec` keeps the pid and start time: a
/// shell that execs a JVM must be classified again.
fn start_time_and_comm(proc_dir: &Path) -> Option<(u64, String)> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let after = &stat[close + 1..];
    Some((after.split_whitespace().nth(19)?.parse().ok()?, comm))
}

/// The memory cgroup path of a process from its `/proc/<pid>/cgroup` text.
pub fn memory_cgroup_of(text: &str, version: Version) -> Option<String> {
    let lines = hostprobe::cgroups::parse_proc_cgroup(text, Path::new("cgroup")).ok()?;
    match version {
        Version::V1 => lines
            .iter()
            .find(|l| l.hierarchy_id != 0 && l.controllers.iter().any(|c| c == "memory"))
            .map(|l| l.path.clone()),
        Version::V2 => lines
            .iter()
            .find(|l| l.hierarchy_id == 0 && l.controllers.is_empty())
            .map(|l| l.path.clone()),
    }
}

/// The agent's own cgroup namespace, when it has one: containers on cgroup v2 nodes usually do,
/// and `/proc/<pid>/cgroup` then shows other containers' paths relative to the agent's own
/// cgroup (`/../../kubepods-…/…`). Those are turned back into host paths here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupNamespace {
    /// The host path of the namespace's root; `None`: the agent sees host paths already.
    pub root: Option<String>,
}

/// Resolve `.` and `..` in an absolute cgroup path; `None` when it climbs above the root.
pub fn normalize_cgroup_path(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

impl CgroupNamespace {
    /// Find where the agent's cgroup namespace sits: its own cgroup as `/proc/self/cgroup` shows
    /// it, compared with the directory of the mounted host hierarchy whose `cgroup.procs` lists
    /// the agent's pid (searched breadth first, at most `max_dirs` directories).
    pub fn detect(proc_root: &Path, memory_root: &Path, version: Version, max_dirs: usize) -> Self {
        let me = std::process::id();
        let Some(shown) = std::fs::read_to_string(proc_root.join("self/cgroup"))
            .ok()
            .and_then(|t| memory_cgroup_of(&t, version))
        else {
            return CgroupNamespace::default();
        };
        let lists_me = |dir: &Path| {
            std::fs::read_to_string(dir.join("cgroup.procs"))
                .map(|t| t.lines().any(|l| l.trim().parse::<u32>().ok() == Some(me)))
                .unwrap_or(false)
        };
        if !shown.contains("..") && lists_me(&crate::cgroupfs::dir_under(memory_root, &shown)) {
            return CgroupNamespace::default();
        }
        let mut queue = std::collections::VecDeque::from([String::new()]);
        let mut visited = 0usize;
        while let Some(relative) = queue.pop_front() {
            visited += 1;
            if visited > max_dirs {
                break;
            }
            let dir = crate::cgroupfs::dir_under(memory_root, &relative);
            if lists_me(&dir) {
                let host = if relative.is_empty() {
                    "/".to_string()
                } else {
                    relative
                };
                let root = if shown == "/" {
                    Some(host)
                } else {
                    host.strip_suffix(shown.as_str()).map(|r| {
                        if r.is_empty() {
                            "/".to_string()
                        } else {
                            r.to_string()
                        }
                    })
                };
                tracing::info!(root = ?root, "the agent runs in a cgroup namespace; mapping paths to the host's");
                return CgroupNamespace { root };
            }
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for e in entries.filter_map(|e| e.ok()) {
                    if e.file_type().is_ok_and(|t| t.is_dir())
                        && let Some(name) = e.file_name().to_str()
                    {
                        queue.push_back(format!("{relative}/{name}"));
                    }
                }
            }
        }
        CgroupNamespace::default()
    }

    /// The host path of a path read from `/proc/<pid>/cgroup`.
    pub fn to_host(&self, path: &str) -> Option<String> {
        match &self.root {
            None => Some(path.to_string()),
            Some(root) => {
                normalize_cgroup_path(&format!("{}/{}", root.trim_end_matches('/'), path))
            }
        }
    }
}

impl ProcessScanner {
    /// Scan `proc_root` (normally `/proc`): every process with its cgroup and kind. Processes
    /// that exit during the scan are skipped. At most `max` processes.
    pub fn scan(
        &mut self,
        proc_root: &Path,
        version: Version,
        namespace: &CgroupNamespace,
        max: usize,
    ) -> Vec<ProcessInfo> {
        let Ok(entries) = std::fs::read_dir(proc_root) else {
            return Vec::new();
        };
        let mut seen = HashMap::new();
        for entry in entries.filter_map(|e| e.ok()) {
            if seen.len() >= max {
                break;
            }
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            let Some((started, comm)) = start_time_and_comm(&dir) else {
                continue;
            };
            if let Some(known) = self
                .known
                .get(&pid)
                .filter(|k| k.start_time == started && k.comm == comm)
                .filter(|k| k.kind != Kind::Other || k.classified_at.elapsed() >= RECHECK_OTHER)
            {
                seen.insert(pid, known.clone());
                continue;
            }
            let first_classified = self
                .known
                .get(&pid)
                .filter(|k| k.start_time == started && k.comm == comm)
                .map(|k| k.classified_at)
                .unwrap_or_else(std::time::Instant::now);
            let Ok(text) = std::fs::read_to_string(dir.join("cgroup")) else {
                continue;
            };
            let Some(cgroup) = memory_cgroup_of(&text, version).and_then(|p| namespace.to_host(&p))
            else {
                continue;
            };
            let lines = hostprobe::cgroups::parse_proc_cgroup(&text, Path::new("cgroup"))
                .unwrap_or_default();
            let cpu_cgroup = lines
                .iter()
                .find(|l| l.hierarchy_id != 0 && l.controllers.iter().any(|c| c == "cpu"))
                .and_then(|l| namespace.to_host(&l.path));
            let unified_cgroup =
                memory_cgroup_of(&text, Version::V2).and_then(|p| namespace.to_host(&p));
            let kind = self.classify(&dir);
            seen.insert(
                pid,
                ProcessInfo {
                    pid,
                    start_time: started,
                    comm,
                    kind,
                    classified_at: first_classified,
                    cgroup,
                    cpu_cgroup,
                    unified_cgroup,
                },
            );
        }
        self.known = seen;
        let mut out: Vec<ProcessInfo> = self.known.values().cloned().collect();
        out.sort_by_key(|p| p.pid);
        out
    }

    fn classify(&mut self, proc_dir: &Path) -> Kind {
        // Kernel threads have no executable and an empty map: skip the reads.
        if let Ok(maps) = read_prefix(&proc_dir.join("maps"), 8 << 20)
            && String::from_utf8_lossy(&maps).contains("/libjvm.so")
        {
            return Kind::Jvm;
        }
        let exe = proc_dir.join("exe");
        let Ok(meta) = std::fs::metadata(&exe) else {
            return Kind::Other;
        };
        use std::os::unix::fs::MetadataExt;
        let key = (meta.dev(), meta.ino());
        if self.go_by_inode.len() > 10_000 {
            self.go_by_inode.clear();
        }
        let is_go = *self
            .go_by_inode
            .entry(key)
            .or_insert_with(|| has_go_buildinfo(&exe).unwrap_or(false));
        if is_go { Kind::Go } else { Kind::Other }
    }
}

fn read_prefix(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// True when the 64-bit little-endian ELF file has a `.go.buildinfo` section (Go ≥ 1.13
/// binaries, stripped or not).
pub fn has_go_buildinfo(path: &Path) -> std::io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let mut header = [0u8; 64];
    if file.read_exact(&mut header).is_err() {
        return Ok(false);
    }
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Ok(false);
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as u64;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64_at = |b: &[u8], o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let shoff = u64_at(&header, 0x28);
    let shentsize = u16_at(&header, 0x3A);
    let shnum = u16_at(&header, 0x3C);
    let shstrndx = u16_at(&header, 0x3E);
    if shentsize < 64 || shnum == 0 || shnum > 4096 || shstrndx >= shnum {
        return Ok(false);
    }
    let mut table = vec![0u8; (shentsize * shnum) as usize];
    file.seek(SeekFrom::Start(shoff))?;
    if file.read_exact(&mut table).is_err() {
        return Ok(false);
    }
    let section = |i: u64| &table[(i * shentsize) as usize..((i + 1) * shentsize) as usize];
    let strtab = section(shstrndx);
    let (str_off, str_size) = (u64_at(strtab, 0x18), u64_at(strtab, 0x20).min(1 << 20));
    let mut names = vec![0u8; str_size as usize];
    file.seek(SeekFrom::Start(str_off))?;
    if file.read_exact(&mut names).is_err() {
        return Ok(false);
    }
    for i in 0..shnum {
        let name_off = u32_at(section(i), 0) as usize;
        if name_off >= names.len() {
            continue;
        }
        let name = &names[name_off..];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        if &name[..end] == b".go.buildinfo" {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Pod and container names from the runtime's OCI bundle annotations, when the runtime state is
/// readable under `runtime_root` (containerd: `…/io.containerd.runtime.v2.task/k8s.io/<id>/config.json`;
/// CRI-O: `…/containers/storage/overlay-containers/<id>/userdata/config.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerNames {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
}

/// Look the names of container `id` up under `runtime_root` (normally `/run`).
pub fn container_names(runtime_root: &Path, id: &str) -> Option<ContainerNames> {
    if !id.bytes().all(|b| b.is_ascii_hexdigit()) || id.is_empty() {
        return None;
    }
    let candidates = [
        runtime_root.join(format!(
            "containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json"
        )),
        runtime_root.join(format!(
            "containers/storage/overlay-containers/{id}/userdata/config.json"
        )),
    ];
    for path in candidates {
        let Ok(bytes) = read_prefix(&path, 4 << 20) else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let annotations = &doc["annotations"];
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| annotations[*k].as_str().map(str::to_string))
        };
        let names = ContainerNames {
            namespace: get(&[
                "io.kubernetes.cri.sandbox-namespace",
                "io.kubernetes.pod.namespace",
            ]),
            pod: get(&["io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"]),
            container: get(&[
                "io.kubernetes.cri.container-name",
                "io.kubernetes.container.name",
            ]),
        };
        if names != ContainerNames::default() {
            return Some(names);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_cgroup_lines() {
        let text = "12:memory:/kubepods/pod1/abc\n4:cpu,cpuacct:/x\n0::/user.slice\n";
        assert_eq!(
            memory_cgroup_of(text, Version::V1).as_deref(),
            Some("/kubepods/pod1/abc")
        );
        assert_eq!(
            memory_cgroup_of(text, Version::V2).as_deref(),
            Some("/user.slice")
        );
        assert_eq!(memory_cgroup_of("garbage", Version::V1), None);
    }

    #[test]
    fn paths_seen_from_a_cgroup_namespace_map_to_host_paths() {
        assert_eq!(
            normalize_cgroup_path("/a/./b/../c").as_deref(),
            Some("/a/c")
        );
        assert_eq!(normalize_cgroup_path("/../x"), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let memory = dir.path().join("memory");
        let agent = memory.join("kubepods/podA/agent");
        std::fs::create_dir_all(&agent).expect("mkdir");
        std::fs::create_dir_all(memory.join("kubepods/podB/app")).expect("mkdir");
        std::fs::write(
            agent.join("cgroup.procs"),
            format!("1\n{}\n", std::process::id()),
        )
        .expect("write");
        let proc_root = dir.path().join("proc");
        std::fs::create_dir_all(proc_root.join("self")).expect("mkdir");
        std::fs::write(proc_root.join("self/cgroup"), "0::/\n").expect("write");
        let ns = CgroupNamespace::detect(&proc_root, &memory, Version::V2, 1000);
        assert_eq!(ns.root.as_deref(), Some("/kubepods/podA/agent"));
        assert_eq!(
            ns.to_host("/../../podB/app").as_deref(),
            Some("/kubepods/podB/app")
        );
        assert_eq!(ns.to_host("/").as_deref(), Some("/kubepods/podA/agent"));
        // Without a namespace, paths are already the host's.
        std::fs::write(proc_root.join("self/cgroup"), "0::/kubepods/podA/agent\n").expect("write");
        let none = CgroupNamespace::detect(&proc_root, &memory, Version::V2, 1000);
        assert_eq!(none, CgroupNamespace::default());
        assert_eq!(none.to_host("/x").as_deref(), Some("/x"));
    }

    #[test]
    fn this_test_binary_is_not_go_and_sh_is_not_either() {
        let me = std::env::current_exe().expect("current exe");
        assert!(!has_go_buildinfo(&me).expect("readable"));
        assert!(!has_go_buildinfo(Path::new("/bin/sh")).expect("readable"));
    }

    #[test]
    fn names_from_containerd_and_crio_annotations() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = "a".repeat(64);
        let cd = dir.path().join(format!(
            "containerd/io.containerd.runtime.v2.task/k8s.io/{id}"
        ));
        std::fs::create_dir_all(&cd).expect("mkdir");
        std::fs::write(
            cd.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.sandbox-name":"cart-7d9f","io.kubernetes.cri.container-name":"app"}}"#,
        )
        .expect("write");
        let names = container_names(dir.path(), &id).expect("found");
        assert_eq!(names.namespace.as_deref(), Some("shop"));
        assert_eq!(names.pod.as_deref(), Some("cart-7d9f"));
        assert_eq!(names.container.as_deref(), Some("app"));
        let id2 = "b".repeat(64);
        let crio = dir.path().join(format!(
            "containers/storage/overlay-containers/{id2}/userdata"
        ));
        std::fs::create_dir_all(&crio).expect("mkdir");
        std::fs::write(
            crio.join("config.json"),
            r#"{"annotations":{"io.kubernetes.pod.namespace":"ns","io.kubernetes.pod.name":"p","io.kubernetes.container.name":"c"}}"#,
        )
        .expect("write");
        let names = container_names(dir.path(), &id2).expect("found");
        assert_eq!(names.container.as_deref(), Some("c"));
        assert_eq!(container_names(dir.path(), "../etc"), None);
        assert_eq!(container_names(dir.path(), &"c".repeat(64)), None);
    }
}
