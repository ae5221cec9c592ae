//! Whole collections of the fixture trees under `tests/fixtures/` (see the README there): the
//! same code that reads the live `/`, rooted at a directory that stands for a Kubernetes node.

use std::path::PathBuf;
use std::time::Duration;

use hostprobe::model::*;
use hostprobe::{CollectOptions, Root, Target, collect};

const UID1: &str = "0c3ab2e4-1f5d-4c6b-9a7e-2d8f1b3c4e5a";
const UID2: &str = "7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
const UID3: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const ID1: &str = "8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
const ID2: &str = "11111111111111111111111111111111111111111111111111111111abcdef01";
const ID3: &str = "d00dfeedd00dfeedd00dfeedd00dfeedd00dfeedd00dfeedd00dfeedd00dfeed";
const MIB: u64 = 1024 * 1024;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn snapshot_of(name: &str, target: Target) -> (Snapshot, Vec<(String, hostprobe::RawFile)>) {
    let options = CollectOptions {
        root: Root::new(fixture(name)),
        target,
        cpu_sample: Duration::ZERO,
        capture_raw: true,
        ..CollectOptions::default()
    };
    let collection = collect(&options).expect("collecting a fixture tree");
    for run in &collection.snapshot.collectors {
        let error = run.error.as_deref().unwrap_or("");
        assert!(
            !error.contains("internal error"),
            "{name}: collector {} panicked: {error}",
            run.name
        );
    }
    (collection.snapshot, collection.raw_files)
}

fn status(s: &Snapshot, name: &str) -> CollectorStatus {
    s.collector(name)
        .unwrap_or_else(|| panic!("no collector {name}"))
        .status
}

fn pod_paths(driver: &str) -> [String; 3] {
    let u = |uid: &str| uid.replace('-', "_");
    if driver == "systemd" {
        [
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID1}.scope",
                u(UID1)
            ),
            format!(
                "/kubepods.slice/kubepods-pod{}.slice/crio-{ID2}.scope",
                u(UID2)
            ),
            format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/docker-{ID3}.scope",
                u(UID3)
            ),
        ]
    } else {
        [
            format!("/kubepods/burstable/pod{UID1}/{ID1}"),
            format!("/kubepods/pod{UID2}/crio-{ID2}"),
            format!("/kubepods/besteffort/pod{UID3}/{ID3}"),
        ]
    }
}

