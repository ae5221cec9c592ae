//! Snapshot fixtures built in code (so they always match the model) and stored as JSON under
//! `tests/fixtures/` for the CLI tests, the report screenshot and the benchmark. The values are
//! modelled on a real Kubernetes worker during a conntrack + OOM incident (`busy_node`) and on an
//! idle VM (`idle_host`).

#![allow(dead_code)]

use std::collections::BTreeMap;

use hostprobe::*;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

fn collectors(names: &[&str]) -> Vec<CollectorRun> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| CollectorRun {
            name: n.to_string(),
            status: CollectorStatus::Ok,
            error: None,
            duration_ms: 3 + i as u64 * 2,
            source_files: vec![],
        })
        .collect()
}

const ALL_COLLECTORS: &[&str] = &[
    "system",
    "memory",
    "processes",
    "filesystems",
    "mounts",
    "block_devices",
    "cgroups",
    "conntrack",
    "network",
    "kernel_log",
];

#[allow(clippy::too_many_arguments)] // one row of a process table, in its columns' order
fn process(
    pid: u32,
    ppid: u32,
    user: &str,
    state: &str,
    comm: &str,
    command: &str,
    cpu: f64,
    rss_mib: u64,
    threads: u32,
    total: u64,
) -> Process {
    let rss = rss_mib * MIB;
    Process {
        pid,
        ppid,
        uid: Some(if user == "root" { 0 } else { 1000 + pid % 7 }),
        user: Some(user.into()),
        state: state.into(),
        comm: comm.into(),
        command: command.into(),
        cpu_percent: cpu,
        cpu_time_ms: (cpu * 36_000.0) as u64 + u64::from(pid) * 13,
        rss_bytes: rss,
        vsz_bytes: rss * 3 + 200 * MIB,
        mem_percent: rss as f64 / total as f64 * 100.0,
        threads,
        start_after_boot_ms: 1000 * u64::from(pid),
        cgroup: Some("/kubepods.slice".into()),
        ..Default::default()
    }
}

fn summarise(processes: &[Process]) -> ProcessSummary {
    let mut by_state = BTreeMap::new();
    for p in processes {
        *by_state.entry(p.state.clone()).or_insert(0) += 1;
    }
    let mut by_cpu: Vec<&Process> = processes.iter().collect();
    by_cpu.sort_by(|a, b| {
        b.cpu_percent
            .total_cmp(&a.cpu_percent)
            .then(a.pid.cmp(&b.pid))
    });
    let mut by_mem: Vec<&Process> = processes.iter().collect();
    by_mem.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)));
    ProcessSummary {
        total: processes.len() as u64,
        threads_total: processes.iter().map(|p| u64::from(p.threads)).sum(),
        running: processes.iter().filter(|p| p.state == "R").count() as u64,
        uninterruptible: processes.iter().filter(|p| p.state == "D").count() as u64,
        zombies: processes.iter().filter(|p| p.state == "Z").count() as u64,
        by_state,
        cpu_percent_basis: CpuPercentBasis::Sampled,
        cpu_sample_ms: Some(1000),
        pids_by_cpu: by_cpu.iter().map(|p| p.pid).collect(),
        pids_by_memory: by_mem.iter().map(|p| p.pid).collect(),
        ..Default::default()
    }
}

fn fs(
    mount: &str,
    source: &str,
    fs_type: &str,
    size: u64,
    available: u64,
    inodes: u64,
    inodes_free: u64,
) -> Filesystem {
    let used = size.saturating_sub(available).saturating_sub(size / 20);
    Filesystem {
        mount_point: mount.into(),
        source: source.into(),
        fs_type: fs_type.into(),
        size_bytes: size,
        used_bytes: used,
        available_bytes: available,
        use_percent: Some(((used as f64 / (used + available) as f64) * 100.0).ceil()),
        inodes_total: inodes,
        inodes_used: inodes - inodes_free,
        inodes_free,
        read_only: false,
    }
}

