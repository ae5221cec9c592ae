//! Property tests: arbitrary bytes never panic; generated families survive a round trip through
//! the text format with any label values (commas, equals signs, quotes, backslashes, newlines).

use promtext::{Format, Limits, MetricValue, parse_families};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        for format in [Format::Text, Format::OpenMetrics] {
            if let Ok(families) = parse_families(&data, format, Limits::default()) {
                let _ = promtext::write_prom2json_string(&families);
            }
        }
    }

    #[test]
    fn line_shaped_noise_never_panics(lines in proptest::collection::vec("[a-z_{}=\",# \\\\.0-9+\\-eEINafn\t]{0,40}", 0..20)) {
        let input = lines.join("\n") + "\n";
        for format in [Format::Text, Format::OpenMetrics] {
            let _ = parse_families(input.as_bytes(), format, Limits::default());
        }
    }

    #[test]
    fn label_values_round_trip(
        values in proptest::collection::vec("[ -~\\n\u{e9}\u{2713}]{0,24}", 1..6),
        numbers in proptest::collection::vec(any::<f64>(), 1..6),
    ) {
        let mut exposition = String::from("# TYPE rt gauge\n");
        for (i, (value, number)) in values.iter().zip(&numbers).enumerate() {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            // Rust's `{:?}` of f64 prints NaN/inf/digits that the format accepts.
            let number = if number.is_nan() { "NaN".to_string() }
                else if number.is_infinite() { if *number > 0.0 { "+Inf".into() } else { "-Inf".into() } }
                else { format!("{number:?}") };
            exposition.push_str(&format!("rt{{i=\"{i}\",v=\"{escaped}\"}} {number}\n"));
        }
        let families = parse_families(exposition.as_bytes(), Format::Text, Limits::default()).expect("valid");
        prop_assert_eq!(families.len(), 1);
        for (metric, (value, number)) in families[0].metrics.iter().zip(values.iter().zip(&numbers)) {
            prop_assert_eq!(metric.label("v"), Some(value.as_str()));
            let MetricValue::Single(parsed) = metric.value else { panic!("a gauge") };
            prop_assert!(parsed == *number || (parsed.is_nan() && number.is_nan()));
        }
    }
}
