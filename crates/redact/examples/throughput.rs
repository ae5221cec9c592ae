//! Throughput of the default rules on log-like text, as wall-clock and as on-CPU time of the one
//! thread doing the work (read from /proc/thread-self/schedstat), so a figure taken on a busy
//! shared machine still says what one core does. Used by bench/redact/run.sh.
//!
//! Usage: `cargo run --release -p redact --example throughput [MiB]`

use std::io;
use std::time::Instant;

use redact::{Redactor, RedactorConfig};

include!("../benches/common/log_text.rs");

/// Nanoseconds this thread has spent on a CPU.
fn on_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn measure(label: &str, bytes: usize, runs: usize, mut f: impl FnMut()) {
    let mut best_wall = f64::MAX;
    let mut best_cpu = f64::MAX;
    for _ in 0..runs {
        let (wall, cpu) = (Instant::now(), on_cpu_ns());
        f();
        best_wall = best_wall.min(wall.elapsed().as_secs_f64());
        if let (Some(start), Some(end)) = (cpu, on_cpu_ns()) {
            best_cpu = best_cpu.min((end - start) as f64 / 1e9);
        }
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "{label:<44} {:>8.1} MB/s wall   {:>8.1} MB/s on-CPU   (best of {runs}, {mb:.1} MB)",
        mb / best_wall,
        mb / best_cpu
    );
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let text = log_text(mib << 20);
    let redactor = Redactor::default();
    let tokenize = Redactor::new(RedactorConfig {
        tokenize: true,
        ..RedactorConfig::default()
    })
    .expect("default rules compile");
    let report = redactor
        .redact_stream(&text[..], io::sink())
        .expect("in memory");
    println!(
        "input: {} lines of log-like text, {} redactions {:?}",
        report.lines,
        report.counts.values().sum::<u64>(),
        report.counts
    );
    measure("redact_stream, default rules", text.len(), 5, || {
        redactor
            .redact_stream(&text[..], io::sink())
            .expect("in memory");
    });
    measure(
        "redact_stream, default rules, tokenize",
        text.len(),
        5,
        || {
            tokenize
                .redact_stream(&text[..], io::sink())
                .expect("in memory");
        },
    );
    measure("redact_bytes, default rules", text.len(), 5, || {
        std::hint::black_box(redactor.redact_bytes(&text));
    });
    let one_line: Vec<u8> = text
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    measure(
        "redact_stream, same text as one line",
        text.len(),
        3,
        || {
            redactor
                .redact_stream(&one_line[..], io::sink())
                .expect("in memory");
        },
    );
}