/// Everything that is the same in the four node trees.
fn check_node(s: &Snapshot, version: CgroupVersion, driver: &str) {
    assert_eq!(s.schema, "triage.snapshot/v1");
    for name in [
        "system",
        "memory",
        "processes",
        "mounts",
        "filesystems",
        "block_devices",
        "cgroups",
        "conntrack",
        "network",
        "kernel_log",
    ] {
        assert_eq!(
            status(s, name),
            CollectorStatus::Ok,
            "collector {name}: {:?}",
            s.collector(name)
        );
    }

    let sys = s.system.as_ref().expect("system");
    assert_eq!(sys.hostname.as_deref(), Some("fixture-node"));
    assert_eq!(sys.cpu_count, 4);
    assert_eq!(sys.boot_time_unix_seconds, Some(1_700_000_000));
    let load = sys.load.as_ref().expect("load");
    assert_eq!((load.load1, load.total_tasks), (9.5, 800));
    let cpu_psi = sys.pressure.cpu.as_ref().expect("cpu PSI");
    assert_eq!(cpu_psi.some.as_ref().map(|l| l.avg10_percent), Some(12.5));
    assert!(
        cpu_psi.full.is_none(),
        "old kernels have no `full` line for cpu"
    );
    assert_eq!(
        sys.pressure
            .memory
            .as_ref()
            .and_then(|m| m.full.as_ref())
            .map(|l| l.total_usec),
        Some(234_567)
    );
    let vm = sys.vmstat.as_ref().expect("vmstat");
    assert_eq!((vm.oom_kill, vm.pgmajfault), (Some(3), Some(1234)));
    let fh = sys.file_handles.as_ref().expect("file-nr");
    assert_eq!((fh.allocated, fh.max), (2048, 1_048_576));

    let mem = s.memory.as_ref().expect("memory");
    assert_eq!(mem.total_bytes, 8_000_000 * 1024);
    assert_eq!(mem.available_bytes, Some(600_000 * 1024));

    // Processes: lifetime %CPU (no sample), users from /etc/passwd, zombie counted.
    let ps = &s.process_summary;
    assert_eq!(ps.total, 6);
    assert_eq!(ps.zombies, 1);
    assert_eq!(ps.cpu_percent_basis, CpuPercentBasis::Lifetime);
    let page = hostprobe::page_size_bytes();
    let java = s.process(4242).expect("java");
    assert_eq!(java.user.as_deref(), Some("app"));
    assert_eq!(java.rss_bytes, 102_400 * page);
    assert_eq!(java.cpu_percent, 50.0, "2500 s of CPU over 5000 s of life");
    assert_eq!(java.threads, 42);
    assert_eq!(java.namespace_pid, Some(1));
    assert_eq!(
        java.command,
        "java -Xmx400m -Dpassword=hunter2 -jar app.jar"
    );
    assert_eq!(java.start_time.as_deref(), Some("2023-11-14T23:36:40Z"));
    assert_eq!(java.cgroup.as_deref(), Some(pod_paths(driver)[0].as_str()));
    assert_eq!(s.process(4500).expect("zombie").command, "[defunct]");
    assert_eq!(
        s.process(4400).expect("python").user.as_deref(),
        Some("nobody")
    );
    assert_eq!(ps.pids_by_cpu[0], 4242);
    assert_eq!(&ps.pids_by_memory[..2], &[4242, 4400]);

    // cgroups: the three pods, parsed identities, limits, working set, throttling.
    let paths = pod_paths(driver);
    let pod = |i: usize| {
        s.cgroup(&paths[i]).unwrap_or_else(|| {
            panic!(
                "no cgroup {}; have {:?}",
                paths[i],
                s.cgroups.iter().map(|c| &c.path).collect::<Vec<_>>()
            )
        })
    };
    let (p1, p2, p3) = (pod(0), pod(1), pod(2));
    for (c, uid, id) in [(p1, UID1, ID1), (p2, UID2, ID2), (p3, UID3, ID3)] {
        assert_eq!(c.version, version, "{}", c.path);
        let ident = c.container.as_ref().expect("container identity");
        assert_eq!(ident.pod_uid.as_deref(), Some(uid));
        assert_eq!(ident.container_id.as_deref(), Some(id));
        assert_eq!(ident.cgroup_driver.as_deref(), Some(driver));
        assert!(c.errors.is_empty(), "{}: {:?}", c.path, c.errors);
    }
    let qos: Vec<_> = [p1, p2, p3]
        .iter()
        .map(|c| c.container.as_ref().and_then(|i| i.qos_class.clone()))
        .collect();
    assert_eq!(
        qos,
        [
            Some("burstable".to_string()),
            Some("guaranteed".into()),
            Some("besteffort".into())
        ]
    );
    let runtimes: Vec<_> = [p1, p2, p3]
        .iter()
        .map(|c| c.container.as_ref().and_then(|i| i.runtime.clone()))
        .collect();
    if driver == "systemd" {
        assert_eq!(
            runtimes,
            [
                Some("containerd".to_string()),
                Some("cri-o".into()),
                Some("docker".into())
            ]
        );
    } else {
        // cgroupfs leaves are bare IDs, except CRI-O's `crio-` prefix.
        assert_eq!(runtimes, [None, Some("cri-o".to_string()), None]);
    }
    assert_eq!(p3.pids, vec![4400, 4401, 4500]);

    let m1 = p1.memory.as_ref().expect("pod 1 memory");
    assert_eq!(m1.limit_bytes, Some(512 * MIB));
    assert_eq!(m1.usage_bytes, 450 * MIB);
    assert_eq!(m1.working_set_bytes, 400 * MIB);
    assert_eq!(m1.oom_kills, Some(1));
    let c1 = p1.cpu.as_ref().expect("pod 1 cpu");
    assert_eq!(
        (c1.quota_usec, c1.period_usec, c1.limit_cores),
        (Some(50_000), Some(100_000), Some(0.5))
    );
    assert_eq!(
        (c1.nr_periods, c1.nr_throttled, c1.throttled_usec),
        (Some(1000), Some(250), Some(12_345_678))
    );
    assert_eq!(c1.usage_usec, Some(2_500_000_000));

    let m2 = p2.memory.as_ref().expect("pod 2 memory");
    assert_eq!(m2.limit_bytes, None, "no limit is null, not a huge number");
    assert_eq!(
        m2.working_set_bytes, 0,
        "inactive_file above usage floors at 0"
    );
    assert_eq!(p2.cpu.as_ref().and_then(|c| c.quota_usec), None);

    let m3 = p3.memory.as_ref().expect("pod 3 memory");
    assert_eq!(m3.limit_bytes, Some(256 * MIB));
    assert_eq!(m3.oom_kills, Some(2));
    assert_eq!(p3.cpu.as_ref().and_then(|c| c.limit_cores), Some(2.0));

    match version {
        CgroupVersion::V2 => {
            assert_eq!(m1.events_local.as_ref().and_then(|e| e.max), Some(12));
            assert_eq!(m3.high_bytes, Some(240 * MIB));
            assert_eq!(m1.high_bytes, None);
            let psi = p3
                .pressure
                .as_ref()
                .and_then(|p| p.memory.as_ref())
                .and_then(|m| m.some.as_ref())
                .expect("pod 3 memory PSI");
            assert_eq!((psi.avg10_percent, psi.avg60_percent), (72.5, 40.0));
            assert_eq!(
                p2.cpu.as_ref().and_then(|c| c.nr_periods),
                None,
                "absent counters stay null"
            );
        }
        CgroupVersion::V1 => {
            assert_eq!(m1.failcnt, Some(7));
            assert_eq!(m1.oom_control.as_ref().and_then(|o| o.oom_kill), Some(1));
            assert_eq!(m3.failcnt, Some(300));
            assert_eq!(c1.shares, Some(512));
            assert!(
                s.cgroups.iter().all(|c| c.version == CgroupVersion::V1),
                "the empty unified hierarchy adds no entry"
            );
            assert!(p1.pressure.is_none());
        }
    }

    // conntrack: header by name; the two trees differ in header and CPU count.
    let ct = s.conntrack.as_ref().expect("conntrack");
    assert!(ct.loaded);
    assert_eq!(
        (ct.count, ct.max, ct.buckets),
        (Some(1000), Some(1200), Some(300))
    );
    let st = ct.stats.as_ref().expect("stats");
    match version {
        CgroupVersion::V2 => {
            assert_eq!(st.cpus, 2);
            assert_eq!(
                (st.drop, st.early_drop, st.insert_failed, st.invalid),
                (Some(12), Some(3), Some(48), Some(10))
            );
            assert_eq!(st.columns.get("clashres"), Some(&5));
            assert_eq!(
                st.columns.get("entries"),
                Some(&1000),
                "entries is global, not summed"
            );
        }
        CgroupVersion::V1 => {
            assert_eq!(st.cpus, 4);
            assert_eq!(
                (st.drop, st.insert_failed, st.invalid),
                (Some(4), Some(8), Some(4))
            );
            assert!(st.columns.contains_key("searched") && st.columns.contains_key("delete_list"));
            assert_eq!(st.columns.get("entries"), Some(&100));
        }
    }

    let net = s.network.as_ref().expect("network");
    let tcp = net.sockets.tcp.as_ref().expect("tcp");
    assert_eq!(tcp.total, 4);
    assert_eq!(
        (
            tcp.by_state["LISTEN"],
            tcp.by_state["ESTABLISHED"],
            tcp.by_state["TIME_WAIT"]
        ),
        (1, 2, 1)
    );
    assert!(net.sockets.tcp6.is_none(), "missing table is null");
    assert_eq!(net.sockets.udp.as_ref().map(|u| u.total), Some(2));
    assert_eq!(
        net.interfaces
            .iter()
            .find(|i| i.name == "eth0")
            .map(|i| i.rx_dropped),
        Some(42)
    );

    let klog = s.kernel_log.as_ref().expect("kernel log");
    assert_eq!(klog.records_read, 6);
    assert_eq!(klog.oom_lines.len(), 3);
    assert_eq!(klog.conntrack_full_lines.len(), 1);
    let kill = &klog.oom_kills[0];
    assert_eq!(
        (kill.pid, kill.task.as_deref(), kill.uid),
        (Some(4242), Some("java"), Some(1000))
    );
    assert_eq!(kill.oom_memcg.as_deref(), Some(paths[0].as_str()));
    assert_eq!(kill.anon_rss_bytes, Some(524_288 * 1024));

    // df view: real, tmpfs, octal-escaped; pseudo filesystems and the bind mount of / left out.
    let points: Vec<&str> = s
        .filesystems
        .iter()
        .map(|f| f.mount_point.as_str())
        .collect();
    let mut expected = vec!["/", "/run", "/mnt/with space"];
    if version == CgroupVersion::V1 {
        expected.push("/sys/fs/cgroup"); // the tmpfs holding the v1 hierarchies, as df shows it
    }
    assert_eq!(points, expected);
    assert!(
        s.filesystems
            .iter()
            .all(|f| f.size_bytes > 0 && f.available_bytes <= f.size_bytes)
    );
    assert!(
        s.mounts
            .iter()
            .any(|m| m.mount_point == "/mnt/with space" && m.fs_type == "tmpfs")
    );

    let names: Vec<&str> = s.block_devices.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["sda", "sda1"],
        "the unused loop device is left out"
    );
    let sda = &s.block_devices[0];
    assert_eq!(
        (sda.size_bytes, sda.rotational, sda.model.as_deref()),
        (209_715_200 * 512, Some(false), Some("QEMU HARDDISK"))
    );
    assert_eq!(s.block_devices[1].parent.as_deref(), Some("sda"));
    assert_eq!(s.block_devices[1].mount_points, vec!["/"]);
}

