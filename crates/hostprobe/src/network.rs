//! Sockets by state (`ss -s`) from `/proc/net/{tcp,tcp6,udp,udp6}` and interface counters from
//! `/proc/net/dev`, for the network namespace of the process whose `/proc/<pid>/net` is read.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::model::{Interface, Network, SocketTable, Sockets};
use crate::{Error, Result, Sources};

/// TCP state names by the kernel's numbering (`include/net/tcp_states.h`).
pub fn tcp_state_name(code: u8) -> &'static str {
    match code {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// Read the network section. `net_dir` is `/proc/net` (own namespace) or `/proc/<pid>/net`.
/// With `netlink`, socket counts come from a `NETLINK_SOCK_DIAG` dump of the collector's own
/// namespace (fast on large hash tables, see [`crate::sock_diag`]); a table netlink cannot
/// answer for is read from `net_dir` instead.
pub fn read_network(src: &mut Sources, net_dir: &str, netlink: bool) -> Result<Network> {
    let mut table = |name: &str| -> Option<SocketTable> {
        if netlink {
            let (family, protocol) = match name {
                "tcp" => (libc::AF_INET, libc::IPPROTO_TCP),
                "tcp6" => (libc::AF_INET6, libc::IPPROTO_TCP),
                "udp" => (libc::AF_INET, libc::IPPROTO_UDP),
                _ => (libc::AF_INET6, libc::IPPROTO_UDP),
            };
            src.set_progress(&format!("netlink sock_diag dump of {name}"));
            match crate::sock_diag::count_by_state(
                family as u8,
                protocol as u8,
                src.limits().max_socket_lines,
            ) {
                Ok(t) => {
                    src.note(&format!("netlink NETLINK_SOCK_DIAG dump ({name})"));
                    return Some(t);
                }
                // No IPv6 in the kernel: the table is absent, as /proc/net/tcp6 would be.
                Err(e)
                    if e.raw_os_error() == Some(libc::EAFNOSUPPORT)
                        || e.raw_os_error() == Some(libc::ENOENT) =>
                {
                    if !src.root().exists(&format!("{net_dir}/{name}")) {
                        return None;
                    }
                }
                Err(e) => tracing::debug!(
                    "sock_diag dump of {name} failed ({e}); reading {net_dir}/{name}"
                ),
            }
        }
        let path = format!("{net_dir}/{name}");
        src.set_progress(&path);
        let file = match src.root().open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                src.warn(Error::io("opening", &src.root().path(&path), e).to_string());
                return None;
            }
        };
        src.note(&path);
        match count_socket_states(
            BufReader::new(file),
            &src.root().path(&path),
            src.limits().max_socket_lines,
        ) {
            Ok(t) => Some(t),
            Err(e) => {
                src.warn(e.to_string());
                None
            }
        }
    };
    let sockets = Sockets {
        tcp: table("tcp"),
        tcp6: table("tcp6"),
        udp: table("udp"),
        udp6: table("udp6"),
    };
    let dev_path = format!("{net_dir}/dev");
    let interfaces = match src.text_opt(&dev_path) {
        Ok(Some(text)) => parse_net_dev(&text, &src.root().path(&dev_path)).unwrap_or_else(|e| {
            src.warn(e.to_string());
            Vec::new()
        }),
        Ok(None) => Vec::new(),
        Err(e) => {
            src.warn(e.to_string());
            Vec::new()
        }
    };
    Ok(Network {
        sockets,
        interfaces,
    })
}

/// Count the sockets of one `/proc/net/{tcp,udp}{,6}` table by the `st` column, streaming (a
/// busy host has hundreds of thousands of lines). Stops after `max_lines`.
pub fn count_socket_states(
    reader: impl BufRead,
    path: &Path,
    max_lines: u64,
) -> Result<SocketTable> {
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let mut total = 0u64;
    let mut buf = Vec::new();
    let mut reader = reader;
    let mut line_no = 0usize;
    loop {
        buf.clear();
        // Lines are ~150 bytes; bound each read so a line without newline cannot grow forever.
        let n = std::io::Read::take(&mut reader, 4096)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::io("reading", path, e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if line_no == 1 {
            continue; // header
        }
        if total >= max_lines {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        let mut fields = line.split_whitespace();
        let (Some(_sl), Some(_local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(Error::parse(
                path,
                line_no,
                "fewer than 4 fields: not a socket table line",
            ));
        };
        let code = u8::from_str_radix(state, 16).map_err(|_| {
            Error::parse(path, line_no, format!("state {state:?} is not hexadecimal"))
        })?;
        *by_state
            .entry(tcp_state_name(code).to_string())
            .or_default() += 1;
        total += 1;
    }
    Ok(SocketTable { total, by_state })
}

/// Parse `/proc/net/dev` (two header lines, then `name: 16 counters`).
pub fn parse_net_dev(text: &str, path: &Path) -> Result<Vec<Interface>> {
    let mut out = Vec::new();
    for (index, line) in text.lines().enumerate().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, counters)) = line.split_once(':') else {
            return Err(Error::parse(
                path,
                index + 1,
                format!("expected `name: counters`, found {line:?}"),
            ));
        };
        let v: Vec<u64> = counters
            .split_whitespace()
            .map(|c| c.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| Error::parse(path, index + 1, "a counter is not a number"))?;
        if v.len() < 16 {
            return Err(Error::parse(
                path,
                index + 1,
                format!("expected 16 counters, found {}", v.len()),
            ));
        }
        out.push(Interface {
            name: name.trim().to_string(),
            rx_bytes: v[0],
            rx_packets: v[1],
            rx_errors: v[2],
            rx_dropped: v[3],
            rx_fifo_errors: v[4],
            rx_frame_errors: v[5],
            rx_compressed: v[6],
            rx_multicast: v[7],
            tx_bytes: v[8],
            tx_packets: v[9],
            tx_errors: v[10],
            tx_dropped: v[11],
            tx_fifo_errors: v[12],
            tx_collisions: v[13],
            tx_carrier_errors: v[14],
            tx_compressed: v[15],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_states() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n\
   1: 0100007F:1F90 0100007F:A2B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n\
   2: 0100007F:1F90 0100007F:A2B4 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0\n";
        let t = count_socket_states(text.as_bytes(), Path::new("tcp"), 100).expect("parses");
        assert_eq!(t.total, 3);
        assert_eq!(t.by_state["LISTEN"], 1);
        assert_eq!(t.by_state["ESTABLISHED"], 1);
        assert_eq!(t.by_state["TIME_WAIT"], 1);
        let bounded = count_socket_states(text.as_bytes(), Path::new("tcp"), 2).expect("parses");
        assert_eq!(bounded.total, 2);
        assert!(count_socket_states("h\n 0: a b ZZ\n".as_bytes(), Path::new("tcp"), 10).is_err());
        assert!(count_socket_states("h\n 0: a\n".as_bytes(), Path::new("tcp"), 10).is_err());
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0\n  eth0: 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n";
        let ifs = parse_net_dev(text, Path::new("dev")).expect("parses");
        assert_eq!(ifs.len(), 2);
        assert_eq!(ifs[1].name, "eth0");
        assert_eq!(
            (ifs[1].rx_dropped, ifs[1].tx_bytes, ifs[1].tx_compressed),
            (8, 13, 20)
        );
        assert!(parse_net_dev("a\nb\neth0: 1 2 3\n", Path::new("dev")).is_err());
    }
}
