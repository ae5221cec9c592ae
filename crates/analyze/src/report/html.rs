//! Small HTML building blocks: escaping, gauges, bars, number formatting.

use std::fmt::Write;

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Level of a gauge or bar, which picks its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Crit,
    Unknown,
}

impl Level {
    pub fn class(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Warn => "warn",
            Self::Crit => "crit",
            Self::Unknown => "unknown",
        }
    }

    /// Level of a share that is bad when high.
    pub fn of_high(share: f64, warn: f64, crit: f64) -> Self {
        if share > crit {
            Self::Crit
        } else if share > warn {
            Self::Warn
        } else {
            Self::Ok
        }
    }
}

/// A ring gauge: `share` (0–1) filled, a big label in the middle, a caption and a detail line.
pub fn gauge(
    out: &mut String,
    title: &str,
    share: Option<f64>,
    center: &str,
    detail: &str,
    level: Level,
) {
    const R: f64 = 52.0;
    let circumference = 2.0 * std::f64::consts::PI * R;
    // A 270° arc, open at the bottom.
    let arc = circumference * 0.75;
    let filled = share.map(|s| s.clamp(0.0, 1.0) * arc).unwrap_or(0.0);
    let _ = write!(
        out,
        r#"<div class="gauge {level}"><svg viewBox="0 0 140 128" width="150" height="137" aria-hidden="true">
<circle class="track" cx="70" cy="68" r="{R}" stroke-dasharray="{arc:.2} {circumference:.2}" transform="rotate(135 70 68)"/>
<circle class="fill" cx="70" cy="68" r="{R}" stroke-dasharray="{filled:.2} {circumference:.2}" transform="rotate(135 70 68)"/>
<text class="big" x="70" y="74" text-anchor="middle">{center}</text></svg>
<div class="gauge-title">{title}</div><div class="gauge-detail">{detail}</div></div>"#,
        level = level.class(),
        center = escape(center),
        title = escape(title),
        detail = escape(detail),
    );
}

/// A horizontal bar: `share` of the track filled; optional second marker (e.g. usage behind the
/// working set).
pub fn bar(out: &mut String, share: f64, secondary: Option<f64>, level: Level) {
    let pct = (share.clamp(0.0, 1.0) * 100.0).max(0.5);
    out.push_str(r#"<div class="bar">"#);
    if let Some(sec) = secondary {
        let _ = write!(
            out,
            r#"<div class="bar-secondary" style="width:{:.2}%"></div>"#,
            sec.clamp(0.0, 1.0) * 100.0
        );
    }
    let _ = write!(
        out,
        r#"<div class="bar-fill {}" style="width:{pct:.2}%"></div></div>"#,
        level.class()
    );
}

/// Binary size with one decimal.
pub fn bytes(bytes: u64) -> String {
    crate::finding::fmt_value::bytes(bytes)
}

/// Thousands separated by thin spaces: `12 345 678`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A value of a profile in its unit: durations for nanoseconds, sizes for bytes.
pub fn profile_value(value: f64, unit: &str) -> String {
    match unit {
        "nanoseconds" | "ns" => {
            let s = value / 1e9;
            if s >= 1.0 {
                format!("{s:.2} s")
            } else if s >= 1e-3 {
                format!("{:.1} ms", s * 1e3)
            } else {
                format!("{:.0} µs", s * 1e6)
            }
        }
        "bytes" => bytes(value.max(0.0) as u64),
        _ => count(value.max(0.0) as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{1b}[31mb"), "a\u{fffd}[31mb");
    }

    #[test]
    fn numbers() {
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(count(12), "12");
        assert_eq!(profile_value(2.5e9, "nanoseconds"), "2.50 s");
        assert_eq!(profile_value(3.0e6, "nanoseconds"), "3.0 ms");
        assert_eq!(profile_value(2048.0, "bytes"), "2.0 KiB");
    }
}
