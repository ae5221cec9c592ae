//! The `lsblk` view from `/sys/block`.

use crate::model::{BlockDevice, Mount};
use crate::{Result, Sources};

/// Read disks and their partitions. Unused loop devices (size 0) are left out, as `lsblk` does.
/// `mounts` fills each device's mount points through `major:minor`.
pub fn read_block_devices(src: &mut Sources, mounts: &[Mount]) -> Result<Vec<BlockDevice>> {
    let mut names = src.root().read_dir_names("/sys/block")?;
    names.sort();
    src.note("/sys/block");
    let mut out = Vec::new();
    for name in names {
        let dir = format!("/sys/block/{name}");
        let disk = read_device(src, &dir, &name, kind_of_disk(&name), None, mounts);
        if disk.kind == "loop" && disk.size_bytes == 0 {
            continue;
        }
        out.push(disk);
        // Partitions are subdirectories holding a `partition` file.
        let mut children = src.root().read_dir_names(&dir).unwrap_or_default();
        children.sort();
        // Partitions are named after their disk (sda1, nvme0n1p2); skip the attribute files.
        for child in children
            .into_iter()
            .filter(|c| c.starts_with(name.as_str()))
        {
            let child_dir = format!("{dir}/{child}");
            if src.root().exists(&format!("{child_dir}/partition")) {
                out.push(read_device(
                    src,
                    &child_dir,
                    &child,
                    "part",
                    Some(&name),
                    mounts,
                ));
            }
        }
    }
    Ok(out)
}

fn read_device(
    src: &mut Sources,
    dir: &str,
    name: &str,
    kind: &str,
    parent: Option<&str>,
    mounts: &[Mount],
) -> BlockDevice {
    let mut attr = |file: &str| -> Option<String> {
        let path = format!("{dir}/{file}");
        match src.text_opt(&path) {
            Ok(v) => v.map(|s| s.trim().to_string()),
            Err(e) => {
                src.warn(e.to_string());
                None
            }
        }
    };
    let flag = |v: Option<String>| v.and_then(|s| s.parse::<u8>().ok()).map(|n| n != 0);
    let major_minor = attr("dev");
    let size_text = attr("size");
    let sectors: Option<u64> = size_text.as_deref().and_then(|s| s.parse().ok());
    let rotational = flag(attr("queue/rotational"));
    let read_only = flag(attr("ro"));
    let removable = flag(attr("removable"));
    let model = attr("device/model").filter(|m| !m.is_empty());
    if let (Some(text), None) = (&size_text, sectors) {
        src.warn(format!(
            "{dir}/size: expected a number of 512-byte sectors, found {text:?}"
        ));
    }
    let mount_points = major_minor
        .as_deref()
        .map(|mm| {
            mounts
                .iter()
                .filter(|m| m.major_minor == mm && m.root == "/")
                .map(|m| m.mount_point.clone())
                .collect()
        })
        .unwrap_or_default();
    BlockDevice {
        name: name.to_string(),
        kind: kind.to_string(),
        parent: parent.map(str::to_string),
        major_minor,
        size_bytes: sectors.unwrap_or(0).saturating_mul(512),
        // Partitions have no queue directory of their own: take the disk's.
        rotational: rotational.or_else(|| {
            parent
                .and_then(|p| {
                    src.text_opt(&format!("/sys/block/{p}/queue/rotational"))
                        .ok()
                        .flatten()
                })
                .and_then(|s| s.trim().parse::<u8>().ok())
                .map(|n| n != 0)
        }),
        read_only,
        removable,
        model,
        mount_points,
    }
}

/// `lsblk`-style TYPE from the kernel name.
pub fn kind_of_disk(name: &str) -> &'static str {
    if name.starts_with("loop") {
        "loop"
    } else if name.starts_with("sr") {
        "rom"
    } else if name.starts_with("dm-") {
        "dm"
    } else if name.starts_with("md") {
        "md"
    } else {
        "disk"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(kind_of_disk("loop3"), "loop");
        assert_eq!(kind_of_disk("nvme0n1"), "disk");
        assert_eq!(kind_of_disk("dm-0"), "dm");
        assert_eq!(kind_of_disk("sr0"), "rom");
    }
}
