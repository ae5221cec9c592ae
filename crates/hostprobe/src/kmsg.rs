//! OOM kills and conntrack "table full" lines from the kernel log buffer (`/dev/kmsg`).
//!
//! `/dev/kmsg` is opened non-blocking and read record by record until the kernel says there is
//! nothing more (EAGAIN), bounded by a record count, a byte count and a deadline. A fixture
//! tree may hold a regular file at `dev/kmsg` with the same record format instead.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::time::Instant;

use crate::model::{KernelLog, KernelLogLine, OomKill};
use crate::{Error, Result, Sources};

/// The device path.
pub const KMSG: &str = "/dev/kmsg";

/// One parsed `/dev/kmsg` record: `prio,seq,usec,flags[,…];message` plus ` KEY=value` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub priority: u8,
    pub sequence: u64,
    pub since_boot_usec: u64,
    pub message: String,
}

/// Parse one record; `None` for text that is not a record (continuation lines are dropped).
pub fn parse_record(text: &str) -> Option<Record> {
    let first = text.lines().next()?;
    let (prefix, message) = first.split_once(';')?;
    let mut fields = prefix.split(',');
    let priority: u32 = fields.next()?.parse().ok()?;
    let sequence = fields.next()?.parse().ok()?;
    let since_boot_usec = fields.next()?.parse().ok()?;
    Some(Record {
        priority: (priority & 7) as u8,
        sequence,
        since_boot_usec,
        message: unescape_kmsg(message),
    })
}