#[test]
fn cgroup_v2_systemd_driver() {
    let (s, raw) = snapshot_of("cgroup-v2-systemd", Target::Host);
    check_node(&s, CgroupVersion::V2, "systemd");
    assert!(s.cgroup("/init.scope").is_some_and(|c| c.pids == vec![1]));
    // Raw sources kept for the bundle, named by their path in the target.
    let raw_paths: Vec<&str> = raw.iter().map(|(_, r)| r.path.as_str()).collect();
    for expected in [
        "/proc/meminfo",
        "/proc/net/stat/nf_conntrack",
        "/proc/self/mountinfo",
    ] {
        assert!(
            raw_paths.contains(&expected),
            "{expected} not kept raw: {raw_paths:?}"
        );
    }
    assert!(
        raw_paths
            .iter()
            .any(|p| p.ends_with("/memory.events.local"))
    );
    let memory_run = s.collector("memory").expect("memory run");
    assert_eq!(memory_run.source_files, vec!["/proc/meminfo"]);
}

#[test]
fn cgroup_v2_cgroupfs_driver() {
    let (s, _) = snapshot_of("cgroup-v2-cgroupfs", Target::Host);
    check_node(&s, CgroupVersion::V2, "cgroupfs");
    let root = s.cgroup("/").expect("pid 1 sits in the root cgroup");
    assert!(root.memory.is_none(), "the v2 root has no memory.current");
    assert_eq!(
        root.cpu.as_ref().and_then(|c| c.usage_usec),
        Some(900_000_000)
    );
}

