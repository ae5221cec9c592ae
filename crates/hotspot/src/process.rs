//! What we learn about a target process from `/proc/<pid>` before attaching: its pid inside its
//! own namespace, its credentials, which JVM (if any) it runs, whether it handles SIGQUIT and
//! whether attach was disabled on its command line or in its environment.
//!
//! The parsing functions are pure (text in, values out); [`Target::inspect_in`] takes the proc
//! root so tests can point it at a fixture directory.

use std::path::{Path, PathBuf};

use crate::error::{AttachError, Result};

/// Fields of `/proc/<pid>/status` the attach needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStatus {
    /// `Name:` (the kernel's 15-character command name).
    pub name: String,
    /// Single-letter state (`R`, `S`, `Z`, …).
    pub state: char,
    /// Last value of `NStgid:`: the pid as the process itself sees it (1 in a container).
    pub ns_pid: u32,
    /// Effective uid (second value of `Uid:`).
    pub euid: u32,
    /// Effective gid (second value of `Gid:`).
    pub egid: u32,
    /// `SigCgt:` mask: bit n-1 set when signal n has a handler.
    pub caught_signals: u64,
}

/// Parse `/proc/<pid>/status`. `None` when a required field is missing or malformed.
pub fn parse_status(text: &str) -> Option<ProcStatus> {
    let mut name = None;
    let mut state = None;
    let mut ns_pid = None;
    let mut tgid = None;
    let mut euid = None;
    let mut egid = None;
    let mut caught = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key {
            "Name" => name = Some(value.to_string()),
            "State" => state = value.chars().next(),
            "Tgid" => tgid = value.parse::<u32>().ok(),
            "NStgid" => {
                ns_pid = value
                    .split_whitespace()
                    .last()
                    .and_then(|v| v.parse::<u32>().ok())
            }
            "Uid" => {
                euid = value
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u32>().ok())
            }
            "Gid" => {
                egid = value
                    .split_whitespace()
                    .nth(1)
                    .and_then(|v| v.parse::<u32>().ok())
            }
            "SigCgt" => caught = u64::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    Some(ProcStatus {
        name: name?,
        state: state.unwrap_or('?'),
        // Kernels before 4.1 have no NStgid: the process is then not in a child pid namespace
        // we could see anyway.
        ns_pid: ns_pid.or(tgid)?,
        euid: euid?,
        egid: egid?,
        caught_signals: caught.unwrap_or(0),
    })
}

/// Which virtual machine a process has loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JvmKind {
    /// HotSpot (OpenJDK, Oracle, Temurin, Corretto, Zulu…): attachable.
    HotSpot,
    /// Eclipse OpenJ9 / IBM Semeru: different attach mechanism.
    OpenJ9,
    /// No JVM library mapped.
    None,
}

/// Classify a process from its `/proc/<pid>/maps`. OpenJ9 also ships a `libjvm.so` (a shim), so
/// its own `libj9vm` is looked for first.
pub fn jvm_kind_from_maps(maps: &str) -> JvmKind {
    let mut hotspot = false;
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        let file = path.rsplit('/').next().unwrap_or(path);
        if file.starts_with("libj9vm") {
            return JvmKind::OpenJ9;
        }
        if file == "libjvm.so" {
            hotspot = true;
        }
    }
    if hotspot {
        JvmKind::HotSpot
    } else {
        JvmKind::None
    }
}

/// Where `-XX:+DisableAttachMechanism` is in effect, if it is: looks at the environment variables
/// the JVM reads and the command line, in the order the JVM applies them (last one wins).
pub fn attach_disabled_by(cmdline: &[String], environ: &[(String, String)]) -> Option<String> {
    let env = |key: &str| {
        environ
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut sources: Vec<(String, Vec<&str>)> = Vec::new();
    for key in ["JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"] {
        if let Some(v) = env(key) {
            sources.push((format!("in ${key}"), v.split_whitespace().collect()));
        }
    }
    sources.push((
        "on the command line".to_string(),
        cmdline.iter().map(String::as_str).collect(),
    ));
    if let Some(v) = env("_JAVA_OPTIONS") {
        sources.push((
            "in $_JAVA_OPTIONS".to_string(),
            v.split_whitespace().collect(),
        ));
    }
    let mut state: Option<String> = None;
    for (place, args) in &sources {
        for arg in args {
            match *arg {
                "-XX:+DisableAttachMechanism" => state = Some(place.clone()),
                "-XX:-DisableAttachMechanism" => state = None,
                _ => {}
            }
        }
    }
    state
}

/// A short, file-name-safe name for a Java process: the jar's stem for `-jar app.jar`, the main
/// class's simple name, or the kernel's command name.
pub fn display_name(cmdline: &[String], comm: &str) -> String {
    // Launcher options that take a separate value.
    const WITH_VALUE: &[&str] = &[
        "-cp",
        "-classpath",
        "--class-path",
        "-p",
        "--module-path",
        "--upgrade-module-path",
        "--add-modules",
        "--add-reads",
        "--add-exports",
        "--add-opens",
        "--limit-modules",
        "--patch-module",
        "--enable-native-access",
    ];
    let mut name: Option<String> = None;
    let mut args = cmdline.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "-jar" {
            name = args.next().map(|jar| {
                let file = jar.rsplit('/').next().unwrap_or(jar);
                file.strip_suffix(".jar").unwrap_or(file).to_string()
            });
            break;
        }
        if arg == "-m" || arg == "--module" {
            name = args
                .next()
                .map(|m| m.rsplit(['/', '.']).next().unwrap_or(m).to_string());
            break;
        }
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
            continue;
        }
        if arg.starts_with('-') || arg.starts_with('@') {
            continue;
        }
        name = Some(arg.rsplit('.').next().unwrap_or(arg).to_string());
        break;
    }
    let raw = name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| comm.to_string());
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if safe.is_empty() {
        "process".to_string()
    } else {
        safe
    }
}

