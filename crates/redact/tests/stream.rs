//! Streaming behaviour: secrets across read boundaries, over-long lines, binary and invalid
//! UTF-8, oversized and unterminated secrets, bounded memory — plus property tests that
//! redaction never panics and never lets a planted secret through, wherever the chunk
//! boundaries fall.

use std::io::{self, Read};

use proptest::prelude::*;
use redact::{NoticeKind, Redactor, RedactorConfig};

/// Small limits so chunk boundaries fall often and inside secrets.
fn small() -> Redactor {
    Redactor::new(RedactorConfig {
        max_line_bytes: 1024,
        max_secret_bytes: 256,
        ..RedactorConfig::default()
    })
    .expect("valid limits")
}

fn redact_stream(redactor: &Redactor, input: &[u8]) -> (Vec<u8>, redact::RedactionReport) {
    let mut out = Vec::new();
    let report = redactor
        .redact_stream(input, &mut out)
        .expect("in-memory streams cannot fail");
    (out, report)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

#[test]
fn secrets_on_a_long_line_are_caught_at_every_offset() {
    let redactor = small();
    // One 200 KiB line, no newline, with a password every ~700 bytes: boundaries fall
    // everywhere, including inside keys and values.
    let mut line = Vec::new();
    let mut planted = Vec::new();
    let mut i = 0u32;
    while line.len() < 200 * 1024 {
        line.extend(std::iter::repeat_n(b'a', 600 + (i as usize * 37) % 211));
        let secret = format!("Zq{i:05}X9secretvalue");
        line.extend_from_slice(format!(" --db-password={secret} ").as_bytes());
        planted.push(secret);
        i += 1;
    }
    let (out, report) = redact_stream(&redactor, &line);
    for secret in &planted {
        assert!(!contains(&out, secret.as_bytes()), "{secret} survived");
        assert!(
            !contains(&out, &secret.as_bytes()[..8]),
            "a prefix of {secret} survived"
        );
    }
    assert_eq!(
        report.counts.get("password-assignment").copied(),
        Some(planted.len() as u64)
    );
    assert_eq!(report.long_lines, 1);
    assert_eq!(report.lines, 1);
    assert_eq!(report.bytes_in, line.len() as u64);
    assert!(
        report
            .notices
            .iter()
            .any(|n| n.kind == NoticeKind::LongLine)
    );
    // Same answer as one pass over the whole buffer with large limits.
    let whole = Redactor::default().redact_bytes(&line);
    assert_eq!(out, whole.bytes);
}

#[test]
fn binary_and_invalid_utf8_are_redacted_and_reported() {
    let mut input = Vec::new();
    input.extend_from_slice(b"ELF\x7f\x00\x01\x02\xff\xfe garbage ");
    input.extend_from_slice(b"token=Bin4ryT0kenValue\x00\x00more\xc3\x28bytes\n");
    input.extend_from_slice("caf\u{e9} ok\n".as_bytes());
    let (out, report) = redact_stream(&small(), &input);
    assert!(!contains(&out, b"Bin4ryT0kenValue"));
    assert!(contains(
        &out,
        b"token=[REDACTED:password-assignment]\x00\x00more\xc3\x28bytes\n"
    ));
    assert_eq!(report.binary_at, Some(4));
    assert_eq!(report.invalid_utf8_at, Some(7), "the first 0xff");
}

#[test]
fn utf8_split_across_chunks_is_not_invalid() {
    // A long line of multi-byte characters: chunk boundaries fall inside characters.
    let text = "żółw ".repeat(2000) + "\n";
    let (out, report) = redact_stream(&small(), text.as_bytes());
    assert_eq!(out, text.as_bytes());
    assert_eq!(report.invalid_utf8_at, None);
    assert_eq!(report.binary_at, None);
    assert!(report.counts.is_empty());
    assert_eq!(
        report.note(),
        Some(format!(
            "1 line(s) longer than the line limit (longest {} bytes) matched through a sliding window, nothing cut",
            text.len() - 1
        ))
    );
}

#[test]
fn oversized_secret_is_redacted_to_its_end() {
    let redactor = small();
    let secret = "S".repeat(5000);
    let input = format!("start password={secret} end\n");
    let (out, report) = redact_stream(&redactor, input.as_bytes());
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text, "start password=[REDACTED:password-assignment] end\n");
    assert_eq!(report.oversized_secrets, 1);
    assert!(
        report
            .note()
            .expect("a note")
            .contains("longer than the look-ahead window")
    );
}