#[test]
fn cgroup_v1_systemd_driver() {
    let (s, _) = snapshot_of("cgroup-v1-systemd", Target::Host);
    check_node(&s, CgroupVersion::V1, "systemd");
}

#[test]
fn cgroup_v1_cgroupfs_driver() {
    let (s, _) = snapshot_of("cgroup-v1-cgroupfs", Target::Host);
    check_node(&s, CgroupVersion::V1, "cgroupfs");
    let root = s.cgroup("/").expect("root cgroup");
    assert_eq!(
        root.memory.as_ref().map(|m| m.limit_bytes),
        Some(None),
        "v1 root: unlimited"
    );
    assert_eq!(
        root.cpu.as_ref().and_then(|c| c.quota_usec),
        None,
        "cfs_quota_us -1 is unlimited"
    );
}

#[test]
fn pid_target_reads_the_process_views() {
    let (s, _) = snapshot_of("cgroup-v2-systemd", Target::Pid(4400));
    assert_eq!(s.target, "pid:4400");
    let pids: Vec<u32> = s
        .processes
        .iter()
        .map(|p| p.pid)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        pids,
        vec![4400, 4401, 4500],
        "the process and its descendants only"
    );
    assert_eq!(
        s.process(4400).and_then(|p| p.user.as_deref()),
        Some("worker"),
        "user names from the container's /etc/passwd"
    );
    assert_eq!(s.cgroups.len(), 1);
    assert_eq!(s.cgroups[0].path, pod_paths("systemd")[2]);
    // Its mount namespace, its root for statvfs, its network namespace.
    assert_eq!(s.mounts.len(), 4);
    assert_eq!(s.mounts[0].fs_type, "overlay");
    let points: Vec<&str> = s
        .filesystems
        .iter()
        .map(|f| f.mount_point.as_str())
        .collect();
    assert_eq!(points, vec!["/", "/dev", "/etc/hosts"]);
    let ct = s.conntrack.as_ref().expect("conntrack");
    assert_eq!(
        ct.count,
        Some(42),
        "count of the process's namespace from the entries column"
    );
    assert_eq!(ct.max, Some(1200));
    assert_eq!(ct.stats.as_ref().and_then(|st| st.insert_failed), Some(3));
    assert_eq!(
        s.network
            .as_ref()
            .and_then(|n| n.sockets.tcp.as_ref())
            .map(|t| t.total),
        Some(1)
    );
}

