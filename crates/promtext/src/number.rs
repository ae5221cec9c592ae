//! Numbers as the exposition formats write them, and as prom2json prints them.
//!
//! Parsing follows Go's `strconv.ParseFloat` as used by `expfmt` (so the same inputs are accepted
//! and rejected), printing follows Go's `fmt.Sprint` (so the JSON matches prom2json byte for byte).

/// Parse a sample value, a `le` bound or a `quantile` the way `expfmt` does: decimal floats,
/// `NaN`, `Inf`/`Infinity` with an optional sign (case-insensitive). Rejects hexadecimal floats,
/// underscores and values out of the `f64` range (`1e400`), as Go does.
pub fn parse_float(token: &[u8]) -> Option<f64> {
    // Fast path: small unsigned integers are by far the most common values (counters, buckets).
    if !token.is_empty() && token.len() <= 15 && token.iter().all(u8::is_ascii_digit) {
        let mut value: u64 = 0;
        for &digit in token {
            value = value * 10 + u64::from(digit - b'0');
        }
        return Some(value as f64);
    }
    let (negative, unsigned) = match token.first() {
        Some(b'-') => (true, &token[1..]),
        Some(b'+') => (false, &token[1..]),
        _ => (false, token),
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // Go accepts NaN only without a sign.
    if token.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    if !is_decimal_float(unsigned) {
        return None;
    }
    let text = std::str::from_utf8(token).ok()?;
    let value: f64 = text.parse().ok()?;
    // Go reports overflow as an error rather than rounding to infinity.
    value.is_finite().then_some(value)
}

/// `digits ['.' digits] [('e'|'E') [sign] digits]` with at least one mantissa digit.
fn is_decimal_float(s: &[u8]) -> bool {
    let mut i = 0;
    let mut mantissa_digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        mantissa_digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            mantissa_digits += 1;
        }
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
            i += 1;
        }
        let exponent_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == exponent_start {
            return false;
        }
    }
    i == s.len()
}

/// Parse a text-format timestamp: a signed decimal integer of milliseconds (Go's
/// `strconv.ParseInt(s, 10, 64)`).
pub fn parse_timestamp_ms(token: &[u8]) -> Option<i64> {
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// Parse an OpenMetrics timestamp (seconds, a decimal float) into whole milliseconds.
pub fn parse_openmetrics_timestamp_ms(token: &[u8]) -> Option<i64> {
    let unsigned = match token.first() {
        Some(b'-' | b'+') => &token[1..],
        _ => token,
    };
    if !is_decimal_float(unsigned) {
        return None;
    }
    let seconds: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
    let millis = (seconds * 1000.0).round();
    // i64::MAX as f64 rounds up to 2^63, which is out of range: compare strictly.
    (millis.is_finite()
        && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&millis))
    .then_some(millis as i64)
}

/// Parse an OpenMetrics timestamp as seconds (exemplars and `_created` keep sub-millisecond
/// precision).
pub fn parse_openmetrics_seconds(token: &[u8]) -> Option<f64> {
    let unsigned = match token.first() {
        Some(b'-' | b'+') => &token[1..],
        _ => token,
    };
    if !is_decimal_float(unsigned) {
        return None;
    }
    std::str::from_utf8(token)
        .ok()?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
}

/// Format a float as Go's `fmt.Sprint(float64)` does: `strconv.FormatFloat(v, 'g', -1, 64)`,
/// i.e. the shortest digits that round-trip, exponent form below 1e-4 and from 1e6 (`1e+06`), and
/// `+Inf`, `-Inf`, `NaN` spelled as Go spells them.
pub fn format_go_float(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("NaN");
        return;
    }
    if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if value == 0.0 {
        out.push_str(if value.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` prints the shortest digits that round-trip, as Go's shortest formatting does.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("`{:e}` always prints an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` prints a decimal exponent");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    // Go: %e when the exponent is < -4 or >= 6 (the precision used for shortest formatting).
    if !(-4..6).contains(&exponent) {
        out.push(digits[0] as char);
        if digits.len() > 1 {
            out.push('.');
            out.extend(digits[1..].iter().map(|&d| d as char));
        }
        out.push('e');
        out.push(if exponent < 0 { '-' } else { '+' });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(&magnitude.to_string());
        return;
    }
    let point = exponent + 1; // digits before the decimal point
    let count = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.extend(digits.iter().map(|&d| d as char));
    } else if point >= count {
        out.extend(digits.iter().map(|&d| d as char));
        out.extend(std::iter::repeat_n('0', (point - count) as usize));
    } else {
        out.extend(digits[..point as usize].iter().map(|&d| d as char));
        out.push('.');
        out.extend(digits[point as usize..].iter().map(|&d| d as char));
    }
}