#[test]
fn unterminated_pem_key_is_redacted_over_its_body() {
    let mut input = String::from("config:\n-----BEGIN EC PRIVATE KEY-----\n");
    for i in 0..3 {
        input.push_str(&format!(
            "MHcCAQEEIO{i}x7Gd9sQk2Lm5Np8Rt1Vw4Yz0Ab3Cd6Ef9Gh2Jk5Mn8\n"
        ));
    }
    input.push_str("\"next\": 1\n");
    let redacted = Redactor::default().redact_bytes(input.as_bytes());
    let text = String::from_utf8(redacted.bytes).expect("utf-8");
    assert_eq!(text, "config:\n[REDACTED:pem-private-key]\"next\": 1\n");
    assert!(
        redacted
            .note
            .expect("a note")
            .contains("PEM private key(s) without an END line")
    );
}

/// Produces `len` bytes of one long log line without holding them, and records the largest
/// read it was asked for.
struct Generated {
    remaining: usize,
    counter: usize,
    largest_read: usize,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest_read = self.largest_read.max(buf.len());
        let n = buf.len().min(self.remaining);
        for b in &mut buf[..n] {
            self.counter += 1;
            *b = if self.counter % 4099 == 0 {
                b' '
            } else {
                b'a' + (self.counter % 26) as u8
            };
        }
        self.remaining -= n;
        Ok(n)
    }
}

#[test]
fn a_32_mib_line_streams_in_bounded_memory() {
    let redactor = small();
    let mut reader = Generated {
        remaining: 32 << 20,
        counter: 0,
        largest_read: 0,
    };
    let mut sink = CountingSink(0);
    let report = redactor
        .redact_stream(&mut reader, &mut sink)
        .expect("streams");
    assert_eq!(report.bytes_in, 32 << 20);
    assert_eq!(sink.0, 32 << 20, "nothing dropped");
    assert_eq!(report.long_lines, 1);
    assert!(
        reader.largest_read <= 1024 + 256,
        "reads are bounded by the window: {}",
        reader.largest_read
    );
}

/// Peak resident memory of this process so far, in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("a VmHWM line")
        * 1024
}

/// Counts what it is given and searches it for needles across write boundaries, holding only
/// the last few bytes.
struct SearchingSink {
    bytes: u64,
    tail: Vec<u8>,
    needles: Vec<(Vec<u8>, u64)>,
}

impl io::Write for SearchingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let keep = self.tail.len();
        self.tail.extend_from_slice(buf);
        for (needle, found) in &mut self.needles {
            // Matches that end inside the new bytes only, so none is counted twice.
            let from = keep.saturating_sub(needle.len() - 1);
            *found +=
                memchr::memmem::find_iter(&self.tail[from..], needle.as_slice()).count() as u64;
        }
        let cut = self.tail.len().saturating_sub(64);
        self.tail.drain(..cut);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The issue's own case: one 1 GiB line, default limits, secrets in its middle and at its end.
/// Everything comes out (nothing dropped), both secrets are redacted, the report says the line
/// was over-long, and the process's peak memory grows by far less than the line.
#[test]
fn a_1_gib_line_with_secrets_streams_in_bounded_memory() {
    const HALF: usize = 512 << 20;
    let secret = b"S3cretInAGigabyteLine";
    let planted = |n: u8| format!(" password={}{n} ", String::from_utf8_lossy(secret)).into_bytes();
    let (first, second) = (planted(1), planted(2));
    let input = Generated {
        remaining: HALF,
        counter: 0,
        largest_read: 0,
    }
    .chain(&first[..])
    .chain(Generated {
        remaining: HALF,
        counter: 0,
        largest_read: 0,
    })
    .chain(&second[..]);
    let before = peak_rss();
    let mut sink = SearchingSink {
        bytes: 0,
        tail: Vec::new(),
        needles: vec![
            (secret.to_vec(), 0),
            (b"password=[REDACTED:password-assignment]".to_vec(), 0),
        ],
    };
    let report = Redactor::default()
        .redact_stream(input, &mut sink)
        .expect("streams");
    let grown = peak_rss().saturating_sub(before);
    assert_eq!(
        report.bytes_in,
        (2 * HALF + first.len() + second.len()) as u64
    );
    assert_eq!(report.counts.get("password-assignment"), Some(&2));
    assert_eq!(sink.needles[0].1, 0, "a secret survived");
    assert_eq!(
        sink.needles[1].1, 2,
        "both secrets redacted where they stood"
    );
    assert_eq!(
        sink.bytes, report.bytes_out,
        "everything written is accounted for"
    );
    assert!(sink.bytes >= 2 * HALF as u64, "nothing dropped");
    assert_eq!(report.long_lines, 1);
    assert!(
        report
            .note()
            .expect("a note")
            .contains("longer than the line limit"),
        "{:?}",
        report.note()
    );
    assert!(
        grown < 64 << 20,
        "peak memory grew by {} MiB for a 1 GiB line",
        grown >> 20
    );
}

