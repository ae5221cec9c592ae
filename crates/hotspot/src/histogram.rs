//! Parser for the class histogram the JVM prints (`inspectheap`, `GC.class_histogram`, `jmap
//! -histo`), with class names turned into Java source form (`[B` → `byte[]`,
//! `[Ljava.lang.String;` → `java.lang.String[]`).
//!
//! ```text
//!  num     #instances         #bytes  class name (module)
//! -------------------------------------------------------
//!    1:          7197         332464  [B (java.base@17.0.15)
//!   11:          1235          19760  Marker
//! Total         26633        1275320
//! ```

use serde::Serialize;

/// Bounds for hostile or runaway input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Stop after this many classes (the rest is counted in `truncated_classes`).
    pub max_classes: usize,
    /// Class names longer than this are cut.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_classes: 2_000_000,
            max_name_len: 4096,
        }
    }
}

/// One line of the histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramEntry {
    /// Class name in Java source form (`byte[]`, `java.util.HashMap$Node`).
    pub class: String,
    /// Number of instances.
    pub instances: u64,
    /// Shallow bytes of all instances, as the JVM counts them.
    pub bytes: u64,
    /// Module and version (`java.base@17.0.15`) when the JVM printed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// A parsed class histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Histogram {
    /// Classes in the JVM's order (largest `bytes` first).
    pub histogram: Vec<HistogramEntry>,
    /// From the `Total` line, or summed when it is missing.
    pub total_instances: u64,
    /// See `total_instances`.
    pub total_bytes: u64,
    /// Lines that looked like entries but were dropped because of [`Limits::max_classes`].
    #[serde(skip_serializing_if = "is_zero")]
    pub truncated_classes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Convert a JVM class name to Java source form. Arrays come as descriptors (`[I`, `[[LFoo;`);
/// everything else is already dotted and is returned unchanged.
pub fn java_class_name(jvm_name: &str) -> String {
    let dims = jvm_name.bytes().take_while(|b| *b == b'[').count();
    if dims == 0 {
        return jvm_name.to_string();
    }
    let element = &jvm_name[dims..];
    let base = match element {
        "Z" => "boolean",
        "B" => "byte",
        "C" => "char",
        "S" => "short",
        "I" => "int",
        "J" => "long",
        "F" => "float",
        "D" => "double",
        _ => match element.strip_prefix('L').and_then(|e| e.strip_suffix(';')) {
            Some(class) => class,
            // Not a descriptor we know: keep the JVM's spelling rather than guess.
            None => return jvm_name.to_string(),
        },
    };
    let mut out = String::with_capacity(base.len() + 2 * dims);
    out.push_str(&base.replace('/', "."));
    for _ in 0..dims {
        out.push_str("[]");
    }
    out
}

/// Parse one entry line (`   1:   7197   332464  [B (java.base@17.0.15)`).
fn parse_entry(line: &str, limits: &Limits) -> Option<HistogramEntry> {
    let line = line.trim();
    let (rank, rest) = line.split_once(':')?;
    rank.trim().parse::<u64>().ok()?;
    let rest = rest.trim_start();
    let (instances, rest) = rest.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let (bytes, rest) = rest.split_once(char::is_whitespace)?;
    let instances = instances.parse::<u64>().ok()?;
    let bytes = bytes.parse::<u64>().ok()?;
    let rest = rest.trim();
    if rest.is_empty() {
        return None;
    }
    // Class names have no spaces; a module, when present, follows in parentheses.
    let (name, module) = match rest.split_once(' ') {
        Some((name, tail)) => {
            let module = tail
                .trim()
                .strip_prefix('(')
                .and_then(|m| m.strip_suffix(')'))
                .map(str::to_string);
            (name, module)
        }
        None => (rest, None),
    };
    let mut class = java_class_name(name);
    if class.len() > limits.max_name_len {
        let mut cut = limits.max_name_len;
        while !class.is_char_boundary(cut) {
            cut -= 1;
        }
        class.truncate(cut);
    }
    Some(HistogramEntry {
        class,
        instances,
        bytes,
        module,
    })
}