/// `format_go_float` into a new string.
pub fn go_float_string(value: f64) -> String {
    let mut out = String::new();
    format_go_float(value, &mut out);
    out
}

/// Go's `uint64(float64)` conversion as compiled for amd64, which `expfmt` applies to `_count`
/// and bucket values: values outside `[0, 2^64)` and NaN do not saturate but wrap the way the
/// CPU's truncating conversion does, and prom2json prints the result.
pub fn go_float_to_u64(value: f64) -> u64 {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    // CVTTSD2SQ: truncation, or 0x8000_0000_0000_0000 when NaN or out of the i64 range.
    fn truncate_to_i64(v: f64) -> i64 {
        if v.is_nan() || !(-TWO_POW_63..TWO_POW_63).contains(&v) {
            i64::MIN
        } else {
            v as i64
        }
    }
    if value < TWO_POW_63 {
        truncate_to_i64(value) as u64
    } else {
        (truncate_to_i64(value - TWO_POW_63) as u64) | (1 << 63)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        for (text, expected) in [
            ("0", 0.0),
            ("12", 12.0),
            ("00012", 12.0),
            ("-0", -0.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("1E5", 1e5),
            ("+3.5e-2", 0.035),
            ("1e-400", 0.0),
            ("Infinity", f64::INFINITY),
            ("+inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
        ] {
            assert_eq!(parse_float(text.as_bytes()), Some(expected), "{text}");
        }
        assert!(parse_float(b"NaN").is_some_and(f64::is_nan));
        assert!(parse_float(b"nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for text in [
            "", "+nan", "0x10", "0x1p3", "1_000", "1e", "+.e1", ".", "1e400", "1.2.3", "12a",
            "infx", " 1",
        ] {
            assert_eq!(parse_float(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn formats_like_go_sprint() {
        // Expected strings printed by Go 1.19's fmt.Sprint on this machine.
        for (value, expected) in [
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (1e6, "1e+06"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (0.1 + 0.2, "0.30000000000000004"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (-0.0, "-0"),
            (9.223372036854776e18, "9.223372036854776e+18"),
        ] {
            assert_eq!(go_float_string(value), expected, "{value:?}");
        }
    }

    #[test]
    fn converts_to_u64_like_go_on_amd64() {
        // Printed by Go 1.19 on amd64 for uint64(v).
        assert_eq!(go_float_to_u64(-1.0), 18446744073709551615);
        assert_eq!(go_float_to_u64(f64::NAN), 9223372036854775808);
        assert_eq!(go_float_to_u64(f64::INFINITY), 9223372036854775808);
        assert_eq!(go_float_to_u64(f64::NEG_INFINITY), 9223372036854775808);
        assert_eq!(go_float_to_u64(1.9), 1);
        assert_eq!(go_float_to_u64(1e19), 10000000000000000000);
        assert_eq!(go_float_to_u64(2e19), 9223372036854775808);
        assert_eq!(go_float_to_u64(-1e19), 9223372036854775808);
    }

    #[test]
    fn openmetrics_timestamps_are_seconds() {
        assert_eq!(
            parse_openmetrics_timestamp_ms(b"1520879607.789"),
            Some(1520879607789)
        );
        assert_eq!(parse_openmetrics_timestamp_ms(b"-1"), Some(-1000));
        assert_eq!(parse_openmetrics_timestamp_ms(b"NaN"), None);
        assert_eq!(parse_openmetrics_timestamp_ms(b"1e300"), None);
    }
}
