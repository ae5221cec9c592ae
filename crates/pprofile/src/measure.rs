//! Value formatting exactly as `go tool pprof` prints it (its `measurement` package): units are
//! scaled (`1.50s`, `512.02kB`), percentages use Go's `%5.2f%%` / `%5.2g%%`.

struct Unit {
    canonical: &'static str,
    aliases: &'static [&'static str],
    factor: f64,
}

struct UnitType {
    default: (&'static str, f64),
    units: &'static [Unit],
}

const UNIT_TYPES: [UnitType; 3] = [
    UnitType {
        default: ("B", 1.0),
        units: &[
            Unit {
                canonical: "B",
                aliases: &["b", "byte"],
                factor: 1.0,
            },
            Unit {
                canonical: "kB",
                aliases: &["kb", "kbyte", "kilobyte"],
                factor: (1u64 << 10) as f64,
            },
            Unit {
                canonical: "MB",
                aliases: &["mb", "mbyte", "megabyte"],
                factor: (1u64 << 20) as f64,
            },
            Unit {
                canonical: "GB",
                aliases: &["gb", "gbyte", "gigabyte"],
                factor: (1u64 << 30) as f64,
            },
            Unit {
                canonical: "TB",
                aliases: &["tb", "tbyte", "terabyte"],
                factor: (1u64 << 40) as f64,
            },
            Unit {
                canonical: "PB",
                aliases: &["pb", "pbyte", "petabyte"],
                factor: (1u64 << 50) as f64,
            },
        ],
    },
    UnitType {
        default: ("s", 1e9),
        units: &[
            Unit {
                canonical: "ns",
                aliases: &["ns", "nanosecond"],
                factor: 1.0,
            },
            Unit {
                canonical: "us",
                aliases: &["μs", "us", "microsecond"],
                factor: 1e3,
            },
            Unit {
                canonical: "ms",
                aliases: &["ms", "millisecond"],
                factor: 1e6,
            },
            Unit {
                canonical: "s",
                aliases: &["s", "sec", "second"],
                factor: 1e9,
            },
            Unit {
                canonical: "hrs",
                aliases: &["hour", "hr"],
                factor: 3600e9,
            },
        ],
    },
    UnitType {
        default: ("GCU", 1.0),
        units: &[
            Unit {
                canonical: "n*GCU",
                aliases: &["nanogcu"],
                factor: 1e-9,
            },
            Unit {
                canonical: "u*GCU",
                aliases: &["microgcu"],
                factor: 1e-6,
            },
            Unit {
                canonical: "m*GCU",
                aliases: &["milligcu"],
                factor: 1e-3,
            },
            Unit {
                canonical: "GCU",
                aliases: &["gcu"],
                factor: 1.0,
            },
            Unit {
                canonical: "k*GCU",
                aliases: &["kilogcu"],
                factor: 1e3,
            },
            Unit {
                canonical: "M*GCU",
                aliases: &["megagcu"],
                factor: 1e6,
            },
            Unit {
                canonical: "G*GCU",
                aliases: &["gigagcu"],
                factor: 1e9,
            },
            Unit {
                canonical: "T*GCU",
                aliases: &["teragcu"],
                factor: 1e12,
            },
            Unit {
                canonical: "P*GCU",
                aliases: &["petagcu"],
                factor: 1e15,
            },
        ],
    },
];

impl UnitType {
    fn sniff(&self, unit: &str) -> Option<&Unit> {
        let lower = unit.to_lowercase();
        // Go trims a plural `s` when the byte length exceeds 2 (so "μs", three bytes, never matches).
        let unit = if lower.len() > 2 {
            lower.strip_suffix('s').unwrap_or(&lower)
        } else {
            &lower
        };
        self.units.iter().find(|u| u.aliases.contains(&unit))
    }

    fn auto_scale(&self, value: f64) -> Option<(f64, &'static str)> {
        let mut factor = 0.0;
        let mut name = "";
        for u in self.units {
            if u.factor >= factor && value / u.factor >= 1.0 {
                factor = u.factor;
                name = u.canonical;
            }
        }
        if factor == 0.0 {
            None
        } else {
            Some((value / factor, name))
        }
    }

