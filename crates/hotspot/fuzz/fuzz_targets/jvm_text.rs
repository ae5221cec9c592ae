//! Everything the JVM sends back as text: class histograms, GC.heap_info, result-code lines and
//! exception lines. Run with `cargo +nightly fuzz run jvm_text` from crates/hotspot.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let limits = hotspot::histogram::Limits { max_classes: 64, max_name_len: 256 };
    let h = hotspot::histogram::parse_histogram(&text, &limits);
    assert!(h.histogram.len() <= 64);
    let _ = hotspot::heapdump::heap_used_bytes(&text);
    let _ = hotspot::protocol::parse_result_code(data);
    for line in text.lines() {
        let _ = hotspot::protocol::is_exception_line(line);
    }
});
