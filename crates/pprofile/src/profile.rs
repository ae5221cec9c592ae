//! The validated profile: every id resolved to a dense index, every string index checked.

use std::collections::HashMap;

use crate::decode::{
    self, FIELD_FUNCTION, FIELD_LOCATION, FIELD_MAPPING, FIELD_SAMPLE, FIELD_SAMPLE_TYPE,
    element_offset,
};
use crate::error::Error;
use crate::proto;

/// Id → dense index.
pub(crate) enum IdIndex {
    Dense(Vec<u32>),
    Sparse(HashMap<u64, u32>),
}

impl IdIndex {
    fn get(&self, id: u64) -> Option<u32> {
        match self {
            IdIndex::Dense(table) => table
                .get(usize::try_from(id).ok()?)
                .copied()
                .filter(|&i| i != u32::MAX),
            IdIndex::Sparse(map) => map.get(&id).copied(),
        }
    }
}

/// A sample type or period type, e.g. `cpu`/`nanoseconds` or `inuse_space`/`bytes`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SampleType {
    /// What is counted (`samples`, `cpu`, `alloc_space`, `goroutine`, `contentions`, `delay`…).
    #[serde(rename = "type")]
    pub name: String,
    /// Its unit (`count`, `nanoseconds`, `bytes`).
    pub unit: String,
}

/// A decoded and validated `profile.proto`.
///
/// Internally the wire structs are kept, with ids rewritten to indices: a sample's `location_id`
/// holds location indices, a line's `function_id` holds function index + 1 (0 = no function) and a
/// location's `mapping_id` holds mapping index + 1 (0 = no mapping).
#[derive(Debug, Clone)]
pub struct Profile {
    pub(crate) proto: proto::Profile,
    pub(crate) strings: Vec<String>,
    /// Samples from this index on come from a diff base (their values are negated).
    pub(crate) base_start: usize,
}

/// A frame of a stack, leaf-most inlined frame first within a location.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Frame {
    /// Function name (`<unknown>` or `[binary]` when the profile has none).
    pub function: String,
    /// Source file, empty when unknown.
    pub file: String,
    /// Source line, 0 when unknown.
    pub line: i64,
}

