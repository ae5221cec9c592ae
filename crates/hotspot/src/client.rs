//! Attaching to a HotSpot JVM from the host and running commands on it.
//!
//! Everything goes through `/proc/<pid>/root` and `/proc/<pid>/cwd`, so a JVM in a container is
//! reached without entering its namespaces and without any JDK tool in its image.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::creds::{ThreadCredentials, effective_uid};
use crate::error::{AttachError, Result};
use crate::histogram::{Histogram, Limits, parse_histogram};
use crate::process::Target;
use crate::protocol::{POLL_INTERVAL, Patience, exchange};

/// How to attach.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// How long to wait for the attach socket after SIGQUIT.
    pub attach_timeout: Duration,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            attach_timeout: Duration::from_secs(10),
        }
    }
}

/// How to run one command.
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Give up when the JVM sends nothing for this long.
    pub response_timeout: Duration,
    /// Set (e.g. by a SIGINT handler) to abandon the command.
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for ExecOptions<'_> {
    fn default() -> Self {
        ExecOptions {
            response_timeout: Duration::from_secs(120),
            cancel: None,
        }
    }
}

/// A HotSpot JVM whose attach listener is running. Each command opens its own connection, as
/// the protocol requires.
#[derive(Debug, Clone)]
pub struct Jvm {
    target: Target,
    socket: PathBuf,
    attach_timeout: Duration,
}

/// Removes the trigger file when dropped.
struct TriggerFile(PathBuf);

impl Drop for TriggerFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "could not remove the attach trigger file");
        }
    }
}

impl Jvm {
    /// Attach to host pid `pid` with default options.
    pub fn attach(pid: u32) -> Result<Jvm> {
        Self::attach_with(pid, &AttachOptions::default())
    }

    /// Attach to host pid `pid`: check it is an attachable HotSpot JVM we may talk to, and start
    /// its attach listener if it is not running yet.
    pub fn attach_with(pid: u32, options: &AttachOptions) -> Result<Jvm> {
        let target = Target::inspect(pid)?;
        target.ensure_attachable()?;
        let our_uid = effective_uid();
        if our_uid != 0 && our_uid != target.euid {
            return Err(AttachError::WrongUser {
                pid,
                target_uid: target.euid,
                target_gid: target.egid,
                our_uid,
            });
        }
        let socket = target.path_in_root(Path::new(&format!("/tmp/.java_pid{}", target.ns_pid)));
        let jvm = Jvm {
            target,
            socket,
            attach_timeout: options.attach_timeout,
        };
        if !jvm.socket_present() {
            jvm.start_attach_listener()?;
        }
        Ok(jvm)
    }

