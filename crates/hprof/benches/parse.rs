//! Throughput of the shallow pass and of the graph + dominator passes on a synthetic dump of
//! 200,000 objects (a linked list of records with byte payloads, in address order like HotSpot's).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn synthetic_dump(objects: u64) -> Vec<u8> {
    let id = |b: &mut Vec<u8>, v: u64| b.extend_from_slice(&v.to_be_bytes());
    let mut out = b"JAVA PROFILE 1.0.2\0".to_vec();
    out.extend_from_slice(&8u32.to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    let record = |out: &mut Vec<u8>, tag: u8, body: &[u8]| {
        out.push(tag);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    };
    for (sym, text) in [
        (1u64, &b"Record"[..]),
        (2, b"next"),
        (3, b"payload"),
        (4, b"java/lang/Object"),
    ] {
        let mut b = Vec::new();
        id(&mut b, sym);
        b.extend_from_slice(text);
        record(&mut out, 0x01, &b);
    }
    for (serial, class, name) in [(1u32, 0x10u64, 4u64), (2, 0x20, 1)] {
        let mut b = serial.to_be_bytes().to_vec();
        id(&mut b, class);
        b.extend_from_slice(&0u32.to_be_bytes());
        id(&mut b, name);
        record(&mut out, 0x02, &b);
    }
    let mut seg = Vec::new();
    for (class, sup, fields) in [(0x10u64, 0u64, &[][..]), (0x20, 0x10, &[2u64, 3][..])] {
        seg.push(0x20);
        id(&mut seg, class);
        seg.extend_from_slice(&0u32.to_be_bytes());
        id(&mut seg, sup);
        for _ in 0..5 {
            id(&mut seg, 0);
        }
        seg.extend_from_slice(&((fields.len() * 8) as u32).to_be_bytes());
        seg.extend_from_slice(&0u16.to_be_bytes());
        seg.extend_from_slice(&0u16.to_be_bytes());
        seg.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for &f in fields {
            id(&mut seg, f);
            seg.push(2);
        }
    }
    let mut addr = 0x1000_0000u64;
    for i in 0..objects / 2 {
        let record_addr = addr;
        let payload_addr = addr + 24;
        let next = if i + 1 < objects / 2 {
            addr + 24 + 48
        } else {
            0
        };
        seg.push(0x21);
        id(&mut seg, record_addr);
        seg.extend_from_slice(&0u32.to_be_bytes());
        id(&mut seg, 0x20);
        seg.extend_from_slice(&16u32.to_be_bytes());
        id(&mut seg, next);
        id(&mut seg, payload_addr);
        seg.push(0x23);
        id(&mut seg, payload_addr);
        seg.extend_from_slice(&0u32.to_be_bytes());
        seg.extend_from_slice(&32u32.to_be_bytes());
        seg.push(8);
        seg.extend_from_slice(&[(i % 251) as u8; 32]);
        addr += 24 + 48;
    }
    seg.push(0xFF);
    id(&mut seg, 0x1000_0000);
    record(&mut out, 0x1C, &seg);
    record(&mut out, 0x2C, &[]);
    out
}

fn bench(c: &mut Criterion) {
    let dump = synthetic_dump(200_000);
    let mut group = c.benchmark_group("hprof");
    group.throughput(Throughput::Bytes(dump.len() as u64));
    group.sample_size(10);
    group.bench_function("histogram", |b| {
        b.iter(|| hprof::histogram(&dump[..], &Default::default()).expect("parses"))
    });
    group.bench_function("graph_and_dominators", |b| {
        b.iter(|| {
            let g = hprof::build_graph(&dump[..], None, &Default::default()).expect("parses");
            hprof::Dominators::compute(&g)
                .expect("dominators")
                .total_bytes()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
