//! Optional report sections: a heap analysis (histogram, dominators) and a CPU/memory profile (top
//! functions, folded stacks). Plain rows, so any producer can fill them; `from_json` accepts the
//! JSON of such an analysis with the common field spellings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Extra material for [`report_html`](super::report_html).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportExtras {
    /// Shown in the page title and header (e.g. the bundle's file name).
    pub title: Option<String>,
    /// Integrity and completeness remarks (checksum mismatches, failed collectors, skipped rules).
    pub notes: Vec<String>,
    pub heap: Option<HeapSection>,
    pub profile: Option<ProfileSection>,
    pub limits: ReportLimits,
}

/// How many rows each table shows (the rest are counted, not rendered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReportLimits {
    pub processes: usize,
    pub heap_classes: usize,
    pub dominators: usize,
    pub profile_functions: usize,
    /// Frames narrower than this share of the total are left out of the flame graph.
    pub flame_min_share: f64,
}

impl Default for ReportLimits {
    fn default() -> Self {
        Self {
            processes: 200,
            heap_classes: 500,
            dominators: 200,
            profile_functions: 100,
            flame_min_share: 0.001,
        }
    }
}

/// One row of a class histogram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapClassRow {
    pub class_name: String,
    pub instances: u64,
    pub shallow_bytes: u64,
    /// Retained size of all instances, when dominators were computed.
    pub retained_bytes: Option<u64>,
}

/// One entry of the dominator tree's top (objects that keep the most memory alive).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DominatorRow {
    /// Object description (`java.util.HashMap @ 0x7f3a…`) or class name.
    pub name: String,
    pub class_name: Option<String>,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
}

/// A heap analysis to show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeapSection {
    /// Where it came from (`jvm/4242/heap.hprof`).
    pub title: String,
    pub total_bytes: Option<u64>,
    pub total_objects: Option<u64>,
    /// Largest first (by retained, else shallow size).
    pub histogram: Vec<HeapClassRow>,
    pub dominators: Vec<DominatorRow>,
}

/// One function of a profile top.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileTopRow {
    pub function: String,
    /// Self value, in the section's unit.
    pub flat: f64,
    /// Value including callees.
    pub cum: f64,
}

/// One folded stack (`main;handler;json.Marshal 120`), root first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FoldedStack {
    pub frames: Vec<String>,
    pub value: f64,
}

/// A profile to show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileSection {
    pub title: String,
    /// `cpu`, `alloc_space`, `inuse_space`, …
    pub sample_type: String,
    /// `nanoseconds`, `bytes`, `count`, …
    pub unit: String,
    pub total: f64,
    pub top: Vec<ProfileTopRow>,
    pub stacks: Vec<FoldedStack>,
}

fn str_field<'a>(v: &'a Value, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| v.get(*n).and_then(Value::as_str))
}

fn u64_field(v: &Value, names: &[&str]) -> Option<u64> {
    names.iter().find_map(|n| {
        let x = v.get(*n)?;
        x.as_u64().or_else(|| {
            x.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        })
    })
}

fn f64_field(v: &Value, names: &[&str]) -> Option<f64> {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_f64))
        .filter(|f| f.is_finite())
}

fn array<'a>(v: &'a Value, names: &[&str]) -> &'a [Value] {
    names
        .iter()
        .find_map(|n| v.get(*n).and_then(Value::as_array))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

