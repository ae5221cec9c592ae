//! The `findmnt` view from `/proc/<pid>/mountinfo`.

use std::path::Path;

use crate::model::Mount;
use crate::{Error, Result, Sources};

/// Read the mount table seen by `pid` (`self` for the collector's own view).
pub fn read_mounts(src: &mut Sources, pid: &str) -> Result<Vec<Mount>> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = src.text(&path)?;
    Ok(mounts_or_warn(src, &text, &path))
}

/// Parse a mount table leniently: a malformed line is a warning, the other lines are kept (one
/// bad line must not hide the cgroup and filesystem mounts).
pub fn mounts_or_warn(src: &mut Sources, text: &str, path: &str) -> Vec<Mount> {
    let full = src.root().path(path);
    let max = src.limits().max_mounts;
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if mounts.len() >= max {
            src.warn(format!(
                "{path}: more than {max} mounts; the rest were not read"
            ));
            break;
        }
        match parse_mountinfo_line(line, &full, index + 1) {
            Ok(m) => mounts.push(m),
            Err(e) => src.warn(e.to_string()),
        }
    }
    mounts
}

/// Parse mountinfo lines:
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`.
/// At most `max_lines` mounts are kept.
pub fn parse_mountinfo(text: &str, path: &Path, max_lines: usize) -> Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if mounts.len() >= max_lines {
            break;
        }
        mounts.push(parse_mountinfo_line(line, path, index + 1)?);
    }
    Ok(mounts)
}

/// Parse one mountinfo line (`line_no` is for the error message).
pub fn parse_mountinfo_line(line: &str, path: &Path, line_no: usize) -> Result<Mount> {
    let bad = |what: &str| Error::parse(path, line_no, format!("{what} in {line:?}"));
    let fields: Vec<&str> = line.split(' ').collect();
    let separator = fields
        .iter()
        .position(|f| *f == "-")
        .ok_or_else(|| bad("no ` - ` separator"))?;
    if separator < 6 || fields.len() < separator + 3 {
        return Err(bad("too few fields"));
    }
    let number = |i: usize, name: &str| {
        fields[i]
            .parse::<u32>()
            .map_err(|_| bad(&format!("{name} is not a number")))
    };
    Ok(Mount {
        mount_id: number(0, "mount id")?,
        parent_id: number(1, "parent id")?,
        major_minor: fields[2].to_string(),
        root: unescape_octal(fields[3]),
        mount_point: unescape_octal(fields[4]),
        options: fields[5].to_string(),
        propagation: fields[6..separator].iter().map(|s| s.to_string()).collect(),
        fs_type: unescape_octal(fields[separator + 1]),
        source: unescape_octal(fields[separator + 2]),
        super_options: fields
            .get(separator + 3)
            .map(|s| unescape_octal(s))
            .unwrap_or_default(),
    })
}

/// Decode the kernel's `\ooo` escapes (space, tab, newline, backslash in mount paths).
pub fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let digits = &bytes[i + 1..(i + 4).min(bytes.len())];
            if digits.len() == 3 && digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = u32::from(digits[0] - b'0') * 64
                    + u32::from(digits[1] - b'0') * 8
                    + u32::from(digits[2] - b'0');
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_optional_fields_and_escapes() {
        let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n\
                    22 27 0:21 / /proc rw,relatime - proc proc rw\n";
        let m = parse_mountinfo(text, Path::new("/proc/self/mountinfo"), 100).expect("parses");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].mount_point, "/mnt/with space");
        assert_eq!(m[0].propagation, vec!["master:1", "shared:2"]);
        assert_eq!(
            (m[0].fs_type.as_str(), m[0].source.as_str()),
            ("ext3", "/dev/root")
        );
        assert_eq!(m[0].super_options, "rw,errors=continue");
        assert_eq!(m[1].propagation, Vec::<String>::new());
    }

    #[test]
    fn unescape_handles_edges() {
        assert_eq!(unescape_octal("a\\011b\\134c\\012"), "a\tb\\c\n");
        assert_eq!(unescape_octal("trailing\\"), "trailing\\");
        assert_eq!(unescape_octal("short\\04"), "short\\04");
        assert_eq!(unescape_octal("not\\999octal"), "not\\999octal");
        assert_eq!(unescape_octal("over\\777"), "over\\777");
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "1 2 3:4 / /x rw ext4 /dev/x rw",
            "x 2 3:4 / /x rw - ext4 /dev/x rw",
            "1 2 - a b",
        ] {
            assert!(parse_mountinfo(bad, Path::new("m"), 10).is_err(), "{bad:?}");
        }
    }
}
