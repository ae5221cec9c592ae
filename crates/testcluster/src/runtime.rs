//! The "container runtime": each container is a real process tree in its own pid and mount
//! namespace with a private tmpfs `/tmp` (`unshare --pid --mount --fork --mount-proc`), its
//! stdout and stderr written to a CRI-format log file, restarted with back-off when it exits
//! under `restart=Always`. Exec enters those namespaces with `nsenter`.
//!
//! A container sees the host's filesystem as its image, except `/tmp`: anything a test prepared
//! under the host's `/tmp` (compiled classes, a built binary, the fake tools of a `path-prepend`
//! directory) is hidden by the private tmpfs unless it is one of the container's shared
//! directories, which are bind-mounted read-only at the same path inside it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::spec::ContainerSpec;

/// How a container run ended.
#[derive(Debug, Clone)]
pub struct Terminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
}

/// The state of one container, as the status of the pod reports it.
#[derive(Debug, Clone)]
pub struct ContainerState {
    /// The host pid of the container's first process (pid 1 in its namespace) while running.
    pub host_pid: Option<u32>,
    pub started_at: Option<Timestamp>,
    pub restart_count: u32,
    pub waiting_reason: Option<String>,
    pub terminated: Option<Terminated>,
    pub last_terminated: Option<Terminated>,
    pub log_path: PathBuf,
    pub previous_log_path: Option<PathBuf>,
    pub container_id: String,
}

/// A running (or finished) container.
#[derive(Debug)]
pub struct Container {
    pub spec: ContainerSpec,
    /// For an ephemeral container: the container whose pid namespace it joins.
    pub target: Option<String>,
    pub state: Mutex<ContainerState>,
    /// Host directories visible at the same path inside the container (read-only), even under
    /// its private `/tmp`: the cluster's shared directories and the `path-prepend` directory.
    pub shared_dirs: Vec<PathBuf>,
    /// Notified whenever `state` changes (started, exited).
    pub changed: watch::Sender<u64>,
}

/// Events recorded for the pod (`Started`, `BackOff`, …): (reason, message, type).
pub type EventSink = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

fn container_id(seed: &str, generation: u32) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::new();
    for round in 0u64..4 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (seed, generation, round).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

