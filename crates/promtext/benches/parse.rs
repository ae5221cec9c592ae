//! Parse throughput on node_exporter's real output (fixture), text and OpenMetrics paths.
//! The side-by-side comparison with Go's expfmt and prometheus-parse is bench/promtext/run.sh.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use promtext::{Event, Format, Limits, Parser};

fn node_exporter() -> Vec<u8> {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/node_exporter.prom"
    );
    let one = std::fs::read(fixture).expect("the node_exporter fixture");
    // ~1.2 MB: many copies, each family renamed so grouping sees distinct families.
    let text = String::from_utf8(one).expect("UTF-8 fixture");
    let mut out = String::new();
    for copy in 0..20 {
        for line in text.lines() {
            let renamed = if let Some(rest) = line
                .strip_prefix("# HELP ")
                .or_else(|| line.strip_prefix("# TYPE "))
            {
                format!("{} c{copy}_{rest}", &line[..6])
            } else if line.starts_with('#') || line.is_empty() {
                line.to_string()
            } else {
                format!("c{copy}_{line}")
            };
            out.push_str(&renamed);
            out.push('\n');
        }
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let input = node_exporter();
    let limits = Limits::default();
    let mut group = c.benchmark_group("node_exporter");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("events", |b| {
        b.iter(|| {
            let mut parser = Parser::new(&input, Format::Text, limits);
            let mut samples = 0usize;
            while let Some(event) = parser.next_event().expect("valid fixture") {
                if matches!(event, Event::Sample(_)) {
                    samples += 1;
                }
            }
            samples
        })
    });
    group.bench_function("families", |b| {
        b.iter(|| promtext::parse_families(&input, Format::Text, limits).expect("valid fixture"))
    });
    group.bench_function("families_and_prom2json", |b| {
        b.iter(|| {
            let families =
                promtext::parse_families(&input, Format::Text, limits).expect("valid fixture");
            promtext::write_prom2json_string(&families)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