fn psi(avg10: f64, avg60: f64, avg300: f64) -> PressureFile {
    PressureFile {
        some: Some(PressureLine {
            avg10_percent: avg10,
            avg60_percent: avg60,
            avg300_percent: avg300,
            total_usec: 91_234_567,
        }),
        full: Some(PressureLine {
            avg10_percent: avg10 / 2.0,
            avg60_percent: avg60 / 2.0,
            avg300_percent: avg300 / 2.0,
            total_usec: 41_234_567,
        }),
    }
}

fn pod_cgroup(pod_uid: &str, container_id: &str, qos: &str) -> (String, ContainerIdentity) {
    let uid_ = pod_uid.replace('-', "_");
    let path = format!(
        "/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid_}.slice/cri-containerd-{container_id}.scope"
    );
    (
        path,
        ContainerIdentity {
            pod_uid: Some(pod_uid.into()),
            container_id: Some(container_id.into()),
            runtime: Some("containerd".into()),
            qos_class: Some(qos.into()),
            cgroup_driver: Some("systemd".into()),
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn v2_cgroup(
    path: &str,
    id: Option<ContainerIdentity>,
    pids: Vec<u32>,
    limit: Option<u64>,
    usage: u64,
    inactive_file: u64,
    oom_kills: u64,
    max_events: u64,
    cpu_quota: Option<(u64, u64)>,
    periods: u64,
    throttled: u64,
    mem_psi: PressureFile,
    cpu_psi: PressureFile,
) -> Cgroup {
    let dir = format!("/sys/fs/cgroup{path}");
    let events = MemoryEvents {
        low: Some(0),
        high: Some(0),
        max: Some(max_events),
        oom: Some(oom_kills),
        oom_kill: Some(oom_kills),
        oom_group_kill: Some(0),
    };
    Cgroup {
        path: path.into(),
        version: CgroupVersion::V2,
        pids,
        container: id,
        memory: Some(CgroupMemory {
            source_dir: dir.clone(),
            limit_bytes: limit,
            high_bytes: None,
            usage_bytes: usage,
            working_set_bytes: usage.saturating_sub(inactive_file),
            inactive_file_bytes: Some(inactive_file),
            anon_bytes: Some(usage.saturating_sub(inactive_file) * 9 / 10),
            file_bytes: Some(inactive_file * 2),
            swap_bytes: Some(0),
            peak_bytes: Some(limit.unwrap_or(usage) - MIB),
            failcnt: None,
            events: Some(events.clone()),
            events_local: Some(events),
            oom_control: None,
            oom_kills: Some(oom_kills),
        }),
        cpu: Some(CgroupCpu {
            source_dir: dir,
            quota_usec: cpu_quota.map(|q| q.0),
            period_usec: Some(cpu_quota.map(|q| q.1).unwrap_or(100_000)),
            limit_cores: cpu_quota.map(|(q, p)| q as f64 / p as f64),
            weight: Some(79),
            shares: None,
            usage_usec: Some(8_812_345_678),
            user_usec: Some(7_012_345_678),
            system_usec: Some(1_800_000_000),
            nr_periods: Some(periods),
            nr_throttled: Some(throttled),
            throttled_usec: Some(throttled * 41_000),
            nr_bursts: Some(0),
            burst_usec: Some(0),
        }),
        pressure: Some(Pressure {
            cpu: Some(cpu_psi),
            memory: Some(mem_psi),
            io: Some(psi(0.1, 0.3, 0.2)),
        }),
        errors: vec![],
    }
}

/// A Kubernetes worker in trouble: conntrack table at 90 %, a Java pod at 96 % of its memory limit
/// and OOM-killed twice, heavy CPU throttling, a nearly full root filesystem, zombies.
pub fn busy_node() -> Snapshot {
    let total = 32 * GIB;
    let mut processes = vec![
        process(
            1,
            0,
            "root",
            "S",
            "systemd",
            "/sbin/init",
            0.1,
            12,
            1,
            total,
        ),
        process(
            612,
            1,
            "root",
            "S",
            "containerd",
            "/usr/bin/containerd",
            3.2,
            96,
            48,
            total,
        ),
        process(
            790,
            1,
            "root",
            "S",
            "kubelet",
            "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --container-runtime-endpoint=unix:///run/containerd/containerd.sock --node-ip=10.0.3.17",
            6.8,
            142,
            41,
            total,
        ),
        process(
            2301,
            2280,
            "1000",
            "S",
            "java",
            "java -XX:MaxRAMPercentage=90 -Xlog:gc* -jar /app/checkout-service.jar --spring.profiles.active=prod",
            187.5,
            1968,
            212,
            total,
        ),
        process(
            2455,
            2430,
            "101",
            "S",
            "nginx",
            "nginx: master process nginx -g daemon off;",
            0.0,
            9,
            1,
            total,
        ),
        process(
            2460,
            2455,
            "101",
            "S",
            "nginx",
            "nginx: worker process",
            11.4,
            38,
            1,
            total,
        ),
        process(
            2461,
            2455,
            "101",
            "S",
            "nginx",
            "nginx: worker process",
            10.9,
            37,
            1,
            total,
        ),
        process(
            2610,
            2590,
            "65532",
            "S",
            "coredns",
            "/coredns -conf /etc/coredns/Corefile",
            24.6,
            71,
            18,
            total,
        ),
        process(
            3120,
            3101,
            "999",
            "S",
            "postgres",
            "postgres: checkout checkout 10.244.1.23(52344) idle in transaction",
            2.1,
            310,
            1,
            total,
        ),
        process(
            3104,
            3101,
            "999",
            "D",
            "postgres",
            "postgres: walwriter",
            1.4,
            48,
            1,
            total,
        ),
        process(
            4090,
            4080,
            "1000",
            "R",
            "node",
            "node /srv/app/server.js --port 3000",
            97.3,
            812,
            11,
            total,
        ),
        process(
            5120,
            1,
            "root",
            "S",
            "node_exporter",
            "/usr/bin/prometheus-node-exporter --collector.conntrack",
            1.2,
            24,
            7,
            total,
        ),
        process(
            6001,
            5990,
            "1000",
            "S",
            "python3",
            "python3 /opt/batch/reconcile.py --workers 4",
            33.0,
            640,
            5,
            total,
        ),
    ];
    for i in 0..60u32 {
        processes.push(process(7000 + i, 612, "root", "S", "containerd-shim", &format!("/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id {:064x} -address /run/containerd/containerd.sock", u64::from(i) * 7919), 0.1 * f64::from(i % 3), 11 + u64::from(i % 5), 12, total));
    }
    for i in 0..3u32 {
        processes.push(process(
            8100 + i,
            6001,
            "1000",
            "Z",
            "python3",
            "[python3] <defunct>",
            0.0,
            0,
            1,
            total,
        ));
    }
    let summary = summarise(&processes);
    let (java_path, java_id) = pod_cgroup(
        "3f1c9a52-7b1e-4c8e-9a0d-2e5b6c7d8e9f",
        "9d2f4b1a7c3e5d6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f",
        "burstable",
    );
    let (nginx_path, nginx_id) = pod_cgroup(
        "a8b7c6d5-e4f3-4a2b-9c1d-0e9f8a7b6c5d",
        "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
        "besteffort",
    );
    let (dns_path, dns_id) = pod_cgroup(
        "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
        "7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e",
        "burstable",
    );
    let (node_path, node_id) = pod_cgroup(
        "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
        "burstable",
    );
    let cgroups = vec![
        v2_cgroup(
            &java_path,
            Some(java_id),
            vec![2301],
            Some(2 * GIB),
            2_090 * MIB,
            27 * MIB,
            2,
            118,
            Some((200_000, 100_000)),
            48_210,
            31_005,
            psi(64.2, 38.5, 12.1),
            psi(22.0, 31.4, 18.0),
        ),
        v2_cgroup(
            &node_path,
            Some(node_id),
            vec![4090],
            Some(1536 * MIB),
            1_250 * MIB,
            40 * MIB,
            0,
            0,
            Some((100_000, 100_000)),
            90_112,
            30_417,
            psi(0.0, 0.8, 0.4),
            psi(41.0, 36.2, 20.3),
        ),
        v2_cgroup(
            &dns_path,
            Some(dns_id),
            vec![2610],
            Some(170 * MIB),
            78 * MIB,
            5 * MIB,
            0,
            0,
            None,
            0,
            0,
            psi(0.0, 0.0, 0.0),
            psi(1.0, 0.8, 0.5),
        ),
        v2_cgroup(
            &nginx_path,
            Some(nginx_id),
            vec![2455, 2460, 2461],
            None,
            96 * MIB,
            12 * MIB,
            0,
            0,
            None,
            0,
            0,
            psi(0.0, 0.0, 0.0),
            psi(0.2, 0.1, 0.1),
        ),
        v2_cgroup(
            "/system.slice/kubelet.service",
            None,
            vec![790],
            None,
            410 * MIB,
            150 * MIB,
            0,
            0,
            None,
            0,
            0,
            psi(0.0, 0.0, 0.0),
            psi(0.5, 0.4, 0.2),
        ),
    ];
    let deltas = Deltas {
        interval_ms: 10_000,
        cgroups: vec![
            CgroupDelta {
                path: java_path.clone(),
                version: CgroupVersion::V2,
                nr_periods: Some(100),
                nr_throttled: Some(62),
                throttled_usec: Some(2_540_000),
                throttled_ratio: Some(0.62),
                usage_usec: Some(19_800_000),
                usage_cores: Some(1.98),
                memory_high_events: Some(0),
                memory_max_events: Some(14),
                memory_failcnt: None,
                oom_kills: Some(1),
            },
            CgroupDelta {
                path: node_path.clone(),
                version: CgroupVersion::V2,
                nr_periods: Some(100),
                nr_throttled: Some(21),
                throttled_usec: Some(610_000),
                throttled_ratio: Some(0.21),
                usage_usec: Some(9_700_000),
                usage_cores: Some(0.97),
                memory_high_events: Some(0),
                memory_max_events: Some(0),
                memory_failcnt: None,
                oom_kills: Some(0),
            },
        ],
        oom_kills: Some(1),
        pgmajfault: Some(7_240),
        pgmajfault_per_second: Some(724.0),
        conntrack: Some(ConntrackDelta {
            drop: Some(40),
            early_drop: Some(112),
            insert_failed: Some(12),
            invalid: Some(3),
            count_change: Some(1_214),
        }),
    };
    let line = |seq: u64, secs: u64, msg: &str| KernelLogLine {
        sequence: seq,
        since_boot_usec: secs * 1_000_000 + 123_456,
        time: Some(format!(
            "2024-05-14T09:{:02}:{:02}Z",
            10 + secs / 60 % 50,
            secs % 60
        )),
        priority: 4,
        message: msg.into(),
    };
    Snapshot {
        schema: SNAPSHOT_SCHEMA.into(),
        tool_version: "0.1.0".into(),
        target: "host".into(),
        root: "/".into(),
        started_at: "2024-05-14T09:41:07Z".into(),
        finished_at: "2024-05-14T09:41:18Z".into(),
        interval_ms: Some(10_000),
        system: Some(System {
            hostname: Some("ip-10-0-3-17.eu-west-1.compute.internal".into()),
            kernel_release: Some("6.1.0-18-cloud-amd64".into()),
            kernel_version: Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)".into()),
            os_pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            uptime_seconds: Some(1_209_733.4),
            boot_time_unix_seconds: Some(1_714_470_000),
            cpu_count: 8,
            load: Some(LoadAverage { load1: 18.42, load5: 14.10, load15: 9.87, runnable_tasks: 21, total_tasks: 1_412 }),
            cpu_times: Some(CpuTimes { user_ms: 512_000_000, nice_ms: 1_000, system_ms: 98_000_000, idle_ms: 4_100_000_000, iowait_ms: 12_000_000, irq_ms: 0, softirq_ms: 8_000_000, steal_ms: 2_000_000 }),
            cpu_busy_percent: Some(91.4),
            pressure: Pressure { cpu: Some(psi(38.0, 29.5, 14.2)), memory: Some(psi(12.0, 8.3, 3.1)), io: Some(psi(4.0, 3.2, 1.1)) },
            vmstat: Some(VmStat { oom_kill: Some(3), pgmajfault: Some(48_120_331), pgfault: Some(9_912_331_002), pswpin: Some(0), pswpout: Some(0) }),
            file_handles: Some(FileHandles { allocated: 851_424, unused: 0, max: 1_000_000 }),
            clock_ticks_per_second: 100,
            page_size_bytes: 4096,
        }),
        memory: Some(Memory {
            total_bytes: total,
            free_bytes: 610 * MIB,
            available_bytes: Some(2_150 * MIB),
            used_bytes: 28 * GIB,
            buffers_bytes: 80 * MIB,
            cache_bytes: 3 * GIB,
            cached_bytes: 2_700 * MIB,
            shared_bytes: Some(120 * MIB),
            slab_reclaimable_bytes: Some(300 * MIB),
            slab_unreclaimable_bytes: Some(180 * MIB),
            anon_bytes: Some(27 * GIB),
            dirty_bytes: Some(12 * MIB),
            committed_bytes: Some(41 * GIB),
            commit_limit_bytes: Some(16 * GIB),
            swap_total_bytes: 0,
            swap_free_bytes: 0,
            swap_used_bytes: 0,
            huge_pages_total: Some(0),
            huge_pages_free: Some(0),
            huge_page_size_bytes: Some(2 * MIB),
        }),
        processes,
        process_summary: summary,
        filesystems: vec![
            fs("/", "/dev/nvme0n1p1", "ext4", 100 * GIB, 2_400 * MIB, 6_553_600, 4_100_000),
            fs("/var/lib/containerd", "/dev/nvme1n1", "xfs", 200 * GIB, 61 * GIB, 104_857_600, 101_000_000),
            fs("/boot/efi", "/dev/nvme0n1p15", "vfat", 124 * MIB, 113 * MIB, 0, 0),
            fs("/run", "tmpfs", "tmpfs", 3 * GIB, 3 * GIB - 2 * MIB, 4_000_000, 3_998_000),
            fs("/var/log", "/dev/nvme2n1", "ext4", 20 * GIB, 15 * GIB, 1_310_720, 52_000),
        ],
        mounts: vec![Mount { mount_id: 22, parent_id: 1, major_minor: "259:1".into(), root: "/".into(), mount_point: "/".into(), options: "rw,relatime".into(), propagation: vec!["shared:1".into()], fs_type: "ext4".into(), source: "/dev/nvme0n1p1".into(), super_options: "rw,discard,errors=remount-ro".into() }],
        block_devices: vec![BlockDevice { name: "nvme0n1".into(), kind: "disk".into(), parent: None, major_minor: Some("259:0".into()), size_bytes: 100 * GIB, rotational: Some(false), read_only: Some(false), removable: Some(false), model: Some("Amazon Elastic Block Store".into()), mount_points: vec![] }],
        cgroups,
        conntrack: Some(Conntrack {
            loaded: true,
            count: Some(118_100),
            max: Some(131_072),
            buckets: Some(32_768),
            stats: Some(ConntrackStats {
                cpus: 8,
                header: "entries clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error expect_new expect_create expect_delete search_restart".split(' ').map(str::to_string).collect(),
                columns: [("drop", 1_520u64), ("early_drop", 9_310), ("insert_failed", 4_212), ("invalid", 388), ("search_restart", 51_002)].into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                drop: Some(1_520),
                early_drop: Some(9_310),
                insert_failed: Some(4_212),
                invalid: Some(388),
                search_restart: Some(51_002),
            }),
        }),
        network: None,
        kernel_log: Some(KernelLog {
            source: "/dev/kmsg".into(),
            records_read: 4_211,
            bytes_read: 402_118,
            truncated: false,
            oom_lines: vec![
                line(3_990, 1_208_400, "java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=936"),
                line(3_991, 1_208_400, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-9d2f4b1a.scope,mems_allowed=0,oom_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c9a52_7b1e_4c8e_9a0d_2e5b6c7d8e9f.slice,task_memcg=/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c9a52_7b1e_4c8e_9a0d_2e5b6c7d8e9f.slice/cri-containerd-9d2f4b1a.scope,task=java,pid=1877,uid=1000"),
                line(3_992, 1_208_400, "Memory cgroup out of memory: Killed process 1877 (java) total-vm:6012344kB, anon-rss:2078112kB, file-rss:20980kB, shmem-rss:0kB, UID:1000 pgtables:4560kB oom_score_adj:936"),
            ],
            conntrack_full_lines: vec![
                line(4_100, 1_209_600, "nf_conntrack: nf_conntrack: table full, dropping packet"),
                line(4_150, 1_209_650, "nf_conntrack: nf_conntrack: table full, dropping packet"),
            ],
            oom_kills: vec![OomKill {
                since_boot_usec: 1_208_400_123_456,
                time: Some("2024-05-14T09:20:00Z".into()),
                pid: Some(1877),
                task: Some("java".into()),
                constraint: Some("CONSTRAINT_MEMCG".into()),
                oom_memcg: Some("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3f1c9a52_7b1e_4c8e_9a0d_2e5b6c7d8e9f.slice".into()),
                task_memcg: Some(java_path.clone()),
                uid: Some(1000),
                anon_rss_bytes: Some(2_078_112 * 1024),
                total_vm_bytes: Some(6_012_344 * 1024),
            }],
        }),
        deltas: Some(deltas),
        collectors: collectors(ALL_COLLECTORS),
    }
}

/// An idle VM: nothing wrong, one sample.
pub fn idle_host() -> Snapshot {
    let total = 8 * GIB;
    let processes = vec![
        process(
            1,
            0,
            "root",
            "S",
            "systemd",
            "/sbin/init",
            0.0,
            11,
            1,
            total,
        ),
        process(
            410,
            1,
            "root",
            "S",
            "sshd",
            "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",
            0.0,
            7,
            1,
            total,
        ),
        process(
            522,
            1,
            "root",
            "S",
            "cron",
            "/usr/sbin/cron -f",
            0.0,
            3,
            1,
            total,
        ),
        process(1200, 410, "admin", "S", "bash", "-bash", 0.0, 5, 1, total),
    ];
    let summary = summarise(&processes);
    Snapshot {
        schema: SNAPSHOT_SCHEMA.into(),
        tool_version: "0.1.0".into(),
        target: "host".into(),
        root: "/".into(),
        started_at: "2024-05-14T10:00:00Z".into(),
        finished_at: "2024-05-14T10:00:01Z".into(),
        interval_ms: None,
        system: Some(System {
            hostname: Some("build-vm".into()),
            kernel_release: Some("6.1.0-18-amd64".into()),
            os_pretty_name: Some("Debian GNU/Linux 12 (bookworm)".into()),
            uptime_seconds: Some(86_400.0),
            cpu_count: 2,
            load: Some(LoadAverage {
                load1: 0.08,
                load5: 0.05,
                load15: 0.01,
                runnable_tasks: 1,
                total_tasks: 120,
            }),
            cpu_busy_percent: Some(1.5),
            vmstat: Some(VmStat {
                oom_kill: Some(0),
                pgmajfault: Some(2_530),
                ..Default::default()
            }),
            file_handles: Some(FileHandles {
                allocated: 640,
                unused: 0,
                max: 2_466_177,
            }),
            clock_ticks_per_second: 100,
            page_size_bytes: 4096,
            ..Default::default()
        }),
        memory: Some(Memory {
            total_bytes: total,
            free_bytes: 6 * GIB,
            available_bytes: Some(7 * GIB),
            used_bytes: GIB / 2,
            ..Default::default()
        }),
        processes,
        process_summary: summary,
        filesystems: vec![fs(
            "/",
            "/dev/vda",
            "ext4",
            252 * GIB,
            78 * GIB,
            16_000_000,
            15_400_000,
        )],
        cgroups: vec![],
        conntrack: Some(Conntrack {
            loaded: true,
            count: Some(12),
            max: Some(262_144),
            buckets: Some(65_536),
            stats: Some(ConntrackStats {
                cpus: 2,
                drop: Some(0),
                early_drop: Some(0),
                insert_failed: Some(0),
                ..Default::default()
            }),
        }),
        kernel_log: Some(KernelLog {
            source: "/dev/kmsg".into(),
            records_read: 700,
            bytes_read: 60_000,
            ..Default::default()
        }),
        collectors: collectors(&[
            "system",
            "memory",
            "processes",
            "filesystems",
            "mounts",
            "block_devices",
            "cgroups",
            "conntrack",
            "network",
            "kernel_log",
        ]),
        ..Default::default()
    }
}