impl Container {
    /// The environment a process of this container sees (PATH first).
    pub fn environment(&self) -> Vec<(String, String)> {
        let base = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        let path = match &self.spec.path_prepend {
            Some(dir) => format!("{dir}:{base}"),
            None => base.to_string(),
        };
        let mut env = vec![
            ("PATH".to_string(), path),
            ("HOME".to_string(), "/root".to_string()),
        ];
        env.push(("HOSTNAME".to_string(), self.spec.name.clone()));
        for (k, v) in &self.spec.env {
            env.retain(|(existing, _)| existing != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    /// The host pid to `nsenter` for exec, or why there is none.
    pub fn exec_pid(&self) -> Result<u32, String> {
        let state = self.state.lock().expect("container state lock");
        match state.host_pid {
            Some(pid) => Ok(pid),
            None => Err(match &state.waiting_reason {
                Some(reason) => {
                    format!("container {} is waiting to start: {reason}", self.spec.name)
                }
                None => format!("container {} is not running", self.spec.name),
            }),
        }
    }
}

/// State letter of a process (`R`, `S`, `Z`…), `None` when it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Find the process whose parent is `parent` (the namespace's first process under `unshare` or
/// `nsenter`), waiting up to two seconds for it to appear. A command that fails at once may be
/// gone before it is seen: once `parent` itself has exited (a zombie not reaped yet) there is
/// nothing left to find, and the search stops instead of using up the two seconds.
async fn child_of(parent: u32) -> Option<u32> {
    for _ in 0..200 {
        if matches!(process_state(parent), None | Some('Z' | 'X')) {
            return None;
        }
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // Fields after the last ')' : state ppid …
                let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                    continue;
                };
                let ppid = rest
                    .split_whitespace()
                    .nth(1)
                    .and_then(|p| p.parse::<u32>().ok());
                if ppid == Some(parent) {
                    return Some(pid);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

/// Absolute path of a host tool (`nsenter`, `unshare`), found on the server's PATH: the
/// container's PATH may not have it (or may shadow it).
pub fn host_tool(name: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| std::path::PathBuf::from(format!("/usr/bin/{name}")))
}

/// The script run as the namespace's first process: a private /tmp, the shared directories that
/// live under the host's /tmp bind-mounted back (read-only, through a descriptor of the host's
/// /tmp opened before the tmpfs covers it), then the command (`$1`; the directories follow).
/// A directory that cannot be shared fails the start with exit code 125 and says why in the log.
const ENTRY: &str = r#"exec 3</tmp || exit 125
/bin/mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 125
c=$1; shift
for d in "$@"; do
  r=${d#/tmp/}
  /bin/mkdir -p "/tmp/$r" && /bin/mount --no-canonicalize --bind -o ro "/proc/self/fd/3/$r" "/tmp/$r" || {
    echo "testcluster: cannot share the host directory $d with the container" >&2; exit 125; }
done
exec 3<&-
exec /bin/sh -c "$c""#;

/// The shared directories that the private /tmp would hide (the others are visible as they
/// are), parents first. Symlinks are resolved on the host; a path that does not resolve is kept
/// as written so that the start fails and names it.
fn hidden_shared_dirs(dirs: &[PathBuf]) -> Vec<String> {
    let mut out: Vec<String> = dirs
        .iter()
        .map(|d| std::fs::canonicalize(d).unwrap_or_else(|_| d.clone()))
        .filter_map(|d| {
            let s = d.to_str()?.trim_end_matches('/').to_string();
            (s.len() > "/tmp/".len() && s.starts_with("/tmp/")).then_some(s)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn spawn_container(container: &Container, target_pid: Option<u32>) -> std::io::Result<Child> {
    let mut command = match target_pid {
        // An ephemeral container joins the target's pid namespace, with its own mount namespace
        // (a /proc of that pid namespace and its own /tmp), like a container of another image.
        Some(pid) => {
            let mut c = Command::new(host_tool("nsenter"));
            c.arg("-t")
                .arg(pid.to_string())
                .arg("-p")
                .arg("--")
                .arg(host_tool("unshare"));
            c.args(["--mount", "--propagation", "private", "--mount-proc", "--"]);
            c
        }
        None => {
            let mut c = Command::new(host_tool("unshare"));
            c.args([
                "--pid",
                "--mount",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "--kill-child",
                "--",
            ]);
            c
        }
    };
    command
        .args(["/bin/sh", "-c", ENTRY, "sh"])
        .arg(&container.spec.command)
        .args(hidden_shared_dirs(&container.shared_dirs))
        .env_clear()
        .envs(container.environment())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command.spawn()
}

/// Copy one output stream into the CRI log: `RFC3339NANO STREAM F|P LINE`.
async fn pump_log(
    reader: impl AsyncRead + Unpin,
    stream: &'static str,
    file: Arc<tokio::sync::Mutex<tokio::fs::File>>,
) {
    const MAX_LINE: usize = 16 * 1024;
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(MAX_LINE as u64);
        match tokio::io::AsyncBufReadExt::read_until(&mut limited, b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let full = line.last() == Some(&b'\n');
        if full {
            line.pop();
        }
        let mut record = format!(
            "{} {stream} {} ",
            Timestamp::now(),
            if full { "F" } else { "P" }
        )
        .into_bytes();
        record.extend_from_slice(&line);
        record.push(b'\n');
        let mut f = file.lock().await;
        let _ = f.write_all(&record).await;
        let _ = f.flush().await;
    }
}

use tokio::io::AsyncReadExt as _;

fn describe_exit(status: std::process::ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        (None, None) => (255, None),
    }
}

/// Run a container until `shutdown` fires: start, capture logs, restart with back-off.
pub async fn supervise(
    container: Arc<Container>,
    log_dir: PathBuf,
    restart_always: bool,
    target: Option<Arc<Container>>,
    events: EventSink,
    mut shutdown: watch::Receiver<bool>,
) {
    let name = container.spec.name.clone();
    let mut generation = 0u32;
    loop {
        let log_path = log_dir.join(format!("{name}-{generation}.log"));
        let file = match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .await
        {
            Ok(f) => Arc::new(tokio::sync::Mutex::new(f)),
            Err(e) => {
                events(
                    "Failed",
                    &format!("cannot create log file {}: {e}", log_path.display()),
                    "Warning",
                );
                return;
            }
        };
        let target_pid = match &target {
            Some(t) => match t.exec_pid() {
                Ok(pid) => Some(pid),
                Err(e) => {
                    events("Failed", &e, "Warning");
                    return;
                }
            },
            None => None,
        };
        let mut child = match spawn_container(&container, target_pid) {
            Ok(c) => c,
            Err(e) => {
                events(
                    "Failed",
                    &format!("Error: cannot start container {name}: {e}"),
                    "Warning",
                );
                return;
            }
        };
        let launcher = child.id().unwrap_or(0);
        let host_pid = child_of(launcher).await;
        let started_at = Timestamp::now();
        {
            let mut s = container.state.lock().expect("container state lock");
            if generation > 0 {
                s.previous_log_path = Some(s.log_path.clone());
            }
            s.log_path = log_path.clone();
            s.host_pid = host_pid;
            s.started_at = Some(started_at);
            s.waiting_reason = None;
            s.terminated = None;
            s.container_id = container_id(&format!("{}/{name}", log_dir.display()), generation);
        }
        container.changed.send_modify(|n| *n += 1);
        events("Started", &format!("Started container {name}"), "Normal");
        let stdout = child
            .stdout
            .take()
            .map(|o| tokio::spawn(pump_log(o, "stdout", file.clone())));
        let stderr = child
            .stderr
            .take()
            .map(|e| tokio::spawn(pump_log(e, "stderr", file.clone())));
        let status = tokio::select! {
            status = child.wait() => status.ok(),
            _ = shutdown.changed() => {
                terminate(&mut child).await;
                return;
            }
        };
        for pump in [stdout, stderr].into_iter().flatten() {
            let _ = tokio::time::timeout(Duration::from_secs(2), pump).await;
        }
        let (exit_code, signal) = status.map(describe_exit).unwrap_or((255, None));
        let terminated = Terminated {
            exit_code,
            signal,
            reason: if exit_code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            },
            started_at,
            finished_at: Timestamp::now(),
        };
        let restart_count;
        {
            let mut s = container.state.lock().expect("container state lock");
            s.host_pid = None;
            if restart_always && target.is_none() {
                s.last_terminated = Some(terminated);
                s.restart_count += 1;
                s.waiting_reason = Some(if s.restart_count > 1 {
                    "CrashLoopBackOff".into()
                } else {
                    "ContainerCreating".into()
                });
            } else {
                s.terminated = Some(terminated);
            }
            restart_count = s.restart_count;
        }
        container.changed.send_modify(|n| *n += 1);
        if !restart_always || target.is_some() {
            events(
                "Completed",
                &format!("Container {name} exited with code {exit_code}"),
                "Normal",
            );
            return;
        }
        let back_off =
            Duration::from_millis(500u64.saturating_mul(1 << restart_count.min(5)).min(10_000));
        events(
            "BackOff",
            &format!(
                "Back-off restarting failed container {name} (exit code {exit_code}, next start in {back_off:?})"
            ),
            "Warning",
        );
        tokio::select! {
            _ = tokio::time::sleep(back_off) => {}
            _ = shutdown.changed() => return,
        }
        generation += 1;
    }
}

async fn terminate(child: &mut Child) {
    // `unshare --fork` blocks SIGTERM and SIGINT while it waits for the namespace's first
    // process, so a SIGTERM would only run into the timeout below. SIGKILL it instead:
    // `--kill-child` turns its death into a SIGKILL of the namespace's first process, and the
    // kernel then kills the whole pid namespace (a grace period of 0). An ephemeral container
    // (under `nsenter`) dies with its target's namespace.
    let _ = child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(3), child.wait()).await;
}

/// A new container record, not started yet.
/// `shared_dirs`: host directories the container sees at the same path (see [`Container`]); its
/// `path-prepend` directory is added.
pub fn new_container(
    spec: ContainerSpec,
    target: Option<String>,
    log_dir: &Path,
    shared_dirs: &[PathBuf],
) -> Arc<Container> {
    let (changed, _) = watch::channel(0);
    let mut shared_dirs = shared_dirs.to_vec();
    if let Some(dir) = &spec.path_prepend {
        shared_dirs.push(PathBuf::from(dir));
    }
    Arc::new(Container {
        shared_dirs,
        state: Mutex::new(ContainerState {
            host_pid: None,
            started_at: None,
            restart_count: 0,
            waiting_reason: Some("ContainerCreating".into()),
            terminated: None,
            last_terminated: None,
            log_path: log_dir.join(format!("{}-0.log", spec.name)),
            previous_log_path: None,
            container_id: String::new(),
        }),
        spec,
        target,
        changed,
    })
}

/// Wait until the container has started (or `timeout` passes). True when it runs.
pub async fn wait_running(container: &Container, timeout: Duration) -> bool {
    wait_for(container, timeout, |s| s.host_pid.is_some()).await
}

/// Wait until the container has run at least once: it runs, or it already exited (a command
/// that fails at once may be gone before its pid is seen, and would keep `wait_running` waiting
/// through its restarts until the timeout). True when it did.
pub async fn wait_started(container: &Container, timeout: Duration) -> bool {
    wait_for(container, timeout, |s| {
        s.host_pid.is_some() || s.terminated.is_some() || s.last_terminated.is_some()
    })
    .await
}

async fn wait_for(
    container: &Container,
    timeout: Duration,
    done: impl Fn(&ContainerState) -> bool,
) -> bool {
    let mut rx = container.changed.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if done(&container.state.lock().expect("container state lock")) {
            return true;
        }
        if tokio::time::timeout_at(deadline, rx.changed())
            .await
            .is_err()
        {
            return false;
        }
    }
}

/// Build the command that runs `argv` inside a container's namespaces.
pub fn exec_command(container: &Container, argv: &[String]) -> Result<Command, String> {
    let pid = container.exec_pid()?;
    let mut command = Command::new(host_tool("nsenter"));
    command
        .arg("-t")
        .arg(pid.to_string())
        .args(["-p", "-m", "--"])
        .args(argv)
        .env_clear()
        .envs(container.environment())
        .current_dir("/")
        .kill_on_drop(true);
    Ok(command)
}