/// Split a NUL-separated /proc file (cmdline, environ).
fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks), used to notice pid reuse.
fn start_time_from_stat(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// A process we intend to attach to, as seen from the host.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host pid.
    pub pid: u32,
    /// Pid inside the process's own pid namespace (names the socket and trigger files).
    pub ns_pid: u32,
    /// Effective uid and gid: the attach must be made with these (or as root).
    pub euid: u32,
    /// See `euid`.
    pub egid: u32,
    /// Short, file-name-safe name (jar stem, main class or command name).
    pub name: String,
    /// Kernel command name.
    pub comm: String,
    /// HotSpot, OpenJ9 or none.
    pub kind: JvmKind,
    /// Whether a SIGQUIT handler is installed (false under `-Xrs`: the signal would kill it).
    pub handles_sigquit: bool,
    /// Where `-XX:+DisableAttachMechanism` was found, if anywhere.
    pub attach_disabled: Option<String>,
    proc_dir: PathBuf,
    start_time: Option<u64>,
}

impl Target {
    /// Inspect `/proc/<pid>` on this machine.
    pub fn inspect(pid: u32) -> Result<Target> {
        Self::inspect_in(Path::new("/proc"), pid)
    }

    /// Inspect `<proc_root>/<pid>` (a fixture directory in tests).
    pub fn inspect_in(proc_root: &Path, pid: u32) -> Result<Target> {
        let proc_dir = proc_root.join(pid.to_string());
        let read = |file: &str| -> Result<Vec<u8>> {
            let path = proc_dir.join(file);
            std::fs::read(&path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => AttachError::NoSuchProcess { pid },
                _ => AttachError::ProcAccess { pid, path, source },
            })
        };
        let status_text = String::from_utf8_lossy(&read("status")?).into_owned();
        let status = parse_status(&status_text).ok_or_else(|| AttachError::ProcAccess {
            pid,
            path: proc_dir.join("status"),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "missing Name/Uid/Gid/NStgid fields",
            ),
        })?;
        if matches!(status.state, 'Z' | 'X') {
            return Err(AttachError::NoSuchProcess { pid });
        }
        let maps = String::from_utf8_lossy(&read("maps")?).into_owned();
        let kind = jvm_kind_from_maps(&maps);
        let cmdline = split_nul(&read("cmdline").unwrap_or_default());
        // environ is readable by the owner and root only; without it we rely on the command line.
        let environ: Vec<(String, String)> = split_nul(&read("environ").unwrap_or_default())
            .into_iter()
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let start_time = read("stat")
            .ok()
            .and_then(|s| start_time_from_stat(&String::from_utf8_lossy(&s)));
        Ok(Target {
            pid,
            ns_pid: status.ns_pid,
            euid: status.euid,
            egid: status.egid,
            name: display_name(&cmdline, &status.name),
            comm: status.name,
            kind,
            handles_sigquit: status.caught_signals & (1 << (libc::SIGQUIT - 1)) != 0,
            attach_disabled: attach_disabled_by(&cmdline, &environ),
            proc_dir,
            start_time,
        })
    }

    /// Fail unless this is a HotSpot JVM that allows attaching.
    pub fn ensure_attachable(&self) -> Result<()> {
        match self.kind {
            JvmKind::None => {
                return Err(AttachError::NotAJvm {
                    pid: self.pid,
                    name: self.comm.clone(),
                });
            }
            JvmKind::OpenJ9 => return Err(AttachError::OpenJ9 { pid: self.pid }),
            JvmKind::HotSpot => {}
        }
        if let Some(found_in) = &self.attach_disabled {
            return Err(AttachError::AttachDisabled {
                pid: self.pid,
                found_in: found_in.clone(),
            });
        }
        Ok(())
    }

    /// The host path of `path` as the target sees it, through `/proc/<pid>/root` (its mount
    /// namespace; works for containers without entering them).
    pub fn path_in_root(&self, path: &Path) -> PathBuf {
        let relative = path.strip_prefix("/").unwrap_or(path);
        self.proc_dir.join("root").join(relative)
    }

    /// The host path of the target's current directory.
    pub fn cwd_path(&self) -> PathBuf {
        self.proc_dir.join("cwd")
    }

    /// True while the same process (same start time: not a reused pid) exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        let Ok(stat) = std::fs::read_to_string(self.proc_dir.join("stat")) else {
            return false;
        };
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        if matches!(state, Some("Z" | "X") | None) {
            return false;
        }
        self.start_time.is_none() || start_time_from_stat(&stat) == self.start_time
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tjava\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4242\n\
PPid:\t1\nUid:\t1000\t1001\t1001\t1001\nGid:\t2000\t2001\t2001\t2001\nNStgid:\t4242\t1\nNSpid:\t4242\t1\n\
SigCgt:\t0000000101005ccd\n";

    #[test]
    fn status_gives_namespace_pid_and_effective_ids() {
        let s = parse_status(STATUS).expect("valid status");
        assert_eq!(s.name, "java");
        assert_eq!(s.state, 'S');
        assert_eq!(s.ns_pid, 1);
        assert_eq!((s.euid, s.egid), (1001, 2001));
        assert_ne!(s.caught_signals & (1 << (libc::SIGQUIT - 1)), 0);
    }

    #[test]
    fn status_without_nstgid_uses_tgid_and_incomplete_status_is_none() {
        let old = STATUS.replace("NStgid:\t4242\t1\n", "");
        assert_eq!(parse_status(&old).map(|s| s.ns_pid), Some(4242));
        assert_eq!(parse_status("Name:\tx\n"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn maps_classify_hotspot_openj9_and_others() {
        let hotspot =
            "7f00-7f01 r-xp 00000000 fe:01 123 /usr/lib/jvm/java-17/lib/server/libjvm.so\n";
        let openj9 = "7f00-7f01 r-xp 0 fe:01 1 /opt/java/lib/default/libj9vm29.so\n\
                      7f02-7f03 r-xp 0 fe:01 2 /opt/java/lib/server/libjvm.so\n";
        assert_eq!(jvm_kind_from_maps(hotspot), JvmKind::HotSpot);
        assert_eq!(jvm_kind_from_maps(openj9), JvmKind::OpenJ9);
        assert_eq!(
            jvm_kind_from_maps("7f00-7f01 r-xp 0 fe:01 1 /usr/bin/sleep\n"),
            JvmKind::None
        );
        assert_eq!(jvm_kind_from_maps("garbage\n\n"), JvmKind::None);
    }

    #[test]
    fn disable_attach_last_setting_wins() {
        let cmd = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            attach_disabled_by(&cmd("java -XX:+DisableAttachMechanism Main"), &[]),
            Some("on the command line".into())
        );
        assert_eq!(
            attach_disabled_by(
                &cmd("java -XX:+DisableAttachMechanism -XX:-DisableAttachMechanism M"),
                &[]
            ),
            None
        );
        let env = vec![(
            "JAVA_TOOL_OPTIONS".to_string(),
            "-Xmx1g -XX:+DisableAttachMechanism".to_string(),
        )];
        assert_eq!(
            attach_disabled_by(&cmd("java Main"), &env),
            Some("in $JAVA_TOOL_OPTIONS".into())
        );
        assert_eq!(
            attach_disabled_by(&cmd("java -XX:-DisableAttachMechanism Main"), &env),
            None
        );
        let late = vec![(
            "_JAVA_OPTIONS".to_string(),
            "-XX:+DisableAttachMechanism".to_string(),
        )];
        assert_eq!(
            attach_disabled_by(&cmd("java -XX:-DisableAttachMechanism Main"), &late),
            Some("in $_JAVA_OPTIONS".into())
        );
    }

    #[test]
    fn display_names_from_java_command_lines() {
        let cmd = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            display_name(
                &cmd("java -Xmx1g -jar /srv/orders-service.jar --port 8080"),
                "java"
            ),
            "orders-service"
        );
        assert_eq!(
            display_name(
                &cmd("java -cp a.jar:b.jar -Dx=y com.example.billing.Main arg"),
                "java"
            ),
            "Main"
        );
        assert_eq!(
            display_name(&cmd("java -p mods -m com.example/com.example.App"), "java"),
            "App"
        );
        assert_eq!(display_name(&cmd("java -version"), "java"), "java");
        assert_eq!(display_name(&[], "weird name/x"), "weird_name_x");
    }

    #[test]
    fn stat_start_time_survives_parentheses_in_name() {
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_from_stat(stat), Some(987654));
    }

    #[test]
    fn inspect_fixture_reports_openj9_and_missing_pid() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("77");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("status"), STATUS).expect("write");
        std::fs::write(
            dir.join("maps"),
            "7f00-7f01 r-xp 0 fe:01 1 /opt/j9/lib/default/libj9vm29.so\n",
        )
        .expect("write");
        std::fs::write(dir.join("cmdline"), b"java\0-jar\0/app/shop.jar\0").expect("write");
        let target = Target::inspect_in(root.path(), 77).expect("fixture");
        assert_eq!(target.kind, JvmKind::OpenJ9);
        assert_eq!(target.name, "shop");
        assert!(matches!(
            target.ensure_attachable(),
            Err(AttachError::OpenJ9 { pid: 77 })
        ));
        assert!(matches!(
            Target::inspect_in(root.path(), 78),
            Err(AttachError::NoSuchProcess { pid: 78 })
        ));
    }
}
