//! Every pass of the HPROF reader on arbitrary bytes: histogram, graph, dominators, report, pprof.
//! Run with `cargo +nightly fuzz run parse` from crates/hprof.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hprof::fuzz_entry(data);
});
