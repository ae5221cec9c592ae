//! Process discovery on real processes: a Go program is recognised by its `.go.buildinfo`
//! section (JVMs, by the libjvm.so in their map, are exercised by every capture test) and placed
//! in the cgroup `/proc/<pid>/cgroup` names.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use agent::cgroupfs::Version;
use agent::procs::{CgroupNamespace, Kind, ProcessScanner};

struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn go_programs_are_told_apart_from_other_processes() {
    let test = "go_programs_are_told_apart_from_other_processes";
    let Some(go) = testkit::require_program("go", test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("main.go"),
        "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Minute) }\n",
    )
    .expect("writing main.go");
    let built = Command::new(go)
        .args(["build", "-o", "sleeper", "main.go"])
        .current_dir(dir.path())
        .env("GOCACHE", dir.path().join("cache"))
        .env("GOPATH", dir.path().join("gopath"))
        .env("GO111MODULE", "off")
        .status()
        .expect("running go build");
    assert!(built.success(), "go build failed");
    assert!(agent::procs::has_go_buildinfo(&dir.path().join("sleeper")).expect("readable"));
    let go_proc = Reap(
        Command::new(dir.path().join("sleeper"))
            .stdout(Stdio::null())
            .spawn()
            .expect("starting the Go program"),
    );
    let sh = Reap(
        Command::new("/bin/sleep")
            .arg("60")
            .spawn()
            .expect("starting sleep"),
    );
    let version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        Version::V2
    } else {
        Version::V1
    };
    let mut scanner = ProcessScanner::default();
    let go_pid = go_proc.0.id();
    let sh_pid = sh.0.id();
    common::wait_for(Duration::from_secs(20), "both processes classified", || {
        let all = scanner.scan(
            Path::new("/proc"),
            version,
            &CgroupNamespace::default(),
            1_000_000,
        );
        let kind = |pid: u32| all.iter().find(|p| p.pid == pid).map(|p| p.kind);
        (kind(go_pid) == Some(Kind::Go) && kind(sh_pid) == Some(Kind::Other)).then_some(())
    });
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("own cgroup");
    let own_path = agent::procs::memory_cgroup_of(&own, version).expect("a memory cgroup");
    let all = scanner.scan(
        Path::new("/proc"),
        version,
        &CgroupNamespace::default(),
        1_000_000,
    );
    let go_info = all
        .iter()
        .find(|p| p.pid == go_pid)
        .expect("the Go program");
    assert_eq!(
        go_info.cgroup, own_path,
        "children stay in the test's cgroup"
    );
}