/// Parse a histogram. Header, separator and unknown lines are skipped; never panics.
pub fn parse_histogram(text: &str, limits: &Limits) -> Histogram {
    let mut histogram = Histogram::default();
    let mut total: Option<(u64, u64)> = None;
    let (mut sum_instances, mut sum_bytes) = (0u64, 0u64);
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("Total") {
            let mut numbers = rest
                .split_whitespace()
                .filter_map(|n| n.parse::<u64>().ok());
            if let (Some(i), Some(b)) = (numbers.next(), numbers.next()) {
                total = Some((i, b));
            }
            continue;
        }
        let Some(entry) = parse_entry(line, limits) else {
            continue;
        };
        sum_instances = sum_instances.saturating_add(entry.instances);
        sum_bytes = sum_bytes.saturating_add(entry.bytes);
        if histogram.histogram.len() >= limits.max_classes {
            histogram.truncated_classes += 1;
            continue;
        }
        histogram.histogram.push(entry);
    }
    (histogram.total_instances, histogram.total_bytes) =
        total.unwrap_or((sum_instances, sum_bytes));
    histogram
}

#[cfg(test)]
mod tests {
    use super::*;

    const JDK17: &str = " num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:          7197         332464  [B (java.base@17.0.15)
   2:          1425         175656  java.lang.Class (java.base@17.0.15)
  11:          1235          19760  Marker
 156:             1             40  [[Ljava.lang.invoke.LambdaForm$Name; (java.base@17.0.15)
 189:             1             24  [[LMarker;
 212:             1             16  Marker$$Lambda$1/0x00007f45f4000400
Total         26633        1275320
";

    #[test]
    fn jdk17_histogram_in_java_source_form() {
        let h = parse_histogram(JDK17, &Limits::default());
        let names: Vec<&str> = h.histogram.iter().map(|e| e.class.as_str()).collect();
        assert_eq!(
            names,
            [
                "byte[]",
                "java.lang.Class",
                "Marker",
                "java.lang.invoke.LambdaForm$Name[][]",
                "Marker[][]",
                "Marker$$Lambda$1/0x00007f45f4000400"
            ]
        );
        assert_eq!(
            h.histogram[0],
            HistogramEntry {
                class: "byte[]".into(),
                instances: 7197,
                bytes: 332464,
                module: Some("java.base@17.0.15".into())
            }
        );
        assert_eq!(h.histogram[2].module, None);
        assert_eq!((h.total_instances, h.total_bytes), (26633, 1275320));
    }

    #[test]
    fn primitive_and_object_arrays() {
        for (jvm, java) in [
            ("[Z", "boolean[]"),
            ("[C", "char[]"),
            ("[S", "short[]"),
            ("[I", "int[]"),
            ("[J", "long[]"),
            ("[F", "float[]"),
            ("[D", "double[]"),
            ("[[[B", "byte[][][]"),
            ("[Ljava.lang.String;", "java.lang.String[]"),
            ("[Ljava/lang/Object;", "java.lang.Object[]"),
            ("java.util.HashMap$Node", "java.util.HashMap$Node"),
            ("[Q", "[Q"),
            ("[", "["),
        ] {
            assert_eq!(java_class_name(jvm), java, "{jvm}");
        }
    }

    #[test]
    fn jdk8_lines_without_module_and_missing_total() {
        let text = "   1:   10   160  java.lang.String\n   2:   3   72  [C\n";
        let h = parse_histogram(text, &Limits::default());
        assert_eq!(h.histogram.len(), 2);
        assert_eq!((h.total_instances, h.total_bytes), (13, 232));
        assert_eq!(h.histogram[1].class, "char[]");
    }

    #[test]
    fn limits_cap_classes_and_names() {
        let limits = Limits {
            max_classes: 1,
            max_name_len: 3,
        };
        let h = parse_histogram(JDK17, &limits);
        assert_eq!(h.histogram.len(), 1);
        assert_eq!(h.truncated_classes, 5);
        assert_eq!(h.histogram[0].class, "byt");
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            ":",
            "1:",
            "1: x y z",
            "1: 2",
            "1: 2 3",
            "Total",
            "Total x",
            "\u{0}\u{ffff}:1 2 3 é",
            "9999999999999999999999: 1 2 A",
        ] {
            let _ = parse_histogram(text, &Limits::default());
        }
        assert!(
            parse_histogram("1: 2 3", &Limits::default())
                .histogram
                .is_empty()
        );
    }
}
