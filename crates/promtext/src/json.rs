//! prom2json's JSON, byte for byte.
//!
//! prom2json (1.3, the version Debian ships) marshals with Go's `encoding/json`: compact, map keys
//! sorted, `<` `>` `&` U+2028 U+2029 escaped as `\u003c`…, control characters as `\u00XX` (bar
//! `\n` `\r` `\t`), invalid UTF-8 as `\ufffd`; values, counts, bounds and timestamps are strings
//! printed by `fmt.Sprint`. Its family order is Go's random map order; ours is the exposition's.

use std::io::{self, Write};

use crate::model::{Metric, MetricFamily, MetricValue};
use crate::number::{format_go_float, go_float_to_u64};
use crate::{Format, MetricType};

/// Write `families` as prom2json prints them (a JSON array and a newline). Families without
/// metrics are left out, as prom2json leaves them out. OpenMetrics families are shown as their
/// text-format equivalent: counters named `…_total`, info metrics `…_info`, state sets and info
/// metrics typed `GAUGE`, gauge histograms shaped like histograms; `_created` and exemplars, which
/// prom2json's model lacks, are not shown.
pub fn write_prom2json<W: Write>(families: &[MetricFamily], mut out: W) -> io::Result<()> {
    out.write_all(write_prom2json_string(families).as_bytes())
}

/// [`write_prom2json`] into a string.
pub fn write_prom2json_string(families: &[MetricFamily]) -> String {
    let mut out = String::with_capacity(families.iter().map(|f| 64 + f.metrics.len() * 96).sum());
    out.push('[');
    let mut first = true;
    for family in families.iter().filter(|f| !f.metrics.is_empty()) {
        if !first {
            out.push(',');
        }
        first = false;
        write_family(family, &mut out);
    }
    out.push_str("]\n");
    out
}

fn write_family(family: &MetricFamily, out: &mut String) {
    out.push_str("{\"name\":");
    let name = if family.format == Format::OpenMetrics {
        family.exposed_name()
    } else {
        family.name.clone()
    };
    write_string(&name, false, out);
    out.push_str(",\"help\":");
    write_string(family.help.as_deref().unwrap_or_default(), true, out);
    out.push_str(",\"type\":\"");
    out.push_str(family.metric_type.prom2json_name());
    out.push_str("\",\"metrics\":[");
    let mut scratch = String::new();
    for (i, metric) in family.metrics.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_metric(family.metric_type, metric, out, &mut scratch);
    }
    out.push_str("]}");
}

fn write_metric(metric_type: MetricType, metric: &Metric, out: &mut String, scratch: &mut String) {
    out.push('{');
    let mut needs_comma = false;
    if !metric.labels.is_empty() {
        let mut labels: Vec<(&str, &str)> =
            metric.labels.iter().map(|l| (l.name, l.value)).collect();
        labels.sort_by(|a, b| a.0.cmp(b.0));
        out.push_str("\"labels\":");
        write_map(labels.iter().map(|&(k, v)| (k, v)), out);
        needs_comma = true;
    }
    if let Some(timestamp) = metric.timestamp_ms {
        if needs_comma {
            out.push(',');
        }
        out.push_str("\"timestamp_ms\":\"");
        out.push_str(&timestamp.to_string());
        out.push('"');
        needs_comma = true;
    }
    if needs_comma {
        out.push(',');
    }
    match (&metric.value, metric_type) {
        (MetricValue::Summary(summary), _) => {
            if !summary.quantiles.is_empty() {
                let entries = sorted_entries(
                    summary
                        .quantiles
                        .iter()
                        .map(|q| (go_float(q.quantile, scratch), go_float(q.value, scratch))),
                );
                out.push_str("\"quantiles\":");
                write_map(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())), out);
                out.push(',');
            }
            write_count_sum(summary.count, summary.sum, out, scratch);
        }
        (MetricValue::Histogram(histogram), _) => {
            if !histogram.buckets.is_empty() {
                let entries = sorted_entries(histogram.buckets.iter().map(|b| {
                    (
                        go_float(b.upper_bound, scratch),
                        go_float_to_u64(b.cumulative_count).to_string(),
                    )
                }));
                out.push_str("\"buckets\":");
                write_map(entries.iter().map(|(k, v)| (k.as_str(), v.as_str())), out);
                out.push(',');
            }
            write_count_sum(histogram.count, histogram.sum, out, scratch);
        }
        (MetricValue::Single(value), _) => {
            out.push_str("\"value\":\"");
            format_go_float(*value, out);
            out.push('"');
        }
    }
    out.push('}');
}

fn write_count_sum(count: f64, sum: f64, out: &mut String, scratch: &mut String) {
    out.push_str("\"count\":\"");
    out.push_str(&go_float_to_u64(count).to_string());
    out.push_str("\",\"sum\":\"");
    out.push_str(&go_float(sum, scratch));
    out.push('"');
}

fn go_float(value: f64, scratch: &mut String) -> String {
    scratch.clear();
    format_go_float(value, scratch);
    scratch.clone()
}

/// Go map semantics: a later entry with the same key replaces an earlier one; keys sorted.
fn sorted_entries(entries: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut entries: Vec<(usize, (String, String))> = entries.enumerate().collect();
    entries.sort_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(&a.0)));
    entries.dedup_by(|later, earlier| later.1.0 == earlier.1.0);
    entries.into_iter().map(|(_, entry)| entry).collect()
}

fn write_map<'a>(entries: impl Iterator<Item = (&'a str, &'a str)>, out: &mut String) {
    out.push('{');
    for (i, (key, value)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(key, false, out);
        out.push(':');
        write_string(value, false, out);
    }
    out.push('}');
}

/// A JSON string as Go's encoding/json writes it with HTML escaping on. `replacement_is_invalid`:
/// the string came from bytes where U+FFFD stands for invalid UTF-8, which Go prints as `\ufffd`.
fn write_string(text: &str, replacement_is_invalid: bool, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut plain_start = 0;
    for (i, c) in text.char_indices() {
        let escape: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            '\u{FFFD}' if replacement_is_invalid => Some("\\ufffd"),
            c if (c as u32) < 0x20 => Some(""),
            _ => None,
        };
        if let Some(escape) = escape {
            out.push_str(&text[plain_start..i]);
            if escape.is_empty() {
                let b = c as u32 as usize;
                out.push_str("\\u00");
                out.push(HEX[b >> 4] as char);
                out.push(HEX[b & 0xF] as char);
            } else {
                out.push_str(escape);
            }
            plain_start = i + c.len_utf8();
        }
    }
    out.push_str(&text[plain_start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_go() {
        // Go 1.19: json.Marshal("<>&\u2028\x01\x7f\b\f") and an invalid byte.
        let mut out = String::new();
        write_string("<>&\u{2028}\u{1}\u{7f}\u{8}\u{c}\u{FFFD}", true, &mut out);
        assert_eq!(
            out,
            "\"\\u003c\\u003e\\u0026\\u2028\\u0001\u{7f}\\u0008\\u000c\\ufffd\""
        );
        out.clear();
        write_string("a\"b\\c\nd\u{FFFD}", false, &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\u{FFFD}\"");
    }

    #[test]
    fn later_map_entries_win() {
        let entries = sorted_entries(
            vec![
                ("b".to_string(), "1".to_string()),
                ("a".into(), "2".into()),
                ("b".into(), "3".into()),
            ]
            .into_iter(),
        );
        assert_eq!(
            entries,
            vec![
                ("a".to_string(), "2".to_string()),
                ("b".to_string(), "3".to_string())
            ]
        );
    }
}
