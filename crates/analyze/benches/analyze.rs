//! Analysis of a snapshot and rendering of the HTML report, including a large heap section
//! (10 000 histogram rows, 1 000 dominators) and a profile with 5 000 folded stacks.

use analyze::report::{
    DominatorRow, FoldedStack, HeapClassRow, HeapSection, ProfileSection, ProfileTopRow,
};
use analyze::{ReportExtras, analyze_snapshot, report_html};
use criterion::{Criterion, criterion_group, criterion_main};

const FIXTURE: &str = include_str!("../tests/fixtures/snapshot-busy-node.json");

fn snapshot() -> hostprobe::Snapshot {
    serde_json::from_str(FIXTURE).expect("the fixture is a valid snapshot")
}

fn large_heap() -> HeapSection {
    let histogram = (0..10_000u64)
        .map(|i| HeapClassRow {
            class_name: format!("com.example.generated.pkg{}.Class{i}$Inner", i % 97),
            instances: 10_000_000 / (i + 1),
            shallow_bytes: 400_000_000 / (i + 1),
            retained_bytes: Some(600_000_000 / (i + 1)),
        })
        .collect();
    let dominators = (0..1_000u64)
        .map(|i| DominatorRow {
            name: format!("java.util.concurrent.ConcurrentHashMap @ 0x7f3a{i:08x}"),
            class_name: Some("java.util.concurrent.ConcurrentHashMap".into()),
            shallow_bytes: 64,
            retained_bytes: 200_000_000 / (i + 1),
        })
        .collect();
    HeapSection {
        title: "jvm/4242/heap.hprof (400 MB)".into(),
        total_bytes: Some(400_000_000),
        total_objects: Some(9_000_000),
        histogram,
        dominators,
    }
}

fn profile() -> ProfileSection {
    let stacks: Vec<FoldedStack> = (0..5_000u64)
        .map(|i| FoldedStack {
            frames: (0..(5 + i % 25))
                .map(|d| format!("pkg{}.func{}", d % 7, (i / (d + 1)) % 50))
                .collect(),
            value: (1 + i % 13) as f64 * 1e7,
        })
        .collect();
    let total = stacks.iter().map(|s| s.value).sum();
    let top = (0..500)
        .map(|i| ProfileTopRow {
            function: format!("pkg.func{i}"),
            flat: 1e9 / (i + 1) as f64,
            cum: 2e9 / (i + 1) as f64,
        })
        .collect();
    ProfileSection {
        title: "go/cpu.pb.gz".into(),
        sample_type: "cpu".into(),
        unit: "nanoseconds".into(),
        total,
        top,
        stacks,
    }
}

fn benches(c: &mut Criterion) {
    let snap = snapshot();
    c.bench_function("parse snapshot.json", |b| b.iter(snapshot));
    c.bench_function("analyze snapshot", |b| {
        b.iter(|| analyze_snapshot(std::hint::black_box(&snap)))
    });
    let findings = analyze_snapshot(&snap).findings;
    c.bench_function("report html (snapshot only)", |b| {
        b.iter(|| report_html(&snap, &findings, &ReportExtras::default()))
    });
    let extras = ReportExtras {
        heap: Some(large_heap()),
        profile: Some(profile()),
        ..Default::default()
    };
    c.bench_function("report html (10k classes, 1k dominators, 5k stacks)", |b| {
        b.iter(|| report_html(&snap, &findings, &extras))
    });
    let heap_json = serde_json::to_vec(&large_heap()).expect("serialisable");
    c.bench_function("heap section from stored JSON + report html", |b| {
        b.iter(|| {
            let value: serde_json::Value = serde_json::from_slice(&heap_json).expect("valid JSON");
            let heap = HeapSection::from_json("heap", &value).expect("has rows");
            let extras = ReportExtras {
                heap: Some(heap),
                ..Default::default()
            };
            report_html(&snap, &findings, &extras)
        })
    });
}

criterion_group!(analyze_benches, benches);
criterion_main!(analyze_benches);
