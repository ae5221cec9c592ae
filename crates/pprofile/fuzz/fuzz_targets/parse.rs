//! Fuzz the profile decoder and every report built on it: `cargo +nightly fuzz run parse
//! ../tests/fixtures` (seed with the fixtures). Any panic, or memory beyond the limits, is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = pprofile::Limits {
        max_decompressed_bytes: 16 << 20,
        max_samples: 200_000,
        max_locations: 200_000,
        max_functions: 200_000,
        max_mappings: 10_000,
        max_strings: 200_000,
        max_sample_types: 16,
    };
    if let Ok(mut profile) = pprofile::parse_profile(data, &limits) {
        let _ = profile.prune_dropped_frames();
        for i in 0..profile.sample_types().len() {
            let report = pprofile::top_functions(&profile, &pprofile::TopOptions::new(i));
            let _ = report.row_cells();
            let _ = report.summary_lines();
            let _ = pprofile::folded_stacks(&profile, i, pprofile::SampleSet::All);
            let _ = pprofile::group_by_stack(&profile, i);
        }
    }
});
