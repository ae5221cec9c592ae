//! Temporarily taking on the target's effective uid/gid, for the calling thread only.
//!
//! The JVM checks the connecting peer's credentials (SO_PEERCRED) and accepts only its own
//! effective uid/gid or root. Even root switches when the target runs as another user, because a
//! JVM in a user namespace sees an unmapped host root as `nobody` and refuses it.
//!
//! glibc's `setegid`/`seteuid` change every thread of the process (it broadcasts the change), which
//! would silently drop root for unrelated threads. The raw `setresgid`/`setresuid` system calls
//! change the calling thread only, so the switch is scoped to the thread doing the attach.

use crate::error::{AttachError, Result};

/// Our own effective uid.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Our own effective gid.
pub fn effective_gid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

fn set_thread_egid(gid: u32) -> std::io::Result<()> {
    // SAFETY: setresgid with -1 for the real and saved ids only changes this thread's effective
    // (and filesystem) gid; the arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_setresgid,
            -1 as libc::c_long,
            gid as libc::c_long,
            -1 as libc::c_long,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn set_thread_euid(uid: u32) -> std::io::Result<()> {
    // SAFETY: as above, for the uid.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_setresuid,
            -1 as libc::c_long,
            uid as libc::c_long,
            -1 as libc::c_long,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// While alive, the calling thread runs with the target's effective uid/gid; dropping it switches
/// back. Must be dropped on the thread that created it (it is `!Send`).
pub struct ThreadCredentials {
    saved_uid: u32,
    saved_gid: u32,
    switched: bool,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl ThreadCredentials {
    /// Switch to `uid`/`gid` if they differ from ours: gid first (while we still may), then uid.
    /// A no-op when we already have them.
    pub fn switch_to(uid: u32, gid: u32) -> Result<ThreadCredentials> {
        let saved_uid = effective_uid();
        let saved_gid = effective_gid();
        let mut guard = ThreadCredentials {
            saved_uid,
            saved_gid,
            switched: false,
            _not_send: std::marker::PhantomData,
        };
        if saved_uid == uid && saved_gid == gid {
            return Ok(guard);
        }
        set_thread_egid(gid).map_err(|source| AttachError::CredentialSwitch {
            uid,
            gid,
            source,
        })?;
        guard.switched = true;
        if let Err(source) = set_thread_euid(uid) {
            // The guard's drop restores the gid.
            return Err(AttachError::CredentialSwitch { uid, gid, source });
        }
        tracing::debug!(uid, gid, "switched thread credentials for the attach");
        Ok(guard)
    }
}

impl Drop for ThreadCredentials {
    fn drop(&mut self) {
        if !self.switched {
            return;
        }
        // uid first: only with our own uid back may we set the gid back.
        if set_thread_euid(self.saved_uid).is_err() || set_thread_egid(self.saved_gid).is_err() {
            // Carrying on with the wrong identity would be a security bug: stop here.
            eprintln!(
                "triage: fatal: could not restore uid {} gid {} after attaching",
                self.saved_uid, self.saved_gid
            );
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_to_ourselves_is_a_no_op() {
        let guard =
            ThreadCredentials::switch_to(effective_uid(), effective_gid()).expect("no-op switch");
        assert!(!guard.switched);
    }

    #[test]
    fn root_switch_is_thread_scoped_and_restored() {
        if effective_uid() != 0 {
            eprintln!("skipping root_switch_is_thread_scoped_and_restored: needs root");
            return;
        }
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let other = barrier.clone();
        let handle = std::thread::spawn(move || {
            let guard = ThreadCredentials::switch_to(65534, 65534).expect("root may switch");
            let inside = (effective_uid(), effective_gid());
            other.wait(); // switched: let the main thread look at its own ids
            other.wait(); // main thread has looked
            drop(guard);
            (inside, (effective_uid(), effective_gid()))
        });
        barrier.wait();
        let main_thread_while_switched = (effective_uid(), effective_gid());
        barrier.wait();
        let (inside, after) = handle.join().expect("thread");
        assert_eq!(inside, (65534, 65534));
        assert_eq!(after, (0, 0));
        assert_eq!(
            main_thread_while_switched,
            (0, 0),
            "the switch leaked to another thread"
        );
        assert_eq!(effective_uid(), 0);
    }
}