impl Profile {
    pub(crate) fn validate(
        mut p: proto::Profile,
        strings: Vec<String>,
        buf: &[u8],
    ) -> Result<Profile, Error> {
        if strings.is_empty() {
            return Err(Error::EmptyStringTable);
        }
        if !strings[0].is_empty() {
            return Err(Error::StringTableFirstNotEmpty {
                offset: element_offset(buf, decode::FIELD_STRING, 0),
                first: strings[0].chars().take(80).collect(),
            });
        }
        let n_strings = strings.len();
        let check = |index: i64, what: &dyn Fn() -> (String, u32, usize)| -> Result<(), Error> {
            if index < 0 || index as u64 >= n_strings as u64 {
                let (what, field, nth) = what();
                let offset = if field == 0 {
                    0
                } else {
                    element_offset(buf, field, nth)
                };
                return Err(Error::StringIndexOutOfRange {
                    what,
                    offset,
                    index,
                    table_len: n_strings,
                });
            }
            Ok(())
        };
        if p.sample_type.is_empty() {
            return Err(Error::NoSampleTypes);
        }
        for (i, st) in p.sample_type.iter().enumerate() {
            check(st.r#type, &|| {
                (format!("sample_type #{i} type"), FIELD_SAMPLE_TYPE, i)
            })?;
            check(st.unit, &|| {
                (format!("sample_type #{i} unit"), FIELD_SAMPLE_TYPE, i)
            })?;
        }
        if let Some(pt) = &p.period_type {
            check(pt.r#type, &|| ("period_type type".into(), 0, 0))?;
            check(pt.unit, &|| ("period_type unit".into(), 0, 0))?;
        }
        check(p.drop_frames, &|| ("drop_frames".into(), 0, 0))?;
        check(p.keep_frames, &|| ("keep_frames".into(), 0, 0))?;
        check(p.default_sample_type, &|| {
            ("default_sample_type".into(), 0, 0)
        })?;
        for (i, &c) in p.comment.iter().enumerate() {
            check(c, &|| (format!("comment #{i}"), 0, 0))?;
        }
        for (i, m) in p.mapping.iter().enumerate() {
            check(m.filename, &|| {
                (
                    format!("mapping #{i} (id {}) filename", m.id),
                    FIELD_MAPPING,
                    i,
                )
            })?;
            check(m.build_id, &|| {
                (
                    format!("mapping #{i} (id {}) build_id", m.id),
                    FIELD_MAPPING,
                    i,
                )
            })?;
        }
        for (i, f) in p.function.iter().enumerate() {
            check(f.name, &|| {
                (
                    format!("function #{i} (id {}) name", f.id),
                    FIELD_FUNCTION,
                    i,
                )
            })?;
            check(f.system_name, &|| {
                (
                    format!("function #{i} (id {}) system_name", f.id),
                    FIELD_FUNCTION,
                    i,
                )
            })?;
            check(f.filename, &|| {
                (
                    format!("function #{i} (id {}) filename", f.id),
                    FIELD_FUNCTION,
                    i,
                )
            })?;
        }

        let mapping_index = decode::build_id_index(
            p.mapping.iter().map(|m| m.id),
            "mapping",
            FIELD_MAPPING,
            buf,
        )?;
        let function_index = decode::build_id_index(
            p.function.iter().map(|f| f.id),
            "function",
            FIELD_FUNCTION,
            buf,
        )?;
        let location_index = decode::build_id_index(
            p.location.iter().map(|l| l.id),
            "location",
            FIELD_LOCATION,
            buf,
        )?;

        for (i, loc) in p.location.iter_mut().enumerate() {
            if loc.mapping_id != 0 {
                let Some(m) = mapping_index.get(loc.mapping_id) else {
                    return Err(Error::UnknownId {
                        what: format!("location #{i} (id {})", loc.id),
                        offset: element_offset(buf, FIELD_LOCATION, i),
                        kind: "mapping",
                        id: loc.mapping_id,
                    });
                };
                loc.mapping_id = u64::from(m) + 1;
            }
            for line in &mut loc.line {
                if line.function_id != 0 {
                    let Some(f) = function_index.get(line.function_id) else {
                        return Err(Error::UnknownId {
                            what: format!("location #{i} (id {}) line", loc.id),
                            offset: element_offset(buf, FIELD_LOCATION, i),
                            kind: "function",
                            id: line.function_id,
                        });
                    };
                    line.function_id = u64::from(f) + 1;
                }
            }
        }
        let want_values = p.sample_type.len();
        for (i, s) in p.sample.iter_mut().enumerate() {
            if s.value.len() != want_values {
                return Err(Error::ValueCount {
                    index: i,
                    offset: element_offset(buf, FIELD_SAMPLE, i),
                    got: s.value.len(),
                    want: want_values,
                });
            }
            for id in &mut s.location_id {
                let Some(l) = location_index.get(*id) else {
                    return Err(Error::UnknownId {
                        what: format!("sample #{i}"),
                        offset: element_offset(buf, FIELD_SAMPLE, i),
                        kind: "location",
                        id: *id,
                    });
                };
                *id = u64::from(l);
            }
            for label in &s.label {
                check(label.key, &|| {
                    (format!("sample #{i} label key"), FIELD_SAMPLE, i)
                })?;
                check(label.str, &|| {
                    (format!("sample #{i} label value"), FIELD_SAMPLE, i)
                })?;
                check(label.num_unit, &|| {
                    (format!("sample #{i} label unit"), FIELD_SAMPLE, i)
                })?;
            }
        }
        let base_start = p.sample.len();
        Ok(Profile {
            proto: p,
            strings,
            base_start,
        })
    }

    pub(crate) fn str(&self, index: i64) -> &str {
        // Every index was checked by `validate`.
        &self.strings[index as usize]
    }