impl HeapSection {
    /// Read a heap analysis from JSON: `{histogram|classes: [{class_name|class|name, instances|count,
    /// shallow_bytes|shallow_size|bytes, retained_bytes|retained_size|retained}], dominators|top_dominators:
    /// [{name|object|description, class_name|class, shallow_bytes, retained_bytes}], total_bytes,
    /// total_objects|objects}`. `None` when it has neither a histogram nor dominators.
    pub fn from_json(title: &str, v: &Value) -> Option<Self> {
        let histogram: Vec<HeapClassRow> = array(v, &["histogram", "classes", "class_histogram"])
            .iter()
            .filter_map(|row| {
                Some(HeapClassRow {
                    class_name: str_field(row, &["class_name", "class", "name"])?.to_string(),
                    instances: u64_field(row, &["instances", "count", "instance_count", "objects"])
                        .unwrap_or(0),
                    shallow_bytes: u64_field(
                        row,
                        &["shallow_bytes", "shallow_size", "bytes", "size_bytes"],
                    )
                    .unwrap_or(0),
                    retained_bytes: u64_field(
                        row,
                        &["retained_bytes", "retained_size", "retained"],
                    ),
                })
            })
            .collect();
        let dominators: Vec<DominatorRow> = array(v, &["dominators", "top_dominators", "retained"])
            .iter()
            .filter_map(|row| {
                let class_name = str_field(row, &["class_name", "class"]).map(str::to_string);
                let name = str_field(row, &["name", "object", "description", "label"])
                    .map(str::to_string)
                    .or_else(
                        || match (&class_name, str_field(row, &["object_id", "id"])) {
                            (Some(class), Some(id)) => Some(format!("{class} @ {id}")),
                            (class, _) => class.clone(),
                        },
                    )?;
                Some(DominatorRow {
                    name,
                    class_name,
                    shallow_bytes: u64_field(row, &["shallow_bytes", "shallow_size", "shallow"])
                        .unwrap_or(0),
                    retained_bytes: u64_field(
                        row,
                        &["retained_bytes", "retained_size", "retained"],
                    )
                    .unwrap_or(0),
                })
            })
            .collect();
        if histogram.is_empty() && dominators.is_empty() {
            return None;
        }
        // `triage analyze X.hprof --json` (triage.heap/v1) keeps totals under `summary`.
        let summary = v.get("summary").unwrap_or(&Value::Null);
        Some(Self {
            title: title.to_string(),
            total_bytes: u64_field(v, &["total_bytes", "total_shallow_bytes", "heap_bytes"])
                .or_else(|| u64_field(summary, &["heap_bytes", "total_bytes", "reachable_bytes"])),
            total_objects: u64_field(v, &["total_objects", "objects", "total_instances"])
                .or_else(|| u64_field(summary, &["objects", "total_objects"]))
                .or_else(|| hprof_object_count(summary)),
            histogram,
            dominators,
        })
    }
}

impl ProfileSection {
    /// Read a profile analysis from JSON: `{sample_type, unit, total, top|functions: [{function|name,
    /// flat, cum}], folded|stacks: ["a;b;c 12", …] or [{stack|frames, value}]}`. `None` when it
    /// has neither rows nor stacks.
    pub fn from_json(title: &str, v: &Value) -> Option<Self> {
        let top: Vec<ProfileTopRow> = array(v, &["top", "functions"])
            .iter()
            .filter_map(|row| {
                Some(ProfileTopRow {
                    function: str_field(row, &["function", "name"])?.to_string(),
                    flat: f64_field(row, &["flat", "self", "flat_value"]).unwrap_or(0.0),
                    cum: f64_field(row, &["cum", "cumulative", "total", "cum_value"])
                        .unwrap_or(0.0),
                })
            })
            .collect();
        let stacks: Vec<FoldedStack> = array(v, &["folded", "stacks"])
            .iter()
            .filter_map(|s| match s {
                Value::String(line) => parse_folded_line(line),
                Value::Object(_) => {
                    let value = f64_field(s, &["value", "count", "weight"])?;
                    let frames = match s.get("frames").and_then(Value::as_array) {
                        Some(f) => f
                            .iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect(),
                        None => str_field(s, &["stack"])?
                            .split(';')
                            .map(str::to_string)
                            .collect(),
                    };
                    Some(FoldedStack { frames, value })
                }
                _ => None,
            })
            .collect();
        if top.is_empty() && stacks.is_empty() {
            return None;
        }
        let total = f64_field(v, &["total", "total_value"])
            .unwrap_or_else(|| stacks.iter().map(|s| s.value).sum());
        Some(Self {
            title: title.to_string(),
            // `sample_type` is a string, or `{type, unit}` as `triage analyze X.pb.gz --json` writes it.
            sample_type: str_field(v, &["sample_type", "type"])
                .or_else(|| {
                    v.get("sample_type")
                        .and_then(|t| str_field(t, &["type", "name"]))
                })
                .unwrap_or("samples")
                .to_string(),
            unit: str_field(v, &["unit", "sample_unit"])
                .or_else(|| v.get("sample_type").and_then(|t| str_field(t, &["unit"])))
                .unwrap_or("count")
                .to_string(),
            total,
            top,
            stacks,
        })
    }
}

