//! Any bytes through the streaming redactor with small windows (so chunk boundaries fall
//! everywhere): it must not panic, must consume all input, and must leave input without matches
//! untouched. The stable-toolchain counterpart is the proptest in tests/stream.rs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redact::{Redactor, RedactorConfig};

fuzz_target!(|data: &[u8]| {
    let redactor = Redactor::new(RedactorConfig {
        max_line_bytes: 1024,
        max_secret_bytes: 256,
        ..RedactorConfig::default()
    })
    .expect("valid limits");
    let mut out = Vec::new();
    let report = redactor
        .redact_stream(data, &mut out)
        .expect("in-memory streams cannot fail");
    assert_eq!(report.bytes_in, data.len() as u64);
    if report.counts.is_empty() {
        assert_eq!(out, data);
    }
});