    /// The sample types, in the order of each sample's values.
    pub fn sample_types(&self) -> Vec<SampleType> {
        self.proto
            .sample_type
            .iter()
            .map(|st| SampleType {
                name: self.str(st.r#type).to_string(),
                unit: self.str(st.unit).to_string(),
            })
            .collect()
    }

    /// The sample type the profile asks to show by default (e.g. `inuse_space` for heap profiles).
    pub fn default_sample_type(&self) -> Option<&str> {
        Some(self.str(self.proto.default_sample_type)).filter(|s| !s.is_empty())
    }

    /// The index of the sample type to report on, chosen as `go tool pprof -sample_index` does:
    /// `None` means the default sample type, else the last one; a number is an index; a name may omit
    /// an `inuse_` prefix.
    pub fn sample_index(&self, wanted: Option<&str>) -> Result<usize, Error> {
        let types = self.sample_types();
        let Some(wanted) = wanted.filter(|w| !w.is_empty()) else {
            if let Some(default) = self.default_sample_type() {
                if let Some(i) = types.iter().position(|t| t.name == default) {
                    return Ok(i);
                }
            }
            return Ok(types.len() - 1);
        };
        if let Ok(i) = wanted.parse::<usize>() {
            if i < types.len() {
                return Ok(i);
            }
        }
        let no_inuse = wanted.strip_prefix("inuse_").unwrap_or(wanted);
        types
            .iter()
            .position(|t| t.name == wanted || t.name == no_inuse)
            .ok_or_else(|| Error::UnknownSampleType {
                asked: wanted.to_string(),
                available: types.iter().map(|t| t.name.clone()).collect(),
            })
    }

    /// Number of samples (including those of a diff base).
    pub fn sample_count(&self) -> usize {
        self.proto.sample.len()
    }

    /// Number of locations.
    pub fn location_count(&self) -> usize {
        self.proto.location.len()
    }

    /// Number of functions.
    pub fn function_count(&self) -> usize {
        self.proto.function.len()
    }

    /// When the profile was taken, in nanoseconds since the Unix epoch (0 when unknown).
    pub fn time_nanos(&self) -> i64 {
        self.proto.time_nanos
    }

    /// How long the profile covers, in nanoseconds (0 when not a timed profile).
    pub fn duration_nanos(&self) -> i64 {
        self.proto.duration_nanos
    }

    /// The sampling period and its type (e.g. 10000000 `cpu`/`nanoseconds`).
    pub fn period(&self) -> (i64, Option<SampleType>) {
        let ty = self.proto.period_type.map(|pt| SampleType {
            name: self.str(pt.r#type).to_string(),
            unit: self.str(pt.unit).to_string(),
        });
        (self.proto.period, ty)
    }

    /// Free-form comments.
    pub fn comments(&self) -> Vec<&str> {
        self.proto.comment.iter().map(|&c| self.str(c)).collect()
    }

    /// The main binary's path (first mapping), when known.
    pub fn main_binary(&self) -> Option<&str> {
        self.proto
            .mapping
            .first()
            .map(|m| self.str(m.filename))
            .filter(|s| !s.is_empty())
    }

    /// The main binary's build id, when known.
    pub fn build_id(&self) -> Option<&str> {
        self.proto
            .mapping
            .first()
            .map(|m| self.str(m.build_id))
            .filter(|s| !s.is_empty())
    }

    /// True for a goroutine profile (one sample type, `goroutine`/`count`).
    pub fn is_goroutine_profile(&self) -> bool {
        let types = self.sample_types();
        types.len() == 1 && types[0].name == "goroutine"
    }

    /// True when a diff base was subtracted.
    pub fn has_diff_base(&self) -> bool {
        self.base_start < self.proto.sample.len()
    }

    /// The total `go tool pprof` reports: the sum of absolute values of the sample type, or for a
    /// diff the sum over the base samples only.
    pub fn total(&self, sample_index: usize) -> i64 {
        let mut total: i64 = 0;
        let mut base_total: i64 = 0;
        for (i, s) in self.proto.sample.iter().enumerate() {
            let v = s
                .value
                .get(sample_index)
                .copied()
                .unwrap_or(0)
                .wrapping_abs();
            total = total.wrapping_add(v);
            if i >= self.base_start {
                base_total = base_total.wrapping_add(v);
            }
        }
        if base_total > 0 { base_total } else { total }
    }

    /// The frames of a location, leaf-most (inlined) first, as `(function index + 1, line)`.
    pub(crate) fn function_name(&self, function_plus_one: u64) -> &str {
        let f = &self.proto.function[(function_plus_one - 1) as usize];
        self.str(f.name)
    }

    /// Resolve one location into its frames, leaf-most inlined frame first.
    pub(crate) fn location_frames(&self, location_index: usize) -> Vec<Frame> {
        let loc = &self.proto.location[location_index];
        if loc.line.is_empty() {
            return vec![Frame {
                function: self.unnamed(loc),
                file: String::new(),
                line: 0,
            }];
        }
        loc.line
            .iter()
            .map(|line| {
                if line.function_id == 0 {
                    return Frame {
                        function: self.unnamed(loc),
                        file: String::new(),
                        line: line.line,
                    };
                }
                let f = &self.proto.function[(line.function_id - 1) as usize];
                let name = self.str(f.name);
                Frame {
                    function: if name.is_empty() {
                        self.unnamed(loc)
                    } else {
                        name.to_string()
                    },
                    file: self.str(f.filename).to_string(),
                    line: line.line,
                }
            })
            .collect()
    }

    /// What pprof prints for a frame without a function name: `[binary]` or `<unknown>`.
    pub(crate) fn unnamed(&self, loc: &proto::Location) -> String {
        let objfile = self.mapping_file(loc);
        if objfile.is_empty() {
            "<unknown>".to_string()
        } else {
            format!("[{}]", objfile.rsplit('/').next().unwrap_or(objfile))
        }
    }

    pub(crate) fn mapping_file(&self, loc: &proto::Location) -> &str {
        if loc.mapping_id == 0 {
            return "";
        }
        self.str(self.proto.mapping[(loc.mapping_id - 1) as usize].filename)
    }

    /// Subtract `base` from this profile, as `go tool pprof -diff_base BASE` does: base samples are
    /// added with negated values and the reported total becomes the base's total.
    pub fn subtract_base(&mut self, base: Profile) -> Result<(), Error> {
        let mine = self.sample_types();
        let theirs = base.sample_types();
        if mine.len() != theirs.len() {
            return Err(Error::IncompatibleBase(format!(
                "it has {} sample types and the profile has {}",
                theirs.len(),
                mine.len()
            )));
        }
        for (a, b) in mine.iter().zip(&theirs) {
            if a.name.trim_end_matches('s') != b.name.trim_end_matches('s') || a.unit != b.unit {
                return Err(Error::IncompatibleBase(format!(
                    "sample type {}/{} in the base, {}/{} in the profile",
                    b.name, b.unit, a.name, a.unit
                )));
            }
        }
        if self.has_diff_base() {
            return Err(Error::IncompatibleBase(
                "the profile already has a base subtracted".into(),
            ));
        }
        let string_offset = self.strings.len() as i64;
        let function_offset = self.proto.function.len() as u64;
        let mapping_offset = self.proto.mapping.len() as u64;
        let location_offset = self.proto.location.len() as u64;
        let Profile {
            proto: b, strings, ..
        } = base;
        self.strings.extend(strings);
        self.proto
            .function
            .extend(b.function.into_iter().map(|mut f| {
                f.name += string_offset;
                f.system_name += string_offset;
                f.filename += string_offset;
                f
            }));
        self.proto
            .mapping
            .extend(b.mapping.into_iter().map(|mut m| {
                m.filename += string_offset;
                m.build_id += string_offset;
                m
            }));
        self.proto
            .location
            .extend(b.location.into_iter().map(|mut l| {
                if l.mapping_id != 0 {
                    l.mapping_id += mapping_offset;
                }
                for line in &mut l.line {
                    if line.function_id != 0 {
                        line.function_id += function_offset;
                    }
                }
                l
            }));
        self.base_start = self.proto.sample.len();
        self.proto.sample.extend(b.sample.into_iter().map(|mut s| {
            for id in &mut s.location_id {
                *id += location_offset;
            }
            for v in &mut s.value {
                *v = v.wrapping_neg();
            }
            for label in &mut s.label {
                label.key += string_offset;
                label.str += string_offset;
                label.num_unit += string_offset;
            }
            s
        }));
        Ok(())
    }

    /// Apply the profile's own `drop_frames`/`keep_frames` (as `go tool pprof` does on load): frames
    /// from the root down to the last frame matching `drop_frames` (and not `keep_frames`) are removed.
    pub fn prune_dropped_frames(&mut self) -> Result<(), Error> {
        let drop = self.str(self.proto.drop_frames).to_string();
        if drop.is_empty() {
            return Ok(());
        }
        let compile = |field: &'static str, pattern: &str| {
            regex::RegexBuilder::new(&format!("^({pattern})$"))
                .size_limit(1 << 20)
                .build()
                .map_err(|source| Error::FrameRegex {
                    field,
                    source: Box::new(source),
                })
        };
        let drop_rx = compile("drop_frames", &drop)?;
        let keep = self.str(self.proto.keep_frames).to_string();
        let keep_rx = if keep.is_empty() {
            None
        } else {
            Some(compile("keep_frames", &keep)?)
        };

        let mut prune = vec![false; self.proto.location.len()];
        let mut prune_beneath = vec![false; self.proto.location.len()];
        for li in 0..self.proto.location.len() {
            let mut hit = None;
            for (i, line) in self.proto.location[li].line.iter().enumerate().rev() {
                if line.function_id == 0 {
                    continue;
                }
                let name = self.function_name(line.function_id);
                if name.is_empty() {
                    continue;
                }
                let simple = simplify_function_name(name);
                if drop_rx.is_match(simple) && !keep_rx.as_ref().is_some_and(|k| k.is_match(simple))
                {
                    hit = Some(i);
                    break;
                }
            }
            if let Some(i) = hit {
                prune_beneath[li] = true;
                let lines = &mut self.proto.location[li].line;
                if i == lines.len() - 1 {
                    prune[li] = true;
                } else {
                    lines.drain(..=i);
                }
            }
        }
        for sample in &mut self.proto.sample {
            let mut found_user = false;
            for i in (0..sample.location_id.len()).rev() {
                let id = sample.location_id[i] as usize;
                if !prune[id] && !prune_beneath[id] {
                    found_user = true;
                    continue;
                }
                if !found_user {
                    continue;
                }
                if prune[id] {
                    sample.location_id.drain(..=i);
                    break;
                }
                if prune_beneath[id] {
                    sample.location_id.drain(..i);
                    break;
                }
            }
        }
        Ok(())
    }
}

/// pprof's `simplifyFunc`: drop a leading `.` and any argument list, keeping the parentheses of
/// `(anonymous namespace)` and `operator()`.
fn simplify_function_name(name: &str) -> &str {
    let name = name.strip_prefix('.').unwrap_or(name);
    const RESERVED: [&str; 2] = ["(anonymous namespace)", "operator()"];
    let bytes = name.as_bytes();
    let mut i = 0;
    'scan: while i < bytes.len() {
        for reserved in RESERVED {
            if bytes[i..].starts_with(reserved.as_bytes()) {
                i += reserved.len();
                continue 'scan;
            }
        }
        if bytes[i] == b'(' {
            return &name[..i];
        }
        i += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_keeps_reserved_parentheses() {
        assert_eq!(simplify_function_name("main.work"), "main.work");
        assert_eq!(simplify_function_name(".foo(int)"), "foo");
        assert_eq!(
            simplify_function_name("(anonymous namespace)::f(int)"),
            "(anonymous namespace)::f"
        );
        assert_eq!(
            simplify_function_name("Foo::operator()(int)"),
            "Foo::operator()"
        );
    }
}
