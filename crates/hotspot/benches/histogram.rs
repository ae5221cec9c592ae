//! Parsing a large class histogram (5,000 classes, the size of a big application server's).
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hotspot::histogram::{Limits, parse_histogram};

fn histogram_text(classes: usize) -> String {
    let mut text = String::from(" num     #instances         #bytes  class name (module)\n");
    text.push_str("-------------------------------------------------------\n");
    for i in 0..classes {
        let name = match i % 4 {
            0 => format!("com.example.service.module{}.Handler{i}", i % 50),
            1 => format!("[Lcom.example.dto.Record{i};"),
            2 => "[B (java.base@17.0.15)".to_string(),
            _ => format!("java.util.concurrent.ConcurrentHashMap$Node{i} (java.base@17.0.15)"),
        };
        text.push_str(&format!(
            "{:>5}: {:>13} {:>14}  {name}\n",
            i + 1,
            100_000 - i,
            3_200_000 - i * 16
        ));
    }
    text.push_str("Total      123456789     9876543210\n");
    text
}

fn bench(c: &mut Criterion) {
    let text = histogram_text(5_000);
    let mut group = c.benchmark_group("histogram");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("parse_5000_classes", |b| {
        b.iter(|| parse_histogram(&text, &Limits::default()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