    fn convert(&self, value: i64, from: &str, to: &str) -> Option<(f64, &'static str)> {
        let from = self.sniff(from)?;
        let v = value as f64 * from.factor;
        if to == "minimum" || to == "auto" {
            return Some(
                self.auto_scale(v)
                    .unwrap_or((v / self.default.1, self.default.0)),
            );
        }
        match self.sniff(to) {
            Some(to) => Some((v / to.factor, to.canonical)),
            None => Some((v / self.default.1, self.default.0)),
        }
    }
}

/// Convert `value` from `from_unit` to `to_unit` (`minimum`/`auto` pick the largest unit that keeps
/// the value ≥ 1), returning the value and the unit's printed name.
pub fn scale(value: i64, from_unit: &str, to_unit: &str) -> (f64, String) {
    if value < 0 && value != i64::MIN {
        let (v, u) = scale(-value, from_unit, to_unit);
        return (-v, u);
    }
    for ut in &UNIT_TYPES {
        if let Some((v, u)) = ut.convert(value, from_unit, to_unit) {
            return (v, u.to_string());
        }
    }
    match to_unit {
        "count" | "sample" | "unit" | "minimum" | "auto" => (value as f64, String::new()),
        other => (value as f64, other.to_string()),
    }
}

/// `value` in `from_unit` printed in `to_unit` with two decimals (`.00` dropped), e.g. `1.50s`.
pub fn scaled_label(value: i64, from_unit: &str, to_unit: &str) -> String {
    let (v, unit) = scale(value, from_unit, to_unit);
    let printed = format!("{v:.2}");
    let printed = printed.strip_suffix(".00").unwrap_or(&printed);
    if printed == "0" || printed == "-0" {
        return "0".to_string();
    }
    format!("{printed}{unit}")
}

/// `value` in `unit`, scaled automatically (e.g. a duration in nanoseconds as `30s`).
pub fn label(value: i64, unit: &str) -> String {
    scaled_label(value, unit, "auto")
}

/// `value` as a percentage of `total`, six columns wide as pprof prints it (`  100%`, `12.34%`,
/// ` 0.52%`).
pub fn percentage(value: i64, total: i64) -> String {
    let ratio = if total != 0 {
        (value as f64 / total as f64).abs() * 100.0
    } else {
        0.0
    };
    if (99.95..=100.05).contains(&ratio) {
        "  100%".to_string()
    } else if ratio >= 1.0 {
        format!("{ratio:5.2}%")
    } else {
        format!("{:>5}%", go_format_g2(ratio))
    }
}

/// Go's `%.2g` for a non-negative value below 1: two significant digits, trailing zeros removed,
/// exponent form when the exponent is below -4.
fn go_format_g2(value: f64) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{value:.1e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..2).contains(&exponent) {
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (1 - exponent).max(0) as usize;
    let fixed = format!("{value:.decimals$}");
    if fixed.contains('.') {
        fixed
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    } else {
        fixed
    }
}

/// pprof's output-unit choice for a report (`-unit=minimum`): the unit of the smallest non-zero
/// value, unless that is 100× below the total, in which case a unit fitting 100× the minimum.
pub fn select_output_unit(sample_unit: &str, min_nonzero_value: i64, total: i64) -> String {
    let min_value = if min_nonzero_value == 0 {
        total
    } else {
        min_nonzero_value
    };
    let (_, min_unit) = scale(min_value, sample_unit, "minimum");
    let (_, max_unit) = scale(total, sample_unit, "minimum");
    let mut unit = min_unit.clone();
    if min_unit != max_unit && min_value.saturating_mul(100) < total {
        unit = scale(min_value.saturating_mul(100), sample_unit, "minimum").1;
    }
    if unit.is_empty() {
        sample_unit.to_string()
    } else {
        unit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_pprof() {
        assert_eq!(scaled_label(1_500_000_000, "nanoseconds", "s"), "1.50s");
        assert_eq!(scaled_label(10_000_000, "nanoseconds", "ms"), "10ms");
        assert_eq!(scaled_label(0, "nanoseconds", "ms"), "0");
        assert_eq!(scaled_label(524_309, "bytes", "kB"), "512.02kB");
        assert_eq!(scaled_label(1234, "count", "count"), "1234");
        assert_eq!(label(30_000_000_000, "nanoseconds"), "30s");
        assert_eq!(scaled_label(-2_048, "bytes", "kB"), "-2kB");
    }

    #[test]
    fn percentages_match_go_formatting() {
        assert_eq!(percentage(1, 1), "  100%");
        assert_eq!(percentage(1234, 10000), "12.34%");
        assert_eq!(percentage(52, 10000), " 0.52%");
        assert_eq!(percentage(5, 10000), " 0.05%");
        assert_eq!(percentage(5, 100000), "0.005%");
        assert_eq!(percentage(1, 10_000_000), "1e-05%");
        assert_eq!(percentage(996, 100000), "    1%");
        assert_eq!(percentage(0, 0), "    0%");
        assert_eq!(percentage(-50, 100), "50.00%");
    }

    #[test]
    fn output_unit_follows_pprof() {
        assert_eq!(
            select_output_unit("nanoseconds", 10_000_000, 500_000_000),
            "ms"
        );
        assert_eq!(
            select_output_unit("nanoseconds", 10_000_000, 2_000_000_000),
            "s"
        );
        assert_eq!(
            select_output_unit("nanoseconds", 10_000_000, 20_000_000_000),
            "s"
        );
        assert_eq!(select_output_unit("count", 3, 100), "count");
        assert_eq!(select_output_unit("bytes", 512 * 1024, 10 << 20), "kB");
    }
}