/// Parse one line of folded stacks: `frame;frame;frame 123`.
pub fn parse_folded_line(line: &str) -> Option<FoldedStack> {
    let (stack, value) = line.trim_end().rsplit_once(' ')?;
    let value: f64 = value
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    Some(FoldedStack {
        frames: stack.split(';').map(str::to_string).collect(),
        value,
    })
}

/// Objects in a `triage.heap/v1` summary, which counts instances, object arrays, primitive arrays
/// and class objects separately; `None` unless it has the instance count.
fn hprof_object_count(summary: &Value) -> Option<u64> {
    let instances = u64_field(summary, &["instances"])?;
    let others = ["object_arrays", "primitive_arrays", "classes"]
        .iter()
        .map(|k| u64_field(summary, &[k]).unwrap_or(0))
        .fold(0u64, u64::saturating_add);
    Some(instances.saturating_add(others))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_from_common_spellings() {
        let v: Value = serde_json::from_str(
            r#"{"total_bytes": 1000, "classes": [{"class": "byte[]", "count": 3, "shallow_size": 600, "retained": 600}],
                "top_dominators": [{"object": "java.util.HashMap @ 0x1", "class": "java.util.HashMap", "shallow": 48, "retained_size": 900}]}"#,
        )
        .unwrap();
        let heap = HeapSection::from_json("h", &v).unwrap();
        assert_eq!(heap.histogram[0].class_name, "byte[]");
        assert_eq!(heap.histogram[0].retained_bytes, Some(600));
        assert_eq!(heap.dominators[0].retained_bytes, 900);
        assert!(HeapSection::from_json("h", &serde_json::json!({"x": 1})).is_none());
        // The shape `triage analyze X.hprof --json` prints: objects counted by kind.
        let v = serde_json::json!({"schema": "triage.heap/v1", "summary": {"heap_bytes": 5000,
                "instances": 50, "object_arrays": 5, "primitive_arrays": 15, "classes": 9},
            "histogram": [{"class": "java.lang.String", "instances": 40, "shallow_bytes": 960}],
            "dominators": [{"object_id": "0x7f00", "class": "java.util.HashMap", "shallow_bytes": 48, "retained_bytes": 4000, "retained_percent": 80.0}]});
        let heap = HeapSection::from_json("h", &v).unwrap();
        assert_eq!(
            (heap.total_bytes, heap.total_objects),
            (Some(5000), Some(79))
        );
        assert_eq!(heap.dominators[0].name, "java.util.HashMap @ 0x7f00");
    }

    #[test]
    fn profile_from_folded_lines() {
        let v = serde_json::json!({"unit": "nanoseconds", "folded": ["main;a;b 30", "main;a 10", "garbage"],
                                   "top": [{"function": "b", "flat": 30, "cum": 30}]});
        let p = ProfileSection::from_json("p", &v).unwrap();
        assert_eq!(p.stacks.len(), 2);
        assert_eq!(p.total, 40.0);
        assert_eq!(p.stacks[0].frames, ["main", "a", "b"]);
        let v = serde_json::json!({"schema": "triage.profile/v1", "sample_type": {"type": "cpu", "unit": "nanoseconds"},
            "total": 100, "top": [{"function": "main.work", "flat": 60, "cum": 90, "inlining": "none"}]});
        let p = ProfileSection::from_json("p", &v).unwrap();
        assert_eq!(
            (p.sample_type.as_str(), p.unit.as_str(), p.total),
            ("cpu", "nanoseconds", 100.0)
        );
    }
}
