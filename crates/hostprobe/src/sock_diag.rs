//! Socket counts by state through netlink `NETLINK_SOCK_DIAG` (inet_diag), the way `ss` asks.
//!
//! Why not only `/proc/net/tcp`: the kernel renders that file by walking every bucket of the
//! TCP hash tables, which takes milliseconds on an idle machine with a large table and seconds
//! on a node with 100k sockets; an inet_diag dump skips empty buckets and sends binary records.
//! Netlink answers for the network namespace of the calling process, so this is used for the
//! collector's own namespace (live `host` target); other namespaces and fixture trees are read
//! from `/proc/<pid>/net/*`.
//!
//! Every record is bounds-checked: lengths from the kernel are capped by what was received.

use std::collections::BTreeMap;

use crate::model::SocketTable;
use crate::network::tcp_state_name;

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_HDRLEN: usize = 16;
/// `struct inet_diag_req_v2`: family, protocol, ext, pad, states, `inet_diag_sockid` (48 bytes).
const REQ_LEN: usize = 56;

/// Dump one (family, protocol) table and count its sockets by state. `family` is `AF_INET` or
/// `AF_INET6`, `protocol` `IPPROTO_TCP` or `IPPROTO_UDP`. `max_sockets` bounds the count.
pub fn count_by_state(family: u8, protocol: u8, max_sockets: u64) -> std::io::Result<SocketTable> {
    let socket = NetlinkSocket::open()?;
    let mut request = [0u8; NLMSG_HDRLEN + REQ_LEN];
    let len = request.len() as u32;
    request[0..4].copy_from_slice(&len.to_ne_bytes());
    request[4..6].copy_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence
    request[NLMSG_HDRLEN] = family;
    request[NLMSG_HDRLEN + 1] = protocol;
    // states: every state (bit per TCP state number).
    request[NLMSG_HDRLEN + 4..NLMSG_HDRLEN + 8].copy_from_slice(&u32::MAX.to_ne_bytes());
    socket.send(&request)?;

    let mut table = SocketTable {
        total: 0,
        by_state: BTreeMap::new(),
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = socket.recv(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "netlink socket closed mid-dump",
            ));
        }
        match parse_messages(&buf[..n], &mut table, max_sockets)? {
            Parsed::More => {}
            Parsed::Done => return Ok(table),
        }
        if table.total >= max_sockets {
            return Ok(table);
        }
    }
}

enum Parsed {
    More,
    Done,
}

/// Walk the netlink messages of one datagram.
fn parse_messages(
    data: &[u8],
    table: &mut SocketTable,
    max_sockets: u64,
) -> std::io::Result<Parsed> {
    let bad = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("netlink reply: {what}"),
        )
    };
    let mut offset = 0usize;
    while offset + NLMSG_HDRLEN <= data.len() {
        let header = &data[offset..offset + NLMSG_HDRLEN];
        let len = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        if len < NLMSG_HDRLEN || offset + len > data.len() {
            return Err(bad(&format!(
                "message length {len} at offset {offset} does not fit the {} bytes received",
                data.len()
            )));
        }
        let payload = &data[offset + NLMSG_HDRLEN..offset + len];
        match kind {
            NLMSG_DONE => return Ok(Parsed::Done),
            NLMSG_ERROR => {
                let code = payload
                    .get(0..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .unwrap_or(0);
                if code == 0 {
                    return Ok(Parsed::Done); // an acknowledgement
                }
                return Err(std::io::Error::from_raw_os_error(-code));
            }
            SOCK_DIAG_BY_FAMILY => {
                // struct inet_diag_msg: family, state, timer, retrans, …
                let state = *payload
                    .get(1)
                    .ok_or_else(|| bad("inet_diag_msg shorter than 2 bytes"))?;
                if table.total < max_sockets {
                    *table
                        .by_state
                        .entry(tcp_state_name(state).to_string())
                        .or_default() += 1;
                    table.total += 1;
                }
            }
            _ => {}
        }
        // Messages are 4-byte aligned.
        offset += (len + 3) & !3;
    }
    Ok(Parsed::More)
}

struct NetlinkSocket(std::os::fd::OwnedFd);

impl NetlinkSocket {
    fn open() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain socket(2) call; the descriptor is owned below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // A dump that never ends must not hang the collector: 2 s receive timeout.
        let timeout = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: valid fd, pointer and size of a timeval.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                &timeout as *const libc::timeval as *const libc::c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
        }
        Ok(Self(owned))
    }

    fn send(&self, data: &[u8]) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: zeroed sockaddr_nl is valid; family set below; pid 0 = the kernel.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: valid fd, buffer and address for the duration of the call.
        let rc = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                data.as_ptr() as *const libc::c_void,
                data.len(),
                0,
                &addr as *const libc::sockaddr_nl as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        loop {
            // SAFETY: valid fd and writable buffer of the given length.
            let rc = unsafe {
                libc::recv(
                    self.0.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if rc >= 0 {
                return Ok(rc as usize);
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(payload);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn parses_records_done_and_errors() {
        let mut data = message(SOCK_DIAG_BY_FAMILY, &[2, 10, 0, 0, 0, 0, 0]); // odd length: padded
        data.extend(message(SOCK_DIAG_BY_FAMILY, &[2, 1, 0, 0]));
        data.extend(message(SOCK_DIAG_BY_FAMILY, &[2, 1, 0, 0]));
        let mut table = SocketTable::default();
        assert!(matches!(
            parse_messages(&data, &mut table, 100),
            Ok(Parsed::More)
        ));
        assert_eq!(table.total, 3);
        assert_eq!(
            (table.by_state["LISTEN"], table.by_state["ESTABLISHED"]),
            (1, 2)
        );
        assert!(matches!(
            parse_messages(&message(NLMSG_DONE, &[0; 4]), &mut table, 100),
            Ok(Parsed::Done)
        ));
        let err = parse_messages(
            &message(NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes()),
            &mut table,
            100,
        )
        .err()
        .expect("error");
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        // A length that claims more than was received is refused, not read past the buffer.
        let mut lying = message(SOCK_DIAG_BY_FAMILY, &[2, 1, 0, 0]);
        lying[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(parse_messages(&lying, &mut table, 100).is_err());
        let mut short = message(SOCK_DIAG_BY_FAMILY, &[]);
        short[0..4].copy_from_slice(&16u32.to_ne_bytes());
        assert!(parse_messages(&short, &mut table, 100).is_err());
    }

    #[test]
    fn live_dump_sees_our_listener_and_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let _client =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (_server, _) = listener.accept().expect("accept");
        let table = match count_by_state(libc::AF_INET as u8, libc::IPPROTO_TCP as u8, 1_000_000) {
            Ok(t) => t,
            Err(e) => {
                eprintln!(
                    "*** SKIPPED live_dump_sees_our_listener_and_connection: netlink sock_diag unavailable here: {e} ***"
                );
                return;
            }
        };
        assert!(
            table.by_state.get("LISTEN").copied().unwrap_or(0) >= 1,
            "{table:?}"
        );
        assert!(
            table.by_state.get("ESTABLISHED").copied().unwrap_or(0) >= 2,
            "{table:?}"
        );
    }
}