#[test]
fn a_missing_pid_is_an_error_for_the_whole_command() {
    let options = CollectOptions {
        root: Root::new(fixture("cgroup-v2-systemd")),
        target: Target::Pid(999_999),
        ..CollectOptions::default()
    };
    let err = collect(&options).expect_err("no such process");
    assert!(err.to_string().contains("999999"), "{err}");
}

#[test]
fn conntrack_not_loaded_is_recorded_as_absent() {
    let (s, _) = snapshot_of("no-conntrack", Target::Host);
    let ct = s.conntrack.as_ref().expect("the section is present");
    assert!(!ct.loaded);
    assert_eq!((ct.count, ct.max), (None, None));
    let run = s.collector("conntrack").expect("run");
    assert_eq!(run.status, CollectorStatus::Skipped);
    assert!(
        run.error.as_deref().unwrap_or("").contains("not loaded"),
        "{run:?}"
    );
    let json = serde_json::to_value(&s).expect("json");
    assert!(json["conntrack"]["count"].is_null());
}

#[test]
fn malformed_files_are_recorded_per_collector_and_never_stop_the_rest() {
    let (s, _) = snapshot_of("malformed", Target::Host);
    let err = |name: &str| {
        s.collector(name)
            .and_then(|c| c.error.clone())
            .unwrap_or_default()
    };

    assert_eq!(status(&s, "memory"), CollectorStatus::Failed);
    assert!(
        err("memory").contains("meminfo line 1"),
        "{}",
        err("memory")
    );
    assert!(s.memory.is_none());

    assert_eq!(status(&s, "system"), CollectorStatus::Ok);
    let sys = s.system.as_ref().expect("system survives");
    assert!(sys.load.is_none() && sys.file_handles.is_none() && sys.pressure.memory.is_none());
    assert!(sys.pressure.cpu.is_some());
    assert!(
        err("system").contains("loadavg") && err("system").contains("file-nr"),
        "{}",
        err("system")
    );

    assert_eq!(status(&s, "processes"), CollectorStatus::Ok);
    assert_eq!(
        s.process_summary.unreadable, 2,
        "bad stat of 4300 and bad cgroup of 4400"
    );
    assert!(
        err("processes").contains("/proc/4300/stat"),
        "{}",
        err("processes")
    );
    assert!(s.process(4242).is_some());

    assert_eq!(status(&s, "mounts"), CollectorStatus::Ok);
    assert!(err("mounts").contains("line 8"), "{}", err("mounts"));
    assert!(
        s.mounts.iter().any(|m| m.fs_type == "cgroup2"),
        "the good lines are kept"
    );

    let pod = s
        .cgroup(&pod_paths("systemd")[0])
        .expect("the pod with bad files is still listed");
    assert!(
        pod.errors.iter().any(|e| e.contains("memory.max")),
        "{:?}",
        pod.errors
    );
    assert!(
        pod.errors.iter().any(|e| e.contains("cpu.stat")),
        "{:?}",
        pod.errors
    );
    let memory = pod.memory.as_ref().expect("usage still read");
    assert_eq!((memory.usage_bytes, memory.limit_bytes), (450 * MIB, None));
    assert_eq!(pod.cpu.as_ref().and_then(|c| c.quota_usec), Some(50_000));

    assert_eq!(status(&s, "conntrack"), CollectorStatus::Failed);
    assert!(
        err("conntrack").contains("not hexadecimal"),
        "{}",
        err("conntrack")
    );

    assert_eq!(status(&s, "network"), CollectorStatus::Ok);
    let net = s.network.as_ref().expect("network");
    assert!(net.sockets.tcp.is_none() && net.sockets.udp.is_some());
    assert!(
        err("network").contains("tcp") && err("network").contains("dev"),
        "{}",
        err("network")
    );

    assert_eq!(status(&s, "kernel_log"), CollectorStatus::Ok);
    assert_eq!(s.kernel_log.as_ref().map(|k| k.records_read), Some(0));
    assert!(
        err("block_devices").contains("size"),
        "{}",
        err("block_devices")
    );

    // The document is still complete and serialisable.
    let json = serde_json::to_string(&s).expect("json");
    let back: Snapshot = serde_json::from_str(&json).expect("round trip");
    assert_eq!(back, s);
}