struct CountingSink(u64);

impl io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn read_errors_name_the_offset() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'x');
            self.0 -= n;
            Ok(n)
        }
    }
    let err = small()
        .redact_stream(Failing(3000), Vec::new())
        .expect_err("fails");
    assert_eq!(
        err.to_string(),
        "reading the input at byte 3000: disk on fire"
    );
}

/// A secret in a realistic context: (text before, the secret, text after).
fn planted_secret() -> impl Strategy<Value = (String, String, String)> {
    let value = "Q7[A-Za-z0-9]{10,30}";
    prop_oneof![
        value.prop_map(|v| ("--db-password=".to_string(), v, "\0".to_string())),
        value.prop_map(|v| ("--api-key ".to_string(), v, " ".to_string())),
        value.prop_map(|v| ("postgres://app:".to_string(), v, "@db:5432/x ".to_string())),
        value.prop_map(|v| ("Authorization: Bearer ".to_string(), v, "\n".to_string())),
        value.prop_map(|v| ("\"client_secret\": \"".to_string(), v, "\",".to_string())),
        value.prop_map(|v| ("  password: ".to_string(), v, "\n".to_string())),
        "[A-Z0-9]{16}".prop_map(|v| ("key ".to_string(), format!("AKIA{v}"), " ".to_string())),
        "[A-Za-z0-9]{36}".prop_map(|v| ("".to_string(), format!("ghp_{v}"), " ".to_string())),
        "[A-Za-z0-9/+]{40}".prop_map(|v| (
            "aws_secret_access_key = ".to_string(),
            v,
            "\n".to_string()
        )),
        ("[A-Za-z0-9_-]{20,60}", "[A-Za-z0-9_-]{20,80}").prop_map(|(p, s)| (
            "jwt=".to_string(),
            format!("eyJhbGciOiJIUzI1NiJ9.eyJ{p}.{s}"),
            " ".to_string()
        )),
        "[A-Za-z0-9+/]{64}".prop_map(|v| (
            "-----BEGIN PRIVATE KEY-----\n".to_string(),
            format!("Q7{v}"),
            "\n-----END PRIVATE KEY-----\n".to_string()
        )),
    ]
}

/// Filler that carries no anchors: lower-case words, spaces, sometimes newlines.
fn filler() -> impl Strategy<Value = String> {
    "[b-df-hj-np-tv-z ]{0,1500}(\n)?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn planted_secrets_never_survive(parts in prop::collection::vec((filler(), planted_secret()), 1..12)) {
        let mut input = Vec::new();
        let mut secrets = Vec::new();
        for (fill, (before, secret, after)) in &parts {
            input.extend_from_slice(fill.as_bytes());
            input.extend_from_slice(b" ");
            input.extend_from_slice(before.as_bytes());
            input.extend_from_slice(secret.as_bytes());
            input.extend_from_slice(after.as_bytes());
            secrets.push(secret.clone());
        }
        let (out, report) = redact_stream(&small(), &input);
        for secret in &secrets {
            prop_assert!(!contains(&out, secret.as_bytes()), "{} survived in {:?}", secret, String::from_utf8_lossy(&out));
            prop_assert!(!contains(&out, &secret.as_bytes()[..10]), "a prefix of {} survived", secret);
        }
        prop_assert_eq!(report.bytes_in, input.len() as u64);
        let total: u64 = report.counts.values().sum();
        prop_assert_eq!(total, secrets.len() as u64, "one count per planted secret: {:?}", report.counts);
    }

    #[test]
    fn redaction_never_panics(input in prop::collection::vec(prop_oneof![
        any::<u8>(),
        Just(b'\n'),
        Just(b'='),
        Just(b':'),
        Just(b'"'),
    ], 0..4000), anchor_at in any::<prop::sample::Index>(), anchor in prop::sample::select(vec![
        &b"password="[..], b"-----BEGIN RSA PRIVATE KEY-----\n", b"eyJ", b"://u:", b"Authorization: ",
        b"AKIA", b"\"private_key\": \"", b"jdbc:oracle:thin:", b"xoxb-", b"Server=x;Password=",
    ])) {
        let mut input = input;
        let at = anchor_at.index(input.len() + 1);
        input.splice(at..at, anchor.iter().copied());
        let (out, report) = redact_stream(&small(), &input);
        prop_assert_eq!(report.bytes_in, input.len() as u64);
        // Without a match nothing changes; with one, the output is never empty.
        if report.counts.is_empty() {
            prop_assert_eq!(out, input);
        }
    }
}
