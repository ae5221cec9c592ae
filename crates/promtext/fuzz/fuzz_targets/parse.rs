//! Feed arbitrary bytes to both formats, through the slice parser and the streaming reader, with
//! small limits so the limit paths are reached too. Must never panic; both paths must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use promtext::{Format, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_line_bytes: 4096,
        max_label_value_bytes: 512,
        max_labels_per_sample: 16,
        max_samples: 10_000,
        max_families: 1_000,
    };
    for format in [Format::Text, Format::OpenMetrics] {
        let whole = promtext::parse_families(data, format, limits);
        // A reader that hands out 7 bytes at a time splits lines everywhere.
        let streamed = promtext::read_families(Trickle(data), format, limits);
        match (&whole, &streamed) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.len(), b.len());
                let _ = promtext::write_prom2json_string(a);
            }
            (Err(_), Err(_)) => {}
            _ => panic!("slice and stream disagree: {whole:?} vs {streamed:?}"),
        }
    }
});

struct Trickle<'a>(&'a [u8]);

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(7).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}