/// /dev/kmsg escapes non-printable bytes as `\xNN`.
fn unescape_kmsg(message: &str) -> String {
    if !message.contains("\\x") {
        return message.to_string();
    }
    let bytes = message.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && bytes.get(i + 1) == Some(&b'x') {
            if let Some(hex) = message.get(i + 2..i + 4) {
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
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

/// True for lines about the OOM killer.
pub fn is_oom_line(message: &str) -> bool {
    message.contains("invoked oom-killer:")
        || message.starts_with("oom-kill:")
        || message.contains("Killed process ")
        || message.starts_with("Memory cgroup out of memory")
        || message.starts_with("Out of memory")
}

/// True for conntrack overflow lines: `nf_conntrack: table full, dropping packet` (newer
/// kernels repeat the prefix and may add ` in netns …`).
pub fn is_conntrack_full_line(message: &str) -> bool {
    let mut rest = message.trim_start();
    let mut prefixed = false;
    while let Some(r) = rest.strip_prefix("nf_conntrack: ") {
        rest = r;
        prefixed = true;
    }
    prefixed && rest.starts_with("table full")
}

/// Scans records and keeps what matters, bounded.
#[derive(Debug)]
pub struct Scanner {
    boot_time_unix_seconds: Option<u64>,
    max_matches: usize,
    pub log: KernelLog,
}

impl Scanner {
    pub fn new(source: &str, boot_time_unix_seconds: Option<u64>, max_matches: usize) -> Self {
        Self {
            boot_time_unix_seconds,
            max_matches: max_matches.max(1),
            log: KernelLog {
                source: source.to_string(),
                ..KernelLog::default()
            },
        }
    }

    fn wall_time(&self, usec: u64) -> Option<String> {
        let boot = self.boot_time_unix_seconds?;
        let micros = i64::try_from(boot)
            .ok()?
            .checked_mul(1_000_000)?
            .checked_add(i64::try_from(usec).ok()?)?;
        jiff::Timestamp::from_microsecond(micros)
            .ok()
            .map(|t| t.to_string())
    }

    /// Look at one record.
    pub fn push(&mut self, record: Record) {
        self.log.records_read += 1;
        let oom = is_oom_line(&record.message);
        let full = !oom && is_conntrack_full_line(&record.message);
        if !oom && !full {
            return;
        }
        if oom {
            self.note_oom_kill(&record);
        }
        let line = KernelLogLine {
            sequence: record.sequence,
            since_boot_usec: record.since_boot_usec,
            time: self.wall_time(record.since_boot_usec),
            priority: record.priority,
            message: record.message,
        };
        let list = if oom {
            &mut self.log.oom_lines
        } else {
            &mut self.log.conntrack_full_lines
        };
        if list.len() >= self.max_matches {
            list.remove(0); // keep the newest
        }
        list.push(line);
    }

    fn note_oom_kill(&mut self, record: &Record) {
        let message = &record.message;
        if let Some(rest) = message.strip_prefix("oom-kill:") {
            let mut kill = OomKill {
                since_boot_usec: record.since_boot_usec,
                time: self.wall_time(record.since_boot_usec),
                ..OomKill::default()
            };
            for pair in rest.split(',') {
                let Some((key, value)) = pair.split_once('=') else {
                    continue;
                };
                match key.trim() {
                    "constraint" => kill.constraint = Some(value.to_string()),
                    "oom_memcg" => kill.oom_memcg = Some(value.to_string()),
                    "task_memcg" => kill.task_memcg = Some(value.to_string()),
                    "task" => kill.task = Some(value.to_string()),
                    "pid" => kill.pid = value.parse().ok(),
                    "uid" => kill.uid = value.parse().ok(),
                    _ => {}
                }
            }
            self.push_kill(kill);
        } else if let Some(at) = message.find("Killed process ") {
            // `Killed process 1234 (java) total-vm:1234kB, anon-rss:567kB, file-rss:0kB, …`
            let rest = &message[at + "Killed process ".len()..];
            let pid: Option<u32> = rest.split_whitespace().next().and_then(|p| p.parse().ok());
            let task = rest
                .find('(')
                .zip(rest.rfind(')'))
                .filter(|(a, b)| a < b)
                .map(|(a, b)| rest[a + 1..b].to_string());
            let kb = |key: &str| -> Option<u64> {
                let start = rest.find(key)? + key.len();
                let digits: String = rest[start..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse::<u64>().ok().map(|v| v.saturating_mul(1024))
            };
            let (anon, vm) = (kb("anon-rss:"), kb("total-vm:"));
            // Merge with the `oom-kill:` line for the same pid just before it.
            if let Some(last) = self
                .log
                .oom_kills
                .last_mut()
                .filter(|k| k.pid == pid && k.anon_rss_bytes.is_none())
            {
                last.anon_rss_bytes = anon;
                last.total_vm_bytes = vm;
                if last.task.is_none() {
                    last.task = task;
                }
            } else {
                let kill = OomKill {
                    since_boot_usec: record.since_boot_usec,
                    time: self.wall_time(record.since_boot_usec),
                    pid,
                    task,
                    anon_rss_bytes: anon,
                    total_vm_bytes: vm,
                    ..OomKill::default()
                };
                self.push_kill(kill);
            }
        }
    }

    fn push_kill(&mut self, kill: OomKill) {
        if self.log.oom_kills.len() >= self.max_matches {
            self.log.oom_kills.remove(0);
        }
        self.log.oom_kills.push(kill);
    }
}

/// Read the kernel log under the root: the live `/dev/kmsg` device, or a regular file there in
/// a fixture tree. `deadline` bounds the time spent.
pub fn read_kernel_log(
    src: &mut Sources,
    boot_time_unix_seconds: Option<u64>,
    deadline: Instant,
) -> Result<KernelLog> {
    let path = src.root().path(KMSG);
    let limits = src.limits().clone();
    let mut scanner = Scanner::new(KMSG, boot_time_unix_seconds, limits.kmsg_max_matches);
    src.set_progress(KMSG);
    let metadata = std::fs::metadata(&path).map_err(|e| Error::io("opening", &path, e))?;
    if !metadata.file_type().is_char_device() {
        // A fixture: records one per line, continuation lines start with a space.
        let text = src.text(KMSG)?;
        for line in text.lines().filter(|l| !l.starts_with(' ')) {
            if scanner.log.records_read >= limits.kmsg_max_records {
                scanner.log.truncated = true;
                break;
            }
            scanner.log.bytes_read += line.len() as u64 + 1;
            if let Some(record) = parse_record(line) {
                scanner.push(record);
            }
        }
        return Ok(scanner.log);
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| Error::io("opening", &path, e))?;
    src.note(KMSG);
    let mut buf = vec![0u8; 16 * 1024];
    let mut kept = Vec::new();
    loop {
        if scanner.log.records_read >= limits.kmsg_max_records
            || scanner.log.bytes_read >= limits.kmsg_max_bytes
        {
            scanner.log.truncated = true;
            break;
        }
        if scanner.log.records_read % 1024 == 0 && Instant::now() >= deadline {
            scanner.log.truncated = true;
            break;
        }
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                scanner.log.bytes_read += n as u64;
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(record) = parse_record(&text) {
                    let matches =
                        is_oom_line(&record.message) || is_conntrack_full_line(&record.message);
                    if matches && kept.len() < 1 << 20 {
                        kept.extend_from_slice(text.lines().next().unwrap_or_default().as_bytes());
                        kept.push(b'\n');
                    }
                    scanner.push(record);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // Records were overwritten while reading: the reader is moved on; say the log is incomplete.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => scanner.log.truncated = true,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("reading", &path, e)),
        }
    }
    // Only the matching records are kept raw: the rest of the buffer is not this tool's business.
    src.record(
        KMSG,
        &kept,
        Some("only the OOM and conntrack records the snapshot matched".to_string()),
    );
    Ok(scanner.log)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_matching() {
        let r = parse_record("6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net")
            .expect("record");
        assert_eq!(
            (r.priority, r.sequence, r.since_boot_usec),
            (6, 339, 5_140_900)
        );
        assert_eq!(r.message, "NET: Registered protocol family 10");
        assert_eq!(
            parse_record("4,1,2,-,caller=T1;x\\x09y")
                .expect("record")
                .message,
            "x\ty"
        );
        assert!(parse_record("garbage").is_none());
        assert!(parse_record("a,b,c;x").is_none());
        assert!(is_conntrack_full_line(
            "nf_conntrack: table full, dropping packet"
        ));
        assert!(is_conntrack_full_line(
            "nf_conntrack: nf_conntrack: table full, dropping packet in netns 2"
        ));
        assert!(!is_conntrack_full_line("table full"));
        assert!(is_oom_line(
            "java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0"
        ));
    }

    #[test]
    fn oom_kill_lines_merge() {
        let mut s = Scanner::new("t", Some(1_700_000_000), 10);
        for line in [
            "6,1,1000000,-;java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0",
            "6,2,1000100,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/triage-test,task_memcg=/triage-test,task=java,pid=4242,uid=0",
            "3,3,1000200,-;Memory cgroup out of memory: Killed process 4242 (java) total-vm:3000000kB, anon-rss:300000kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1000kB oom_score_adj:0",
            "4,4,2000000,-;nf_conntrack: nf_conntrack: table full, dropping packet",
            "6,5,2000001,-;unrelated",
        ] {
            s.push(parse_record(line).expect("record"));
        }
        assert_eq!(s.log.records_read, 5);
        assert_eq!(s.log.oom_lines.len(), 3);
        assert_eq!(s.log.conntrack_full_lines.len(), 1);
        assert_eq!(s.log.oom_kills.len(), 1);
        let k = &s.log.oom_kills[0];
        assert_eq!(k.pid, Some(4242));
        assert_eq!(k.task.as_deref(), Some("java"));
        assert_eq!(k.oom_memcg.as_deref(), Some("/triage-test"));
        assert_eq!(k.anon_rss_bytes, Some(300_000 * 1024));
        assert_eq!(k.time.as_deref(), Some("2023-11-14T22:13:21.0001Z"));
    }

    #[test]
    fn matches_are_bounded_newest_kept() {
        let mut s = Scanner::new("t", None, 2);
        for i in 0..5 {
            s.push(Record {
                priority: 4,
                sequence: i,
                since_boot_usec: i,
                message: "nf_conntrack: table full, dropping packet".into(),
            });
        }
        let seqs: Vec<u64> = s
            .log
            .conntrack_full_lines
            .iter()
            .map(|l| l.sequence)
            .collect();
        assert_eq!(seqs, vec![3, 4]);
    }
}
