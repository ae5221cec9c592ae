//! Hostile and racing input: every parser is fed mutated copies of the fixture files (a fixed
//! number of iterations with a fixed seed, so a failure reproduces), whole collections run over
//! mutated trees, and processes that vanish mid-read are counted, not fatal. No panics, and no
//! collector may report an internal error.
//!
//! nightly `cargo fuzz` is not assumed to be available; this is the stable-toolchain stand-in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hostprobe::{CollectOptions, Root, Target, collect};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\n",
    b" ",
    b":",
    b"(",
    b")",
    b"-",
    b"=",
    b"max",
    b"18446744073709551615",
    b"99999999999999999999999",
    b"-1",
    b"\0",
    b"\xff",
    b"nan",
    b"\\",
    b"\\0",
    b"\\x",
    b";",
    b",",
    b"0x",
    b"NStgid:",
    b"some",
    b"full",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 => {
                let token = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, token.iter().copied());
            }
            2 if !data.is_empty() => {
                let end = (at + rng.below(32)).min(data.len());
                data.drain(at.min(end)..end);
            }
            3 => data.truncate(at),
            _ => {
                // Duplicate a slice (long lines, repeated headers).
                let end = (at + rng.below(64)).min(data.len());
                let copy = data[at.min(end)..end].to_vec();
                data.splice(at..at, copy);
            }
        }
    }
    data
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

