//! The protocol against misbehaving peers on a real UNIX socket: one that accepts and never
//! answers, one that answers something that is not a result code, one that hangs up.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use hotspot::AttachError;
use hotspot::protocol::{Patience, exchange};

fn peer(behaviour: fn(UnixStream)) -> (tempfile::TempDir, UnixStream) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sock");
    let listener = UnixListener::bind(&path).expect("bind");
    std::thread::spawn(move || {
        if let Ok((stream, _)) = listener.accept() {
            behaviour(stream);
        }
    });
    let stream = UnixStream::connect(&path).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    (dir, stream)
}

fn ask(stream: &mut UnixStream, idle: Duration) -> (Result<u64, AttachError>, Vec<u8>, Duration) {
    let alive = || true;
    let mut patience = Patience::new(4242, "threaddump", idle, &alive);
    let mut out = Vec::new();
    let started = Instant::now();
    let result = exchange(stream, "threaddump", &["-l"], &mut out, &mut patience);
    (result, out, started.elapsed())
}

fn read_request(stream: &mut UnixStream) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.iter().filter(|b| **b == 0).count() < 5 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[test]
fn a_socket_that_accepts_and_never_answers_times_out() {
    let (_dir, mut stream) = peer(|mut s| {
        let _ = read_request(&mut s);
        std::thread::sleep(Duration::from_secs(10));
    });
    let (result, out, waited) = ask(&mut stream, Duration::from_millis(800));
    match result {
        Err(e @ AttachError::ResponseTimeout { .. }) => {
            assert!(e.to_string().contains(
                "pid 4242 accepted the attach connection for `threaddump` but sent nothing"
            ));
        }
        other => panic!("expected ResponseTimeout, got {other:?}"),
    }
    assert!(out.is_empty());
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[test]
fn an_answer_that_is_not_a_number() {
    let (_dir, mut stream) = peer(|mut s| {
        let _ = read_request(&mut s);
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
    });
    match ask(&mut stream, Duration::from_secs(5)).0 {
        Err(e @ AttachError::InvalidResponse { .. }) => {
            assert!(e.to_string().contains("SSH-2.0"), "{e}")
        }
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
}

#[test]
fn the_request_on_the_wire_and_a_streamed_answer() {
    let (_dir, mut stream) = peer(|mut s| {
        let request = read_request(&mut s);
        let ok = request == b"1\0threaddump\0-l\0\0\0";
        let _ = s.write_all(if ok { b"0\n" } else { b"1\n" });
        for i in 0..100 {
            let _ = s.write_all(format!("line {i}\n").as_bytes());
        }
    });
    let (result, out, _) = ask(&mut stream, Duration::from_secs(5));
    assert_eq!(result.expect("answer"), out.len() as u64);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.starts_with("line 0\n") && text.ends_with("line 99\n"));
}

#[test]
fn a_peer_that_hangs_up() {
    let (_dir, mut stream) = peer(drop);
    match ask(&mut stream, Duration::from_secs(5)).0 {
        Err(AttachError::InvalidResponse { received, .. }) => assert!(received.contains("closed")),
        Err(AttachError::Socket { .. }) => {}
        other => panic!("expected a clear failure, got {other:?}"),
    }
}
