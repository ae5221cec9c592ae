//! The `df` view: statvfs of every real (and tmpfs/overlay) mount, with inodes.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::model::{Filesystem, Mount};
use crate::{Error, Result, Sources};

/// Filesystem types that hold no user data; `df` leaves them out and so does the snapshot.
pub const PSEUDO_FS_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devfs",
    "devpts",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "kernfs",
    "mqueue",
    "nfsd",
    "nsfs",
    "proc",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tracefs",
    "rootfs",
    "ramfs",
    "none",
];

/// The statvfs figures of one path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatVfs {
    pub fragment_size: u64,
    pub blocks: u64,
    pub blocks_free: u64,
    pub blocks_available: u64,
    pub files: u64,
    pub files_free: u64,
    pub read_only: bool,
}

/// `statvfs(2)` on a path.
pub fn statvfs(path: &Path) -> Result<StatVfs> {
    let c_path = CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::Syscall {
        call: "statvfs",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"),
    })?;
    // SAFETY: zeroed statvfs is a valid value of a plain C struct; the pointer is valid for the call.
    let mut out: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `out` is a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut out) };
    if rc != 0 {
        return Err(Error::Syscall {
            call: "statvfs",
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    let fragment_size = if out.f_frsize > 0 {
        out.f_frsize
    } else {
        out.f_bsize
    };
    Ok(StatVfs {
        fragment_size,
        blocks: out.f_blocks,
        blocks_free: out.f_bfree,
        blocks_available: out.f_bavail,
        files: out.f_files,
        files_free: out.f_ffree,
        read_only: out.f_flag & libc::ST_RDONLY != 0,
    })
}

/// Turn statvfs figures into a [`Filesystem`] row, the way `df` computes its columns.
pub fn filesystem_row(mount: &Mount, st: &StatVfs) -> Filesystem {
    let size = st.blocks.saturating_mul(st.fragment_size);
    let used = st
        .blocks
        .saturating_sub(st.blocks_free)
        .saturating_mul(st.fragment_size);
    let available = st.blocks_available.saturating_mul(st.fragment_size);
    let denominator = used.saturating_add(available);
    let use_percent = (denominator > 0).then(|| {
        // df rounds Use% up.
        let exact = used as f64 * 100.0 / denominator as f64;
        exact.ceil()
    });
    Filesystem {
        mount_point: mount.mount_point.clone(),
        source: mount.source.clone(),
        fs_type: mount.fs_type.clone(),
        size_bytes: size,
        used_bytes: used,
        available_bytes: available,
        use_percent,
        inodes_total: st.files,
        inodes_used: st.files.saturating_sub(st.files_free),
        inodes_free: st.files_free,
        read_only: st.read_only || mount.options.split(',').any(|o| o == "ro"),
    }
}

/// The mounts `df` would show: no pseudo filesystems, only the visible (last) mount of each
/// mount point, and one mount per device (the shortest mount point, as `df` does for bind mounts).
pub fn df_candidates(mounts: &[Mount]) -> Vec<&Mount> {
    let mut last_at_point: HashMap<&str, usize> = HashMap::new();
    for (i, m) in mounts.iter().enumerate() {
        last_at_point.insert(m.mount_point.as_str(), i);
    }
    let mut by_device: HashMap<&str, usize> = HashMap::new();
    let mut keep: Vec<usize> = Vec::new();
    for (i, m) in mounts.iter().enumerate() {
        if last_at_point.get(m.mount_point.as_str()) != Some(&i)
            || PSEUDO_FS_TYPES.contains(&m.fs_type.as_str())
        {
            continue;
        }
        match by_device.get(m.major_minor.as_str()) {
            Some(&kept) if m.major_minor != "0:0" => {
                let kept_mount = &mounts[keep[kept]];
                if m.mount_point.len() < kept_mount.mount_point.len() {
                    keep[kept] = i;
                }
            }
            _ => {
                by_device.insert(m.major_minor.as_str(), keep.len());
                keep.push(i);
            }
        }
    }
    keep.sort_unstable();
    keep.into_iter().map(|i| &mounts[i]).collect()
}

/// statvfs every `df` candidate. `path_prefix` is prepended to each mount point (under the
/// root) to reach it: empty for the collector's own view, `/proc/<pid>/root` for a process's.
/// Filesystems of size 0 are left out (as `df` does); a mount whose statvfs fails is a warning.
pub fn read_filesystems(
    src: &mut Sources,
    mounts: &[Mount],
    path_prefix: &str,
) -> Result<Vec<Filesystem>> {
    let mut out = Vec::new();
    for mount in df_candidates(mounts) {
        let target = format!("{path_prefix}{}", mount.mount_point);
        src.set_progress(&format!("statvfs {target}"));
        match statvfs(&src.root().path(&target)) {
            Ok(st) if st.blocks == 0 => {}
            Ok(st) => out.push(filesystem_row(mount, &st)),
            Err(e) => src.warn(e.to_string()),
        }
    }
    src.note("statvfs(2) of each mount point");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(id: u32, mm: &str, point: &str, fs: &str) -> Mount {
        Mount {
            mount_id: id,
            major_minor: mm.into(),
            mount_point: point.into(),
            fs_type: fs.into(),
            options: "rw".into(),
            ..Mount::default()
        }
    }

    #[test]
    fn df_filtering_keeps_real_tmpfs_overlay_and_the_visible_mount() {
        let mounts = vec![
            mount(1, "254:0", "/", "ext4"),
            mount(2, "0:21", "/proc", "proc"),
            mount(3, "0:23", "/dev/shm", "tmpfs"),
            mount(4, "0:27", "/dev/shm", "tmpfs"),
            mount(5, "0:40", "/var/lib/docker/overlay2/x/merged", "overlay"),
            mount(6, "254:0", "/var/lib/kubelet/pods/bind", "ext4"),
            mount(7, "0:38", "/sys/fs/cgroup/unified", "cgroup2"),
        ];
        let kept: Vec<u32> = df_candidates(&mounts).iter().map(|m| m.mount_id).collect();
        assert_eq!(kept, vec![1, 4, 5]);
    }

    #[test]
    fn rows_are_computed_like_df() {
        let st = StatVfs {
            fragment_size: 4096,
            blocks: 1000,
            blocks_free: 300,
            blocks_available: 250,
            files: 100,
            files_free: 40,
            read_only: false,
        };
        let row = filesystem_row(&mount(1, "8:1", "/", "ext4"), &st);
        assert_eq!(row.size_bytes, 4_096_000);
        assert_eq!(row.used_bytes, 700 * 4096);
        assert_eq!(row.available_bytes, 250 * 4096);
        assert_eq!(row.use_percent, Some(74.0)); // 700/950 = 73.7 → 74 like df
        assert_eq!((row.inodes_used, row.inodes_free), (60, 40));
    }

    #[test]
    fn statvfs_of_root_and_missing_path() {
        let st = statvfs(Path::new("/")).expect("statvfs /");
        assert!(st.blocks > 0);
        assert!(statvfs(Path::new("/definitely/not/here")).is_err());
    }
}
