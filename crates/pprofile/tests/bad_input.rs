//! Hostile and broken profiles: clear errors with offsets, bounded work, never a panic. Includes
//! the stable-toolchain stand-in for the fuzz target (`fuzz/fuzz_targets/parse.rs`): the same entry
//! point fed with mutations of real captures for a fixed number of iterations, and property tests
//! on generated valid profiles.

mod common;

use std::path::Path;

use pprofile::{Error, Limits, SampleSet, TopOptions, parse_profile, proto};
use proptest::prelude::*;
use prost::Message;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .expect("fixture")
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    pprofile::decompress(data, &Limits::default())
        .expect("fixture decompresses")
        .into_owned()
}

/// The fuzz entry point: parse, and when that succeeds run every report.
fn exercise(data: &[u8], limits: &Limits) {
    if let Ok(mut profile) = parse_profile(data, limits) {
        let _ = profile.prune_dropped_frames();
        for i in 0..profile.sample_types().len() {
            let report = pprofile::top_functions(&profile, &TopOptions::new(i));
            let _ = report.row_cells();
            let _ = report.summary_lines();
            let _ = pprofile::folded_stacks(&profile, i, SampleSet::All);
            let _ = pprofile::group_by_stack(&profile, i);
        }
    }
}

fn small_limits() -> Limits {
    Limits {
        max_decompressed_bytes: 4 << 20,
        max_samples: 100_000,
        max_locations: 100_000,
        max_functions: 100_000,
        max_mappings: 1_000,
        max_strings: 100_000,
        max_sample_types: 16,
    }
}

#[test]
fn fixtures_parse_and_report() {
    for name in [
        "cpu.pb.gz",
        "heap.pb.gz",
        "goroutine.pb.gz",
        "block.pb.gz",
        "mutex.pb.gz",
    ] {
        let profile = parse_profile(&fixture(name), &Limits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(profile.sample_count() > 0, "{name} has samples");
        let index = profile.sample_index(None).expect("default");
        let report = pprofile::top_functions(&profile, &TopOptions::new(index));
        assert!(!report.rows.is_empty(), "{name} has a top");
    }
    let goroutine = parse_profile(&fixture("goroutine.pb.gz"), &Limits::default()).expect("parses");
    assert_eq!(pprofile::group_by_stack(&goroutine, 0)[0].count, 1000);
}

#[test]
fn string_table_without_empty_first_entry_is_refused_with_its_offset() {
    let mut p = proto::Profile::decode(gunzip(&fixture("cpu.pb.gz")).as_slice()).expect("decodes");
    p.string_table[0] = b"not empty".to_vec();
    let bytes = p.encode_to_vec();
    match parse_profile(&bytes, &Limits::default()) {
        Err(Error::StringTableFirstNotEmpty { offset, first }) => {
            assert_eq!(first, "not empty");
            // The offset points at the first string-table field: tag 0x32, then the length.
            assert_eq!(bytes[offset], 0x32);
            assert_eq!(bytes[offset + 1] as usize, "not empty".len());
        }
        other => panic!("expected StringTableFirstNotEmpty, got {other:?}"),
    }
    p.string_table.clear();
    assert!(matches!(
        parse_profile(&p.encode_to_vec(), &Limits::default()),
        Err(Error::EmptyStringTable)
    ));
}

#[test]
fn indices_out_of_range_name_the_element() {
    let base = proto::Profile::decode(gunzip(&fixture("cpu.pb.gz")).as_slice()).expect("decodes");
    let n_strings = base.string_table.len();

    let mut p = base.clone();
    p.function[2].name = n_strings as i64 + 5;
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("bad name index");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "function #2 (id {}) name at byte ",
            p.function[2].id
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "string index {} is outside the string table ({n_strings} entries)",
            n_strings + 5
        )),
        "{text}"
    );

    let mut p = base.clone();
    p.sample[1].location_id[0] = 999_999;
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("bad location id");
    assert!(
        err.to_string().contains("sample #1 at byte")
            && err
                .to_string()
                .contains("location id 999999 does not exist"),
        "{err}"
    );

    let mut p = base.clone();
    p.location[0].line[0].function_id = 77_777;
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("bad function id");
    assert!(
        err.to_string().contains("function id 77777 does not exist"),
        "{err}"
    );

    let mut p = base.clone();
    p.sample[0].value.push(1);
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("value count");
    assert!(
        matches!(
            err,
            Error::ValueCount {
                index: 0,
                got: 3,
                want: 2,
                ..
            }
        ),
        "{err}"
    );

    let mut p = base.clone();
    let dup = p.location[0].id;
    p.location[1].id = dup;
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("duplicate id");
    assert!(
        err.to_string().contains("used by an earlier element"),
        "{err}"
    );

    let mut p = base;
    p.sample[0].label.push(proto::Label {
        key: -1,
        str: 0,
        num: 0,
        num_unit: 0,
    });
    let err = parse_profile(&p.encode_to_vec(), &Limits::default()).expect_err("negative index");
    assert!(err.to_string().contains("sample #0 label key"), "{err}");
}

