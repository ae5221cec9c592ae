//! Whole stacks: folded stacks (`root;caller;leaf value`, the input of flame-graph renderers), the
//! flame graph SVG itself (rendered by `inferno`) and goroutine profiles grouped by identical stack.

use std::io::Write;

use crate::error::Error;
use crate::nodes::{FxMap, NodeTable};
use crate::profile::{Frame, Profile};

/// Which samples of a diff to fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleSet {
    /// All samples (for a diff, base samples count negatively).
    All,
    /// Only the profile's own samples.
    Profile,
    /// Only the diff base's samples, with their original (positive) values.
    Base,
}

/// One folded stack line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedStack {
    /// Frame names from the root to the leaf joined by `;`.
    pub stack: String,
    /// Summed value of the samples with this stack.
    pub value: i64,
}

/// Frame names in folded output may not contain the separators of the format.
fn folded_frame_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains([';', '\n', '\r']) {
        std::borrow::Cow::Owned(name.replace(';', ":").replace(['\n', '\r'], " "))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Fold the samples of one sample type into stacks (inlined frames included, as pprof's own flame
/// graph shows them), identical stacks summed, sorted by stack text. Zero-valued stacks are left out.
pub fn folded_stacks(profile: &Profile, sample_index: usize, set: SampleSet) -> Vec<FoldedStack> {
    let p = &profile.proto;
    let table = NodeTable::new(profile);
    let names: Vec<String> = table
        .keys
        .iter()
        .map(|k| folded_frame_name(&k.printable()).into_owned())
        .collect();
    let mut sums: FxMap<Vec<u32>, i64> = FxMap::default();
    let mut stack: Vec<u32> = Vec::new();
    for (i, sample) in p.sample.iter().enumerate() {
        let is_base = i >= profile.base_start;
        let w = match (set, is_base) {
            (SampleSet::All, _) => sample.value.get(sample_index).copied().unwrap_or(0),
            (SampleSet::Profile, false) => sample.value.get(sample_index).copied().unwrap_or(0),
            (SampleSet::Base, true) => sample
                .value
                .get(sample_index)
                .copied()
                .unwrap_or(0)
                .wrapping_neg(),
            _ => 0,
        };
        if w == 0 || sample.location_id.is_empty() {
            continue;
        }
        stack.clear();
        for &loc in sample.location_id.iter().rev() {
            stack.extend(table.nodes_of(loc).iter().rev());
        }
        match sums.get_mut(stack.as_slice()) {
            Some(v) => *v = v.wrapping_add(w),
            None => {
                sums.insert(stack.clone(), w);
            }
        }
    }
    let mut out: Vec<FoldedStack> = sums
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .map(|(nodes, value)| {
            let mut text = String::with_capacity(nodes.len() * 24);
            for (i, n) in nodes.iter().enumerate() {
                if i > 0 {
                    text.push(';');
                }
                text.push_str(&names[*n as usize]);
            }
            FoldedStack { stack: text, value }
        })
        .collect();
    out.sort_unstable_by(|a, b| a.stack.cmp(&b.stack));
    out
}

/// Write folded stacks one per line (`a;b;c 42`).
pub fn write_folded(stacks: &[FoldedStack], mut out: impl Write) -> std::io::Result<()> {
    for s in stacks {
        writeln!(out, "{} {}", s.stack, s.value)?;
    }
    Ok(())
}

/// Labels of a flame graph.
#[derive(Debug, Clone)]
pub struct FlameOptions {
    /// Title at the top of the SVG.
    pub title: String,
    /// What the values count (`nanoseconds`, `bytes`, `samples`).
    pub count_name: String,
}

/// Render a flame graph SVG from folded stacks with inferno. Negative values (a diff) are not
/// drawable this way: use [`diff_flame_graph_svg`].
pub fn flame_graph_svg(
    stacks: &[FoldedStack],
    options: &FlameOptions,
    out: impl Write,
) -> Result<(), Error> {
    let lines: Vec<String> = stacks
        .iter()
        .filter(|s| s.value > 0)
        .map(|s| format!("{} {}", s.stack, s.value))
        .collect();
    if lines.is_empty() {
        return Err(Error::Flame(std::io::Error::other(
            "the profile has no positive samples for this sample type: nothing to draw",
        )));
    }
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = options.title.clone();
    opts.count_name = options.count_name.clone();
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(Error::Flame)
}

/// Render a differential flame graph (inferno's red/blue colouring: red grew, blue shrank) from the
/// stacks before (the base) and after (the profile).
pub fn diff_flame_graph_svg(
    before: &[FoldedStack],
    after: &[FoldedStack],
    options: &FlameOptions,
    out: impl Write,
) -> Result<(), Error> {
    let mut before_text = Vec::new();
    let mut after_text = Vec::new();
    write_folded(&positive(before), &mut before_text).map_err(Error::Flame)?;
    write_folded(&positive(after), &mut after_text).map_err(Error::Flame)?;
    let mut merged = Vec::new();
    inferno::differential::from_readers(
        inferno::differential::Options::default(),
        before_text.as_slice(),
        after_text.as_slice(),
        &mut merged,
    )
    .map_err(Error::Flame)?;
    let merged = String::from_utf8_lossy(&merged);
    if merged.trim().is_empty() {
        return Err(Error::Flame(std::io::Error::other(
            "neither profile has samples for this sample type: nothing to draw",
        )));
    }
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = options.title.clone();
    opts.count_name = options.count_name.clone();
    inferno::flamegraph::from_lines(&mut opts, merged.lines(), out).map_err(Error::Flame)
}

fn positive(stacks: &[FoldedStack]) -> Vec<FoldedStack> {
    stacks.iter().filter(|s| s.value > 0).cloned().collect()
}

/// Goroutines (or any samples) sharing one stack.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StackGroup {
    /// Summed value: for a goroutine profile, the number of goroutines.
    pub count: i64,
    /// The stack, leaf first.
    pub frames: Vec<Frame>,
}

/// Group samples by identical stack (function, file and line of every frame, inlined frames
/// included) and sum their values; largest group first. For a goroutine profile a leak shows as one
/// group with thousands of goroutines.
pub fn group_by_stack(profile: &Profile, sample_index: usize) -> Vec<StackGroup> {
    let p = &profile.proto;
    // A frame is (function index + 1, line, location index when there is no function).
    type FrameKey = (u64, i64, u64);
    let mut sums: FxMap<Vec<FrameKey>, (i64, usize)> = FxMap::default();
    let mut key: Vec<FrameKey> = Vec::new();
    for (i, sample) in p.sample.iter().enumerate() {
        let w = sample.value.get(sample_index).copied().unwrap_or(0);
        if w == 0 {
            continue;
        }
        key.clear();
        for &loc in &sample.location_id {
            let location = &p.location[loc as usize];
            if location.line.is_empty() {
                key.push((0, 0, loc));
            }
            for line in &location.line {
                // Frames are identified by function and line; the location index only matters when
                // there is no function to name the frame.
                let tiebreak = if line.function_id == 0 { loc } else { u64::MAX };
                key.push((line.function_id, line.line, tiebreak));
            }
        }
        match sums.get_mut(key.as_slice()) {
            Some((v, _)) => *v = v.wrapping_add(w),
            None => {
                sums.insert(key.clone(), (w, i));
            }
        }
    }
    let mut groups: Vec<StackGroup> = sums
        .into_values()
        .map(|(count, first_sample)| StackGroup {
            count,
            frames: p.sample[first_sample]
                .location_id
                .iter()
                .flat_map(|&loc| profile.location_frames(loc as usize))
                .collect(),
        })
        .collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.frames.cmp(&b.frames)));
    groups
}
