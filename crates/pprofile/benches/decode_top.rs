//! Decode + top-functions throughput on a synthetic CPU profile with many distinct deep stacks
//! (built in memory, so the bench needs no fixture files).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[path = "../tests/common/synth.rs"]
mod synth;

fn bench(c: &mut Criterion) {
    let raw = synth::synthetic_cpu_profile(&synth::SynthSpec {
        functions: 3_000,
        stacks: 40_000,
        max_depth: 48,
        seed: 7,
    });
    let limits = pprofile::Limits::default();
    let mut group = c.benchmark_group("pprofile");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| {
        b.iter(|| pprofile::parse_profile(&raw, &limits).expect("synthetic profile is valid"))
    });
    let profile = pprofile::parse_profile(&raw, &limits).expect("synthetic profile is valid");
    group.bench_function("top_functions", |b| {
        b.iter(|| pprofile::top_functions(&profile, &pprofile::TopOptions::new(1)))
    });
    group.bench_function("folded_stacks", |b| {
        b.iter(|| pprofile::folded_stacks(&profile, 1, pprofile::SampleSet::All))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