#[test]
fn truncated_profiles_fail_with_an_offset() {
    let raw = gunzip(&fixture("heap.pb.gz"));
    for cut in [1, raw.len() / 3, raw.len() / 2, raw.len() - 1] {
        match parse_profile(&raw[..cut], &Limits::default()) {
            Err(Error::Malformed { offset, .. }) => {
                assert!(offset <= cut, "offset {offset} past cut {cut}")
            }
            Err(Error::Decode { offset, .. }) => assert!(offset < cut),
            Err(other) => {
                // Cutting exactly between fields leaves a valid prefix whose string table is missing.
                assert!(
                    matches!(
                        other,
                        Error::EmptyStringTable | Error::StringIndexOutOfRange { .. }
                    ),
                    "{other}"
                )
            }
            Ok(_) => panic!("a profile cut at {cut} of {} bytes parsed", raw.len()),
        }
    }
    let gz = fixture("heap.pb.gz");
    let err = parse_profile(&gz[..gz.len() / 2], &Limits::default()).expect_err("truncated gzip");
    assert!(matches!(err, Error::Gzip { .. }), "{err}");
}

#[test]
fn limits_stop_oversized_profiles() {
    let big = common::synth::synthetic_cpu_profile(&common::synth::SynthSpec {
        functions: 200,
        stacks: 5_000,
        max_depth: 20,
        seed: 3,
    });
    let limits = Limits {
        max_samples: 1_000,
        ..Limits::default()
    };
    assert!(matches!(
        parse_profile(&big, &limits),
        Err(Error::TooMany {
            what: "samples",
            limit: 1000,
            ..
        })
    ));
    let limits = Limits {
        max_decompressed_bytes: 10_000,
        ..Limits::default()
    };
    assert!(matches!(
        parse_profile(&big, &limits),
        Err(Error::DecompressedTooLarge {
            limit_bytes: 10_000
        })
    ));
}

/// Deterministic mutation run (the stable stand-in for `cargo fuzz run parse`): bit flips, byte
/// overwrites with boundary values, truncations, duplicated and deleted ranges, over the raw and the
/// gzip-compressed form of every fixture.
#[test]
fn mutated_real_profiles_never_panic() {
    let limits = small_limits();
    let mut seeds = Vec::new();
    for name in [
        "cpu.pb.gz",
        "heap.pb.gz",
        "goroutine.pb.gz",
        "block.pb.gz",
        "mutex.pb.gz",
    ] {
        let gz = fixture(name);
        seeds.push(gunzip(&gz));
        seeds.push(gz);
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let iterations = 6_000;
    let mut parsed_ok = 0;
    for i in 0..iterations {
        let seed = &seeds[i % seeds.len()];
        let mut data = seed.clone();
        let mutations = 1 + next() % 4;
        for _ in 0..mutations {
            if data.is_empty() {
                break;
            }
            let at = (next() % data.len() as u64) as usize;
            match next() % 6 {
                0 => data[at] ^= 1 << (next() % 8),
                1 => data[at] = [0x00, 0xff, 0x7f, 0x80, 0x01][(next() % 5) as usize],
                2 => data.truncate(at),
                3 => {
                    let end = (at + 1 + (next() % 32) as usize).min(data.len());
                    let chunk = data[at..end].to_vec();
                    data.splice(at..at, chunk);
                }
                4 => {
                    let end = (at + 1 + (next() % 32) as usize).min(data.len());
                    data.drain(at..end);
                }
                _ => {
                    // A huge varint length where a length is expected.
                    let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f];
                    data.splice(at..at, bytes);
                }
            }
        }
        if parse_profile(&data, &limits).is_ok() {
            parsed_ok += 1;
        }
        exercise(&data, &limits);
    }
    // Some mutations leave a valid profile (a flipped value bit): the reports ran on those too.
    assert!(
        parsed_ok > 0,
        "no mutated input parsed; the run exercised only the error paths"
    );
}