/// Every field name the snapshot can hold is documented in docs/snapshot-schema.md.
#[test]
fn schema_doc_covers_every_field() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/snapshot-schema.md"),
    )
    .expect("docs/snapshot-schema.md");
    let (v2, _) = snapshot_of("cgroup-v2-systemd", Target::Host);
    let (v1, _) = snapshot_of("cgroup-v1-systemd", Target::Host);
    let mut with_deltas = v2.clone();
    with_deltas.deltas = Some(hostprobe::collect::compute_deltas(&v2, &v2, 1000));
    with_deltas.interval_ms = Some(1000);
    let mut missing = std::collections::BTreeSet::new();
    fn walk(v: &serde_json::Value, doc: &str, missing: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (key, child) in map {
                    let documented = doc.contains(&format!("`{key}`"))
                        || doc.contains(&format!(".{key}`"))
                        || doc.contains(&format!("`{key}."))
                        || doc.contains(&format!(".{key}."))
                        || doc.contains(&format!(".{key}[]"));
                    if !documented {
                        missing.insert(key.clone());
                    }
                    // Keys of these maps are data (state letters, column names), not fields.
                    if !matches!(key.as_str(), "by_state" | "columns") {
                        walk(child, doc, missing);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, doc, missing)),
            _ => {}
        }
    }
    for s in [&with_deltas, &v1] {
        walk(&serde_json::to_value(s).expect("json"), &doc, &mut missing);
    }
    assert!(
        missing.is_empty(),
        "fields not in docs/snapshot-schema.md: {missing:?}"
    );
}
