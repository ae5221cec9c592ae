//! Kernel notifications instead of busy polling: v1 memory thresholds and OOM notifications
//! through `cgroup.event_control` eventfds, v2 PSI triggers on `memory.pressure`, v2
//! `memory.events` changes through inotify — all gathered in one epoll set.
//!
//! Every registration is an owned file descriptor: dropping it unregisters (the kernel removes a
//! v1 event when its eventfd is closed, a PSI trigger when its file is closed, an inotify watch
//! with its descriptor). A removed cgroup signals its v1 eventfds and PSI files once more (hang-up
//! or error), which the watcher takes as "look at this cgroup again" and then forgets it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn open_raw(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    // SAFETY: valid C string; the returned descriptor is owned by the OwnedFd.
    let fd = cvt(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn write_all_fd(fd: RawFd, data: &[u8]) -> io::Result<()> {
    // SAFETY: `data` is a valid buffer of `data.len()` bytes.
    let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != data.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
    }
    Ok(())
}

/// A non-blocking eventfd registered for a cgroup v1 memory event.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    fn new() -> io::Result<EventFd> {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: fresh descriptor.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Read and reset the counter; 0 when nothing happened since the last read.
    pub fn drain(&self) -> u64 {
        let mut value = 0u64;
        // SAFETY: reading 8 bytes into a u64.
        let n = unsafe {
            libc::read(
                self.0.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n == 8 { value } else { 0 }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Register "`memory.usage_in_bytes` crossed `threshold_bytes`" (either direction) on the v1
/// memory cgroup `dir`.
pub fn register_v1_threshold(dir: &Path, threshold_bytes: u64) -> io::Result<EventFd> {
    let event = EventFd::new()?;
    let usage = open_raw(&dir.join("memory.usage_in_bytes"), libc::O_RDONLY)?;
    let control = open_raw(&dir.join("cgroup.event_control"), libc::O_WRONLY)?;
    let line = format!(
        "{} {} {}",
        event.as_raw_fd(),
        usage.as_raw_fd(),
        threshold_bytes
    );
    write_all_fd(control.as_raw_fd(), line.as_bytes())?;
    Ok(event)
}

/// Register for OOM notifications (`memory.oom_control`) on the v1 memory cgroup `dir`.
pub fn register_v1_oom(dir: &Path) -> io::Result<EventFd> {
    let event = EventFd::new()?;
    let oom = open_raw(&dir.join("memory.oom_control"), libc::O_RDONLY)?;
    let control = open_raw(&dir.join("cgroup.event_control"), libc::O_WRONLY)?;
    let line = format!("{} {}", event.as_raw_fd(), oom.as_raw_fd());
    write_all_fd(control.as_raw_fd(), line.as_bytes())?;
    Ok(event)
}

/// A PSI trigger: the file stays open, and becomes readable with `POLLPRI` when the stall
/// threshold is exceeded within the window.
#[derive(Debug)]
pub struct PsiTrigger(OwnedFd);

impl AsRawFd for PsiTrigger {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// Register a PSI trigger on `pressure_file` (e.g. `<cgroup>/memory.pressure`): fire when tasks
/// were stalled (`some`) for `stall` within any `window` (the kernel wants a window of 500 ms to
/// 10 s; without CAP_SYS_RESOURCE — root in a container usually lacks it — a multiple of 2 s).
pub fn register_psi_trigger(
    pressure_file: &Path,
    stall: Duration,
    window: Duration,
) -> io::Result<PsiTrigger> {
    let fd = open_raw(pressure_file, libc::O_RDWR | libc::O_NONBLOCK)?;
    let line = format!("some {} {}\0", stall.as_micros(), window.as_micros());
    write_all_fd(fd.as_raw_fd(), line.as_bytes()).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the kernel refused the PSI trigger `{}` on {}: the window must be 0.5 to 10 s, the stall shorter than it, and without CAP_SYS_RESOURCE the window a multiple of 2 s",
                    line.trim_end_matches('\0'),
                    pressure_file.display()
                ),
            )
        } else {
            e
        }
    })?;
    Ok(PsiTrigger(fd))
}

/// One inotify instance watching files for modification (v2 `memory.events`).
#[derive(Debug)]
pub struct Inotify(OwnedFd);

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: plain system call.
        let fd = cvt(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) })?;
        // SAFETY: fresh descriptor.
        Ok(Inotify(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watch `path` for modification; returns the watch descriptor.
    pub fn watch_modify(&self, path: &Path) -> io::Result<i32> {
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
        // SAFETY: valid descriptor and C string.
        cvt(unsafe { libc::inotify_add_watch(self.0.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) })
    }

    /// Stop watching `wd` (already gone when the file was removed: that is fine).
    pub fn unwatch(&self, wd: i32) {
        // SAFETY: plain system call; an unknown wd only returns EINVAL.
        unsafe { libc::inotify_rm_watch(self.0.as_raw_fd(), wd) };
    }

    /// Read the pending events: the watch descriptors that fired, and those the kernel removed
    /// (`IN_IGNORED`: the file is gone).
    pub fn read_events(&self) -> (Vec<i32>, Vec<i32>) {
        let mut fired = Vec::new();
        let mut removed = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reading into a buffer of its own size.
            let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let header = std::mem::size_of::<libc::inotify_event>();
            let mut offset = 0;
            while offset + header <= n {
                // SAFETY: the kernel wrote whole events; read_unaligned copes with alignment.
                let event: libc::inotify_event = unsafe {
                    std::ptr::read_unaligned(buf[offset..].as_ptr().cast::<libc::inotify_event>())
                };
                if event.mask & libc::IN_IGNORED != 0 {
                    removed.push(event.wd);
                } else {
                    fired.push(event.wd);
                }
                offset += header + event.len as usize;
            }
        }
        (fired, removed)
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// An epoll set; each registered descriptor carries a `u64` token.
#[derive(Debug)]
pub struct Poller(OwnedFd);

/// What woke a token: readable data, a priority event (PSI), or a hang-up / error (the
/// cgroup went away).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub token: u64,
    pub hangup: bool,
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        // SAFETY: plain system call.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fresh descriptor.
        Ok(Poller(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Add `fd` for input (`priority`: POLLPRI, for PSI triggers).
    pub fn add(&self, fd: RawFd, token: u64, priority: bool) -> io::Result<()> {
        let events = if priority {
            libc::EPOLLPRI
        } else {
            libc::EPOLLIN
        };
        let mut event = libc::epoll_event {
            events: events as u32,
            u64: token,
        };
        // SAFETY: valid descriptors and event.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })
            .map(|_| ())
    }

    /// Remove `fd` (closing it removes it too; this is for descriptors kept open).
    pub fn remove(&self, fd: RawFd) {
        // SAFETY: plain system call; an unknown fd only returns an error we ignore.
        unsafe {
            libc::epoll_ctl(
                self.0.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd,
                std::ptr::null_mut(),
            )
        };
    }

    /// Wait up to `timeout` for events.
    pub fn wait(&self, timeout: Duration) -> io::Result<Vec<Ready>> {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 64];
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: the buffer holds 64 events.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), 64, ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(Vec::new());
            }
            return Err(e);
        }
        Ok(events[..n as usize]
            .iter()
            .map(|e| {
                let flags = e.events;
                Ready {
                    token: e.u64,
                    hangup: flags & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0,
                }
            })
            .collect())
    }
}