fn arb_profile() -> impl Strategy<Value = proto::Profile> {
    (1usize..6, 1usize..12, 1usize..40, 1usize..3).prop_flat_map(
        |(n_functions, n_locations, n_samples, n_types)| {
            let functions =
                proptest::collection::vec((0usize..n_functions + 2, any::<i16>()), n_functions);
            let locations = proptest::collection::vec(
                proptest::collection::vec(0usize..=n_functions, 0..3),
                n_locations,
            );
            let samples = proptest::collection::vec(
                (
                    proptest::collection::vec(0usize..n_locations, 0..8),
                    proptest::collection::vec(-1000i64..1000, n_types),
                ),
                n_samples,
            );
            (functions, locations, samples).prop_map(move |(functions, locations, samples)| {
                let mut strings: Vec<Vec<u8>> =
                    vec![b"".to_vec(), b"count".to_vec(), b"nanoseconds".to_vec()];
                let mut sample_type = Vec::new();
                for t in 0..n_types {
                    strings.push(format!("type{t}").into_bytes());
                    sample_type.push(proto::ValueType {
                        r#type: strings.len() as i64 - 1,
                        unit: 1 + (t % 2) as i64,
                    });
                }
                let name_base = strings.len() as i64;
                for f in 0..n_functions + 2 {
                    // Some functions share a name, one is nameless.
                    strings.push(if f == 0 {
                        Vec::new()
                    } else {
                        format!("pkg.F{}", f % 4).into_bytes()
                    });
                }
                proto::Profile {
                    sample_type,
                    function: functions
                        .iter()
                        .enumerate()
                        .map(|(i, (name, start))| proto::Function {
                            id: i as u64 + 1,
                            name: name_base + *name as i64,
                            system_name: 0,
                            filename: 0,
                            start_line: i64::from(*start),
                        })
                        .collect(),
                    location: locations
                        .iter()
                        .enumerate()
                        .map(|(i, lines)| proto::Location {
                            id: i as u64 + 1,
                            mapping_id: 0,
                            address: 0,
                            line: lines
                                .iter()
                                .map(|&f| proto::Line {
                                    function_id: f as u64,
                                    line: 1,
                                })
                                .collect(),
                            is_folded: false,
                        })
                        .collect(),
                    sample: samples
                        .iter()
                        .map(|(locs, values)| proto::Sample {
                            location_id: locs.iter().map(|&l| l as u64 + 1).collect(),
                            value: values.clone(),
                            label: Vec::new(),
                        })
                        .collect(),
                    string_table: strings,
                    ..Default::default()
                }
            })
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// On any valid profile: with no node cut, the flat column adds up to the value of the samples
    /// that have a stack; every cum is at least its flat in magnitude when values are positive;
    /// folded stacks add up to the same flat total.
    #[test]
    fn reports_are_consistent(p in arb_profile()) {
        let bytes = p.encode_to_vec();
        let profile = parse_profile(&bytes, &Limits::default()).expect("generated profiles are valid");
        for i in 0..p.sample_type.len() {
            let mut options = TopOptions::new(i);
            options.node_fraction = 0.0;
            let report = pprofile::top_functions(&profile, &options);
            let with_stack: i64 = p.sample.iter().filter(|s| !s.location_id.is_empty()).map(|s| s.value[i]).sum();
            let flat: i64 = report.rows.iter().map(|r| r.flat).sum();
            prop_assert_eq!(flat, with_stack);
            let folded: i64 = pprofile::folded_stacks(&profile, i, SampleSet::All).iter().map(|s| s.value).sum();
            prop_assert_eq!(folded, with_stack);
            let all_positive = p.sample.iter().all(|s| s.value[i] >= 0);
            if all_positive {
                for row in &report.rows {
                    prop_assert!(row.cum >= row.flat, "{:?}", row);
                }
            }
            let total: i64 = p.sample.iter().map(|s| s.value[i].abs()).sum();
            prop_assert_eq!(profile.total(i), total);
        }
    }
}