#[test]
fn parsers_survive_mutated_fixture_files() {
    let tree = fixtures().join("cgroup-v2-systemd");
    let v1 = fixtures().join("cgroup-v1-cgroupfs");
    type Parse = fn(&str);
    let seeds: Vec<(PathBuf, Parse)> = vec![
        (tree.join("proc/meminfo"), |t| drop(hostprobe::memory::parse_meminfo(t, Path::new("m")))),
        (tree.join("proc/stat"), |t| drop(hostprobe::system::parse_proc_stat(t, Path::new("s"), 100))),
        (tree.join("proc/loadavg"), |t| drop(hostprobe::system::parse_loadavg(t, Path::new("l")))),
        (tree.join("proc/pressure/memory"), |t| drop(hostprobe::system::parse_pressure(t, Path::new("p")))),
        (tree.join("proc/vmstat"), |t| {
            let _ = hostprobe::system::parse_vmstat(t);
        }),
        (tree.join("proc/sys/fs/file-nr"), |t| drop(hostprobe::system::parse_file_nr(t, Path::new("f")))),
        (tree.join("proc/4242/stat"), |t| drop(hostprobe::processes::parse_pid_stat(t, Path::new("s")))),
        (tree.join("proc/4242/status"), |t| drop(hostprobe::processes::parse_pid_status(t))),
        (tree.join("etc/passwd"), |t| drop(hostprobe::processes::parse_passwd(t))),
        (v1.join("proc/4242/cgroup"), |t| drop(hostprobe::cgroups::parse_proc_cgroup(t, Path::new("c")))),
        (tree.join("proc/self/mountinfo"), |t| {
            drop(hostprobe::mounts::parse_mountinfo(t, Path::new("m"), 1000));
            drop(hostprobe::mounts::unescape_octal(t));
        }),
        (tree.join("proc/net/stat/nf_conntrack"), |t| drop(hostprobe::conntrack::parse_conntrack_stat(t, Path::new("c")))),
        (v1.join("proc/net/stat/nf_conntrack"), |t| drop(hostprobe::conntrack::parse_conntrack_stat(t, Path::new("c")))),
        (tree.join("proc/net/tcp"), |t| drop(hostprobe::network::count_socket_states(t.as_bytes(), Path::new("t"), 1000))),
        (tree.join("proc/net/dev"), |t| drop(hostprobe::network::parse_net_dev(t, Path::new("d")))),
        (v1.join("sys/fs/cgroup/memory/kubepods/burstable/pod0c3ab2e4-1f5d-4c6b-9a7e-2d8f1b3c4e5a/8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8/memory.stat"), |t| {
            drop(hostprobe::cgroups::parse_flat_keyed(t, Path::new("s")))
        }),
        (tree.join("dev/kmsg"), |t| {
            let mut scanner = hostprobe::kmsg::Scanner::new("t", Some(1_700_000_000), 5);
            for line in t.lines() {
                if let Some(record) = hostprobe::kmsg::parse_record(line) {
                    scanner.push(record);
                }
            }
        }),
    ];
    let paths = [
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c3ab2e4_1f5d_4c6b_9a7e_2d8f1b3c4e5a.slice/cri-containerd-8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8.scope",
        "/kubepods/pod7d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6/crio-11111111111111111111111111111111111111111111111111111111abcdef01",
    ];
    let mut rng = Rng(0x7269_6167_6521);
    for (path, parse) in &seeds {
        let original = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        parse(&text(&original));
        for _ in 0..400 {
            parse(&text(&mutate(&mut rng, &original)));
        }
    }
    for path in paths {
        for _ in 0..400 {
            let _ = hostprobe::cgroup_path::parse_container_identity(&text(&mutate(
                &mut rng,
                path.as_bytes(),
            )));
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files_under(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

#[test]
fn whole_collections_survive_mutated_trees() {
    let mut rng = Rng(0xC0FF_EE12_3456);
    for tree in ["cgroup-v2-systemd", "cgroup-v1-systemd"] {
        let dir = tempfile::tempdir().expect("temp dir");
        testkit::copy_tree(&fixtures().join(tree), dir.path());
        let mut files = Vec::new();
        files_under(dir.path(), &mut files);
        files.sort();
        let originals: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        for round in 0..25 {
            // Mutate a handful of files, collect, restore.
            let picked: Vec<usize> = (0..8).map(|_| rng.below(files.len())).collect();
            for &i in &picked {
                std::fs::write(&files[i], mutate(&mut rng, &originals[i])).expect("write");
            }
            let target = if round % 5 == 0 {
                Target::Pid(4400)
            } else {
                Target::Host
            };
            let options = CollectOptions {
                root: Root::new(dir.path()),
                target,
                cpu_sample: Duration::ZERO,
                capture_raw: true,
                ..CollectOptions::default()
            };
            if let Ok(collection) = collect(&options) {
                for run in &collection.snapshot.collectors {
                    let error = run.error.as_deref().unwrap_or("");
                    assert!(
                        !error.contains("internal error"),
                        "{tree} round {round}: {} panicked: {error}",
                        run.name
                    );
                }
                serde_json::to_string(&collection.snapshot).expect("always serialisable");
            }
            for &i in &picked {
                std::fs::write(&files[i], &originals[i]).expect("restore");
            }
        }
    }
}

#[test]
fn vanished_processes_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("temp dir");
    testkit::copy_tree(&fixtures().join("cgroup-v2-cgroupfs"), dir.path());
    // A pid directory whose files are gone (the process exited between listing and reading),
    // and one whose stat is there but status vanished a moment later.
    std::fs::create_dir_all(dir.path().join("proc/7000")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("proc/7001")).expect("mkdir");
    let stat = std::fs::read_to_string(dir.path().join("proc/4300/stat")).expect("stat");
    std::fs::write(
        dir.path().join("proc/7001/stat"),
        stat.replacen("4300", "7001", 1),
    )
    .expect("write");
    let options = CollectOptions {
        root: Root::new(dir.path()),
        cpu_sample: Duration::ZERO,
        ..CollectOptions::default()
    };
    let s = collect(&options).expect("collect").snapshot;
    assert_eq!(s.process_summary.vanished, 2);
    assert_eq!(s.process_summary.total, 6);
    assert!(s.process(7000).is_none() && s.process(7001).is_none());
    assert_eq!(
        s.collector("processes").map(|c| c.status),
        Some(hostprobe::CollectorStatus::Ok)
    );
}