    /// The process attached to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The attach socket, as a host path.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    fn socket_present(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(&self.socket).is_ok_and(|m| m.file_type().is_socket())
    }

    /// Create `.attach_pid<N>`, send SIGQUIT, wait for the socket with backoff.
    fn start_attach_listener(&self) -> Result<()> {
        let target = &self.target;
        if !target.handles_sigquit {
            return Err(AttachError::SigquitNotHandled { pid: target.pid });
        }
        let _trigger = self.create_trigger_file()?;
        tracing::debug!(
            pid = target.pid,
            "sending SIGQUIT to start the attach listener"
        );
        // SAFETY: kill with a valid signal number has no memory-safety preconditions.
        if unsafe { libc::kill(target.pid as libc::pid_t, libc::SIGQUIT) } != 0 {
            let source = std::io::Error::last_os_error();
            return Err(match source.raw_os_error() {
                Some(libc::ESRCH) => AttachError::NoSuchProcess { pid: target.pid },
                _ => AttachError::Socket {
                    pid: target.pid,
                    what: "sending SIGQUIT",
                    source,
                },
            });
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(20);
        loop {
            std::thread::sleep(delay);
            if self.socket_present() {
                tracing::debug!(
                    pid = target.pid,
                    waited_ms = started.elapsed().as_millis() as u64,
                    "attach socket is up"
                );
                return Ok(());
            }
            if !target.is_alive() {
                return Err(AttachError::ProcessExited {
                    pid: target.pid,
                    during: "starting its attach listener",
                });
            }
            if started.elapsed() >= self.attach_timeout {
                return Err(AttachError::AttachTimeout {
                    pid: target.pid,
                    socket: self.socket.clone(),
                    waited: started.elapsed(),
                });
            }
            delay = (delay * 2).min(Duration::from_millis(500));
        }
    }

    /// The JVM looks for `.attach_pid<N>` in its cwd, then in its tmp; the file must be owned by
    /// its user (or root).
    fn create_trigger_file(&self) -> Result<TriggerFile> {
        let target = &self.target;
        let name = format!(".attach_pid{}", target.ns_pid);
        let candidates = [
            target.cwd_path().join(&name),
            target.path_in_root(Path::new("/tmp")).join(&name),
        ];
        let mut last_error = None;
        for path in &candidates {
            match OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o660)
                .open(path)
            {
                Ok(file) => {
                    if effective_uid() == 0 && target.euid != 0 {
                        // Older JDKs insist on their own uid, and a JVM in a user namespace sees
                        // host root as an unmapped id.
                        // SAFETY: fchown on an fd we own.
                        let rc =
                            unsafe { libc::fchown(file.as_raw_fd(), target.euid, target.egid) };
                        if rc != 0 {
                            tracing::debug!(error = %std::io::Error::last_os_error(), "fchown of the trigger file failed");
                        }
                    }
                    tracing::debug!(path = %path.display(), "created attach trigger file");
                    return Ok(TriggerFile(path.clone()));
                }
                Err(e) => {
                    tracing::debug!(path = %path.display(), error = %e, "cannot create attach trigger file here");
                    last_error = Some(e);
                }
            }
        }
        Err(AttachError::Trigger {
            pid: target.pid,
            tried: candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            source: last_error.unwrap_or_else(|| std::io::Error::other("no candidate directory")),
        })
    }

    /// Open a connection, with the target's credentials when they differ from ours.
    fn connect(&self) -> Result<UnixStream> {
        let target = &self.target;
        // Open the socket inode as ourselves (root may look anywhere) and check who made it.
        let handle = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW)
            .open(&self.socket)
            .map_err(|source| AttachError::Connect {
                socket: self.socket.clone(),
                source,
            })?;
        let meta = handle.metadata().map_err(|source| AttachError::Connect {
            socket: self.socket.clone(),
            source,
        })?;
        if meta.uid() != target.euid && meta.uid() != 0 {
            return Err(AttachError::SocketOwner {
                socket: self.socket.clone(),
                owner: meta.uid(),
                expected: target.euid,
            });
        }
        // Connecting through our own fd avoids resolving /proc/<pid>/root with the switched
        // identity and the 108-byte limit of socket paths.
        let via_fd = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd()));
        let stream = {
            let _identity = if effective_uid() != target.euid {
                Some(ThreadCredentials::switch_to(target.euid, target.egid)?)
            } else {
                None
            };
            UnixStream::connect(&via_fd)
        };
        let stream = stream.map_err(|source| AttachError::Connect {
            socket: self.socket.clone(),
            source,
        })?;
        stream
            .set_read_timeout(Some(POLL_INTERVAL))
            .map_err(|source| AttachError::Socket {
                pid: target.pid,
                what: "setting the read timeout",
                source,
            })?;
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .map_err(|source| AttachError::Socket {
                pid: target.pid,
                what: "setting the write timeout",
                source,
            })?;
        Ok(stream)
    }

    /// Connect, re-triggering the listener once if the socket file is stale (left by an earlier
    /// JVM with the same namespace pid, e.g. a restarted container keeping its /tmp volume).
    fn connect_or_restart(&self) -> Result<UnixStream> {
        match self.connect() {
            Err(AttachError::Connect { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::ECONNREFUSED) | Some(libc::ENOENT)
                ) =>
            {
                tracing::info!(
                    pid = self.target.pid,
                    "attach socket is stale; restarting the attach listener"
                );
                if source.raw_os_error() == Some(libc::ECONNREFUSED) {
                    let _ = std::fs::remove_file(&self.socket);
                }
                self.start_attach_listener()?;
                self.connect()
            }
            other => other,
        }
    }

    /// Run an attach operation (`threaddump`, `inspectheap`, `jcmd`, `dumpheap`, `properties`…)
    /// and stream its output to `out`. Returns the number of bytes written.
    pub fn execute(
        &self,
        command: &str,
        args: &[&str],
        out: &mut dyn Write,
        options: &ExecOptions<'_>,
    ) -> Result<u64> {
        let alive = || self.target.is_alive();
        let mut patience =
            Patience::new(self.target.pid, command, options.response_timeout, &alive);
        patience.cancel = options.cancel;
        self.execute_patiently(command, args, out, &mut patience)
    }

    /// [`Jvm::execute`] with a caller-built [`Patience`] (progress callbacks, custom messages).
    pub fn execute_patiently(
        &self,
        command: &str,
        args: &[&str],
        out: &mut dyn Write,
        patience: &mut Patience<'_>,
    ) -> Result<u64> {
        let mut stream = self.connect_or_restart()?;
        exchange(&mut stream, command, args, out, patience)
    }

    /// Run an operation and return its output as text.
    pub fn execute_to_string(
        &self,
        command: &str,
        args: &[&str],
        options: &ExecOptions<'_>,
    ) -> Result<String> {
        let mut out = Vec::new();
        self.execute(command, args, &mut out, options)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Run a diagnostic command line (`GC.heap_info`, `VM.flags -all`, …), as `jcmd <pid> …` does.
    pub fn jcmd(&self, command_line: &str, options: &ExecOptions<'_>) -> Result<String> {
        self.execute_to_string("jcmd", &[command_line], options)
    }

    /// Thread dump with lock information (`jstack -l`).
    pub fn thread_dump(&self, options: &ExecOptions<'_>) -> Result<String> {
        self.execute_to_string("threaddump", &["-l"], options)
    }

    /// Class histogram. `all` includes unreachable objects and skips the full GC the live
    /// histogram needs.
    pub fn class_histogram(&self, all: bool, options: &ExecOptions<'_>) -> Result<Histogram> {
        let text = self.execute_to_string(
            "inspectheap",
            &[if all { "-all" } else { "-live" }],
            options,
        )?;
        Ok(parse_histogram(&text, &Limits::default()))
    }
}
