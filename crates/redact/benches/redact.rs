//! Throughput of the default rules on log-like text (see bench/redact/ for the full run).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use redact::Redactor;

fn main_bench(c: &mut Criterion) {
    c.bench_function("placeholder", |b| b.iter(|| Redactor::default()));
}

criterion_group!(benches, main_bench);
criterion_main!(benches);
