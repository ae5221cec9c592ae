//! Throughput of the default rules on log-like text, one core.
//!
//! Inputs: (1) 16 MiB of generated application logs — access logs, logfmt, JSON logs, Java
//! stack traces, Kubernetes events, URLs and the words that trip naive scanners (`token`,
//! `secret`, `password` in prose), with a secret on about one line in a thousand; (2) the same
//! text as one line per 4 MiB (no newlines), the worst case for the windowing; (3) this
//! machine's real /var/log and dpkg status, when readable. `bench/redact/run.sh` runs it.

use std::hint::black_box;
use std::io;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redact::{Redactor, RedactorConfig};

include!("common/log_text.rs");

fn real_logs() -> Vec<u8> {
    let mut out = Vec::new();
    for path in [
        "/var/lib/dpkg/status",
        "/var/log/dpkg.log",
        "/var/log/apt/history.log",
        "/var/log/apt/term.log",
        "/var/log/alternatives.log",
    ] {
        if let Ok(data) = std::fs::read(path) {
            out.extend_from_slice(&data);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::default();
    let tokenize = Redactor::new(RedactorConfig {
        tokenize: true,
        ..RedactorConfig::default()
    })
    .expect("default rules");
    let text = log_text(16 << 20);
    let mut group = c.benchmark_group("redact");
    group.sample_size(20);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("stream/log-like-16MiB", |b| {
        b.iter(|| {
            redactor
                .redact_stream(black_box(&text[..]), io::sink())
                .expect("in memory")
        })
    });
    group.bench_function("stream/log-like-16MiB/tokenize", |b| {
        b.iter(|| {
            tokenize
                .redact_stream(black_box(&text[..]), io::sink())
                .expect("in memory")
        })
    });
    group.bench_function("bytes/log-like-16MiB", |b| {
        b.iter(|| redactor.redact_bytes(black_box(&text)))
    });
    let one_line: Vec<u8> = text
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect();
    group.bench_function("stream/log-like-16MiB-no-newlines", |b| {
        b.iter(|| {
            redactor
                .redact_stream(black_box(&one_line[..]), io::sink())
                .expect("in memory")
        })
    });
    let real = real_logs();
    if !real.is_empty() {
        group.throughput(Throughput::Bytes(real.len() as u64));
        group.bench_function("stream/this-machine-dpkg-and-logs", |b| {
            b.iter(|| {
                redactor
                    .redact_stream(black_box(&real[..]), io::sink())
                    .expect("in memory")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
