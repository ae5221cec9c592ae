//! Synthetic CPU profiles for tests, benches and the side-by-side benchmark: many functions, deep
//! varied stacks, inlined frames, encoded with the crate's own prost messages and gzip-compressed the
//! way the Go runtime serves them. Deterministic for a given seed.

#![allow(dead_code)]

use std::io::Write;

use pprofile::proto;
use prost::Message;

/// Shape of a synthetic profile.
pub struct SynthSpec {
    /// Distinct functions.
    pub functions: usize,
    /// Samples (distinct stacks, mostly).
    pub stacks: usize,
    /// Deepest stack.
    pub max_depth: usize,
    /// PRNG seed.
    pub seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The uncompressed protobuf of a synthetic profile.
pub fn synthetic_cpu_profile_raw(spec: &SynthSpec) -> Vec<u8> {
    let mut rng = Rng(spec.seed.max(1));
    let mut strings: Vec<String> = vec![String::new()];
    let intern = |s: String, strings: &mut Vec<String>| -> i64 {
        strings.push(s);
        (strings.len() - 1) as i64
    };
    let samples_s = intern("samples".into(), &mut strings);
    let count_s = intern("count".into(), &mut strings);
    let cpu_s = intern("cpu".into(), &mut strings);
    let ns_s = intern("nanoseconds".into(), &mut strings);
    let binary = intern("/usr/local/bin/synthsvc".into(), &mut strings);
    let mut functions = Vec::with_capacity(spec.functions);
    for i in 0..spec.functions {
        let name = format!(
            "github.com/acme/synthsvc/pkg{}.(*Handler{}).Method{}",
            i % 37,
            i % 101,
            i
        );
        let file = format!(
            "/src/github.com/acme/synthsvc/pkg{}/handler{}.go",
            i % 37,
            i % 101
        );
        let name = intern(name, &mut strings);
        let file = intern(file, &mut strings);
        functions.push(proto::Function {
            id: i as u64 + 1,
            name,
            system_name: name,
            filename: file,
            start_line: 10 + (i % 500) as i64,
        });
    }
    // Four locations per function: three plain call sites, one with an inlined callee.
    let mut locations = Vec::with_capacity(spec.functions * 4);
    for f in 0..spec.functions {
        for k in 0..4u64 {
            let id = locations.len() as u64 + 1;
            let mut line = vec![proto::Line {
                function_id: f as u64 + 1,
                line: 20 + k as i64,
            }];
            if k == 3 {
                let inlined = (f * 7 + 3) % spec.functions;
                line.insert(
                    0,
                    proto::Line {
                        function_id: inlined as u64 + 1,
                        line: 99,
                    },
                );
            }
            locations.push(proto::Location {
                id,
                mapping_id: 1,
                address: 0x40_0000 + id * 16,
                line,
                is_folded: false,
            });
        }
    }
    // Stacks share a few hot roots (main, http serving) and then wander through the functions.
    let mut samples = Vec::with_capacity(spec.stacks);
    for _ in 0..spec.stacks {
        let depth = 3 + rng.below(spec.max_depth.saturating_sub(3).max(1));
        let mut stack: Vec<u64> = Vec::with_capacity(depth);
        let hot_root = rng.below(4);
        stack.push((hot_root * 4 + 1) as u64);
        for _ in 1..depth {
            let f = if rng.below(10) < 3 {
                rng.below(64)
            } else {
                rng.below(spec.functions)
            };
            stack.push((f * 4 + rng.below(4) + 1) as u64);
        }
        stack.reverse(); // leaf first
        let count = 1 + rng.below(5) as i64;
        samples.push(proto::Sample {
            location_id: stack,
            value: vec![count, count * 10_000_000],
            label: Vec::new(),
        });
    }
    let profile = proto::Profile {
        sample_type: vec![
            proto::ValueType {
                r#type: samples_s,
                unit: count_s,
            },
            proto::ValueType {
                r#type: cpu_s,
                unit: ns_s,
            },
        ],
        sample: samples,
        mapping: vec![proto::Mapping {
            id: 1,
            memory_start: 0x40_0000,
            memory_limit: 0x4000_0000,
            file_offset: 0,
            filename: binary,
            build_id: 0,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        }],
        location: locations,
        function: functions,
        string_table: strings.into_iter().map(String::into_bytes).collect(),
        drop_frames: 0,
        keep_frames: 0,
        time_nanos: 1_700_000_000_000_000_000,
        duration_nanos: 30_000_000_000,
        period_type: Some(proto::ValueType {
            r#type: cpu_s,
            unit: ns_s,
        }),
        period: 10_000_000,
        comment: Vec::new(),
        default_sample_type: 0,
    };
    profile.encode_to_vec()
}

/// A synthetic profile, gzip-compressed as Go serves profiles.
pub fn synthetic_cpu_profile(spec: &SynthSpec) -> Vec<u8> {
    gzip(&synthetic_cpu_profile_raw(spec))
}

/// Gzip `data` at the default level.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}
