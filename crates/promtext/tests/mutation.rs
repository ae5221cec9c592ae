//! Stable-toolchain stand-in for `fuzz/` (run in CI): a fixed number of seeded mutations of the
//! real fixtures go through the same entry points as the fuzz target. Nothing may panic, and the
//! in-memory and streaming parses must agree.

use std::io::Read;

use promtext::{Format, Limits, parse_families, read_families};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

struct Trickle<'a>(&'a [u8], usize);

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\n",
    b"{",
    b"}",
    b",",
    b"=",
    b" ",
    b"\t",
    b"#",
    b"# EOF\n",
    b"# TYPE m histogram\n",
    b"le=\"+Inf\"",
    b"quantile=\"0.5\"",
    b"NaN",
    b"-Inf",
    b"1e999",
    b"\xff",
    b"\xe2\x82",
    b"_bucket",
    b"_count",
    b"_total",
    b"_created",
    b" # {a=\"b\"} 1",
    b"\r",
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    for _ in 0..rng.below(2) + 1 {
        let at = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = at.min(input.len() - 1);
                input[i] ^= 1 << rng.below(8);
            }
            1 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(at..at, piece.iter().copied());
            }
            2 if !input.is_empty() => {
                let end = (at + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            3 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + rng.below(64)).min(input.len());
                let copy = input[start..end].to_vec();
                input.splice(at..at, copy);
            }
            4 => input.truncate(at),
            _ => input.insert(at.min(input.len()), rng.next() as u8),
        }
    }
}

#[test]
fn mutated_fixtures_never_panic_and_both_paths_agree() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let seeds: Vec<(Vec<u8>, Format)> = [
        ("tricky_labels.prom", Format::Text),
        ("openmetrics.om", Format::OpenMetrics),
    ]
    .iter()
    .map(|(file, format)| {
        (
            std::fs::read(format!("{fixtures}{file}")).expect("fixture"),
            *format,
        )
    })
    .chain(std::iter::once((
        std::fs::read(format!("{fixtures}node_exporter.prom")).expect("fixture")[..6000].to_vec(),
        Format::Text,
    )))
    .collect();
    let limits = Limits {
        max_line_bytes: 4096,
        max_label_value_bytes: 256,
        max_labels_per_sample: 8,
        ..Limits::default()
    };
    let mut rng = Rng(0xDEAD_BEEF_CAFE_F00D);
    let (mut ok, mut failed) = (0, 0);
    for iteration in 0..3000 {
        let (seed, seed_format) = &seeds[iteration % seeds.len()];
        let mut input = seed.clone();
        mutate(&mut rng, &mut input);
        // Each format also sees the other's inputs.
        for format in [
            *seed_format,
            if *seed_format == Format::Text {
                Format::OpenMetrics
            } else {
                Format::Text
            },
        ] {
            let whole = parse_families(&input, format, limits);
            let step = 1 + rng.below(97);
            let streamed = read_families(Trickle(&input, step), format, limits);
            match (&whole, &streamed) {
                (Ok(a), Ok(b)) => {
                    // Debug text, not ==: NaN values are not equal to themselves.
                    assert_eq!(format!("{a:?}"), format!("{b:?}"), "iteration {iteration}");
                    let _ = promtext::write_prom2json_string(a);
                    if format == *seed_format {
                        ok += 1;
                    }
                }
                (Err(a), Err(promtext::Error::Parse(b))) => {
                    assert_eq!(
                        (a.line, &a.kind),
                        (b.line, &b.kind),
                        "iteration {iteration}"
                    );
                    if format == *seed_format {
                        failed += 1;
                    }
                }
                _ => panic!(
                    "iteration {iteration}: in memory {whole:?}, streamed {streamed:?}\n{}",
                    String::from_utf8_lossy(&input)
                ),
            }
        }
    }
    eprintln!("in the seed's own format: {ok} parsed, {failed} rejected");
    assert!(
        ok > 300 && failed > 300,
        "ok {ok}, failed {failed}: the mutations should hit both outcomes"
    );
}
