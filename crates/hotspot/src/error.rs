//! Everything that can go wrong while attaching to a JVM, running a command or dumping its heap.
//! Each message says what failed, where, and what to do about it. Underlying I/O errors are
//! exposed as `source()` and not repeated in the message (print the chain, e.g. with anyhow's
//! `{:#}`, or use [`AttachError::full_message`]).

use std::path::PathBuf;
use std::time::Duration;

/// An attach, command or heap-dump failure.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// `/proc/<pid>` does not exist.
    #[error(
        "no process with pid {pid} (nothing at /proc/{pid}); check the pid with `ps` or `pgrep java`"
    )]
    NoSuchProcess { pid: u32 },

    /// We may not read the target's /proc files (another user, not dumpable).
    #[error(
        "permission denied reading {path} for pid {pid}: run triage as root or as the user the JVM runs as"
    )]
    ProcAccess {
        pid: u32,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The process does not have a HotSpot JVM loaded.
    #[error("pid {pid} ({name}) is not a HotSpot JVM: no libjvm.so in /proc/{pid}/maps")]
    NotAJvm { pid: u32, name: String },

    /// OpenJ9 speaks a different attach protocol.
    #[error(
        "pid {pid} is an Eclipse OpenJ9 JVM, whose attach mechanism (.com_ibm_tools_attach) is not supported; \
         use the JDK's own `jcmd` inside the container, or run the service on a HotSpot-based JDK"
    )]
    OpenJ9 { pid: u32 },

    /// `-XX:+DisableAttachMechanism` was given: the JVM will never open the attach socket.
    #[error(
        "pid {pid} was started with -XX:+DisableAttachMechanism ({found_in}): it refuses every attach; \
         restart it without that flag to get thread dumps, histograms or heap dumps"
    )]
    AttachDisabled { pid: u32, found_in: String },

    /// The JVM does not handle SIGQUIT (`-Xrs`), so the attach trigger would kill it.
    #[error(
        "pid {pid} does not handle SIGQUIT (started with -Xrs?) and has no attach socket yet: sending the \
         attach signal would kill it; restart it with -XX:+StartAttachListener to allow attaching"
    )]
    SigquitNotHandled { pid: u32 },

    /// A non-root client and a target running as another user.
    #[error(
        "pid {pid} runs as uid {target_uid} gid {target_gid} but triage runs as uid {our_uid}: the JVM only \
         accepts attaches from its own user or root; run triage with sudo, or as that user"
    )]
    WrongUser {
        pid: u32,
        target_uid: u32,
        target_gid: u32,
        our_uid: u32,
    },

    /// Switching the thread's credentials to the target's failed.
    #[error("switching to uid {uid} gid {gid} to attach failed")]
    CredentialSwitch {
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },

    /// Neither the JVM's cwd nor its tmp accepted the `.attach_pid` trigger file.
    #[error("cannot create the attach trigger file for pid {pid} (tried {tried})")]
    Trigger {
        pid: u32,
        tried: String,
        source: std::io::Error,
    },

    /// The socket never appeared after the trigger.
    #[error(
        "pid {pid} did not open its attach socket {socket} within {waited:?} after SIGQUIT; the JVM may be \
         started with -XX:+DisableAttachMechanism (in a flags file or options triage cannot see), be stuck \
         in a long GC or safepoint, or not be a HotSpot JVM; retry with a longer --timeout"
    )]
    AttachTimeout {
        pid: u32,
        socket: PathBuf,
        waited: Duration,
    },

    /// The attach socket file is owned by someone other than the JVM's user: refuse to talk to it.
    #[error(
        "{socket} is owned by uid {owner}, not by the JVM's uid {expected}: refusing to talk to a socket the \
         JVM did not create; remove it and retry"
    )]
    SocketOwner {
        socket: PathBuf,
        owner: u32,
        expected: u32,
    },

    /// `connect(2)` to the attach socket failed.
    #[error("connecting to the attach socket {socket}")]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },

    /// Sending the request or reading the answer failed.
    #[error("{what} (attach socket of pid {pid})")]
    Socket {
        pid: u32,
        what: &'static str,
        source: std::io::Error,
    },

    /// The request cannot be sent (too many arguments, NUL bytes, too long for the JVM's buffers).
    #[error("cannot send `{command}` to the JVM: {reason}")]
    InvalidRequest { command: String, reason: String },

    /// The JVM accepted the connection but did not answer in time.
    #[error(
        "pid {pid} accepted the attach connection for `{command}` but sent nothing for {waited:?}; it may be \
         hung (stuck safepoint, long GC, out of memory); retry with a longer --timeout or take a thread dump \
         with `kill -3 {pid}`"
    )]
    ResponseTimeout {
        pid: u32,
        command: String,
        waited: Duration,
    },

    /// The first line of the response was not a decimal result code.
    #[error(
        "pid {pid} answered `{command}` with {received:?} instead of a numeric result code: the socket may \
         not belong to a HotSpot JVM, or the JVM is too old for attach protocol 1"
    )]
    InvalidResponse {
        pid: u32,
        command: String,
        received: String,
    },

    /// The JVM ran the command and reported an error (non-zero code, or an error in the text).
    #[error("pid {pid} rejected `{command}` (result code {code}): {message}")]
    CommandFailed {
        pid: u32,
        command: String,
        code: i64,
        message: String,
    },

    /// The target exited while we waited for it.
    #[error("pid {pid} exited while {during}")]
    ProcessExited { pid: u32, during: &'static str },

    /// The user interrupted the operation (Ctrl-C).
    #[error("interrupted while {during}; temporary files in the target were removed")]
    Cancelled { during: &'static str },

    /// Not enough room in the target's temp dir for the dump.
    #[error(
        "not enough free space for the heap dump in {dir}: {available_bytes} bytes free, about {needed_bytes} \
         needed (heap in use); a full emptyDir can get the pod evicted — free space there, dump to another \
         directory of the target with --target-dir, or skip this check with --no-space-check"
    )]
    NotEnoughSpace {
        dir: PathBuf,
        available_bytes: u64,
        needed_bytes: u64,
    },

    /// The dump file could not be read back, or the JVM's dump reported a failure.
    #[error("heap dump failed: {message}")]
    DumpFailed { message: String },

    /// Reading or writing a file on our side.
    #[error("{what} {path}")]
    File {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    /// The destination ran out of space.
    #[error(
        "no space left at the destination {path} after writing {written_bytes} bytes; the partial file was \
         removed — choose another --out location or free space"
    )]
    DestinationFull { path: PathBuf, written_bytes: u64 },
}

impl AttachError {
    /// The message with every underlying cause appended (`a: b: c`), for places that record the
    /// error as text.
    pub fn full_message(&self) -> String {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        message
    }

    /// True when the error means "this process is not something we can attach to" rather than a
    /// failure of an attach that should have worked (used to decide whether a snapshot mentions it).
    pub fn is_not_attachable(&self) -> bool {
        matches!(
            self,
            AttachError::NotAJvm { .. }
                | AttachError::NoSuchProcess { .. }
                | AttachError::OpenJ9 { .. }
        )
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = AttachError> = std::result::Result<T, E>;
