//! The top-functions report, computed as `go tool pprof -top` computes it: function granularity
//! with inlined frames as their own nodes, cum counted once per sample per node, nodes whose |cum|
//! is below `node_fraction` of the flat total dropped, rows sorted by |flat| then name.

use crate::measure;
use crate::nodes::{FxMap, NodeTable};
use crate::profile::{Profile, SampleType};

/// How to build the report; the defaults are pprof's.
#[derive(Debug, Clone)]
pub struct TopOptions {
    /// Which sample type (see [`Profile::sample_index`]).
    pub sample_index: usize,
    /// Drop nodes whose |cum| is below this fraction of the total (pprof `-nodefraction`, 0.005).
    pub node_fraction: f64,
    /// Edges lighter than this fraction do not count for the `(inline)` marks (`-edgefraction`, 0.001).
    pub edge_fraction: f64,
    /// Keep at most this many rows; 0 keeps all (pprof `-nodecount`).
    pub node_count: usize,
    /// Sort by cum instead of flat (pprof `-cum`).
    pub sort_by_cum: bool,
}

impl TopOptions {
    /// pprof's defaults for `sample_index`.
    pub fn new(sample_index: usize) -> TopOptions {
        TopOptions {
            sample_index,
            node_fraction: 0.005,
            edge_fraction: 0.001,
            node_count: 0,
            sort_by_cum: false,
        }
    }
}

/// Whether a function appears inlined into its callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Inlining {
    /// Only ever a real call.
    NotInlined,
    /// Always inlined (pprof's `(inline)`).
    Inline,
    /// Sometimes inlined (pprof's `(partial-inline)`).
    PartialInline,
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TopRow {
    /// Function name as pprof prints it.
    pub function: String,
    /// Value of samples whose leaf frame is this function.
    pub flat: i64,
    /// Value of samples with this function anywhere on the stack.
    pub cum: i64,
    /// Inlining mark.
    pub inlining: Inlining,
}

/// The report: rows plus what pprof prints in its header.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TopReport {
    /// The sample type reported on.
    pub sample_type: SampleType,
    /// The total (sum of |values|; for a diff, the base's total).
    pub total: i64,
    /// The rows, in report order.
    pub rows: Vec<TopRow>,
    /// Sum of the rows' flat values ("Showing nodes accounting for …").
    pub shown_flat: i64,
    /// Nodes dropped by the node fraction.
    pub dropped_nodes: usize,
    /// The cum threshold printed in "Dropped N nodes (cum <= X)".
    pub dropped_below: i64,
    /// Nodes left after the fraction cut, before `node_count` ("Showing top N nodes out of M").
    pub nodes_before_count_limit: usize,
    /// The unit pprof would print values in (`ms`, `s`, `MB`, `count`…).
    pub output_unit: String,
}

impl TopReport {
    /// A value of this report formatted as pprof prints it (`1.50s`, `512kB`).
    pub fn format_value(&self, value: i64) -> String {
        measure::scaled_label(value, &self.sample_type.unit, &self.output_unit)
    }

    /// The cells of each row exactly as `go tool pprof -top` prints them: flat, flat%, sum%, cum,
    /// cum%, and the name followed by ` (inline)` or ` (partial-inline)` when applicable.
    pub fn row_cells(&self) -> Vec<[String; 6]> {
        let mut flat_sum = 0i64;
        self.rows
            .iter()
            .map(|row| {
                flat_sum = flat_sum.wrapping_add(row.flat);
                let name = match row.inlining {
                    Inlining::NotInlined => row.function.clone(),
                    Inlining::Inline => format!("{} (inline)", row.function),
                    Inlining::PartialInline => format!("{} (partial-inline)", row.function),
                };
                [
                    self.format_value(row.flat),
                    measure::percentage(row.flat, self.total)
                        .trim_start()
                        .to_string(),
                    measure::percentage(flat_sum, self.total)
                        .trim_start()
                        .to_string(),
                    self.format_value(row.cum),
                    measure::percentage(row.cum, self.total)
                        .trim_start()
                        .to_string(),
                    name,
                ]
            })
            .collect()
    }

    /// pprof's summary lines: "Showing nodes accounting for …", "Dropped N nodes (cum <= X)" and
    /// "Showing top N nodes out of M" when they apply.
    pub fn summary_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Showing nodes accounting for {}, {} of {} total",
            self.format_value(self.shown_flat),
            measure::percentage(self.shown_flat, self.total).trim(),
            self.format_value(self.total)
        )];
        if self.total != 0 {
            if self.dropped_nodes > 0 {
                let noun = if self.dropped_nodes > 1 {
                    "nodes"
                } else {
                    "node"
                };
                lines.push(format!(
                    "Dropped {} {noun} (cum <= {})",
                    self.dropped_nodes,
                    self.format_value(self.dropped_below)
                ));
            }
            if !self.rows.is_empty() && self.rows.len() < self.nodes_before_count_limit {
                lines.push(format!(
                    "Showing top {} nodes out of {}",
                    self.rows.len(),
                    self.nodes_before_count_limit
                ));
            }
        }
        lines
    }
}

/// Compute the top-functions report.
pub fn top_functions(profile: &Profile, options: &TopOptions) -> TopReport {
    let p = &profile.proto;
    let idx = options
        .sample_index
        .min(p.sample_type.len().saturating_sub(1));
    let table = NodeTable::new(profile);
    let n_nodes = table.keys.len();
    let mut flat = vec![0i64; n_nodes];
    let mut cum = vec![0i64; n_nodes];
    let mut seen = vec![u32::MAX; n_nodes];

    for (stamp, sample) in p.sample.iter().enumerate() {
        let w = sample.value.get(idx).copied().unwrap_or(0);
        if w == 0 {
            continue;
        }
        let stamp = stamp as u32;
        for &loc in &sample.location_id {
            for &node in table.nodes_of(loc) {
                let slot = &mut seen[node as usize];
                if *slot != stamp {
                    *slot = stamp;
                    cum[node as usize] = cum[node as usize].wrapping_add(w);
                }
            }
        }
        if let Some(&leaf_loc) = sample.location_id.first() {
            if let Some(&leaf) = table.nodes_of(leaf_loc).first() {
                flat[leaf as usize] = flat[leaf as usize].wrapping_add(w);
            }
        }
    }

    let graph: Vec<u32> = (0..n_nodes as u32)
        .filter(|&n| flat[n as usize] != 0 || cum[n as usize] != 0)
        .collect();
    let flat_total: i64 = graph
        .iter()
        .fold(0i64, |acc, &n| acc.wrapping_add(flat[n as usize]));
    let node_cutoff = ((flat_total as f64 * options.node_fraction) as i64).wrapping_abs();
    let edge_cutoff = ((flat_total as f64 * options.edge_fraction) as i64).wrapping_abs();
    let mut kept: Vec<u32> = if node_cutoff > 0 {
        graph
            .iter()
            .copied()
            .filter(|&n| cum[n as usize].wrapping_abs() >= node_cutoff)
            .collect()
    } else {
        graph.clone()
    };
    let dropped_nodes = graph.len() - kept.len();

    let names: Vec<String> = table.keys.iter().map(|k| k.printable()).collect();
    let key_order = |a: u32, b: u32| {
        let (ka, kb) = (&table.keys[a as usize], &table.keys[b as usize]);
        (ka.objfile, ka.start_line).cmp(&(kb.objfile, kb.start_line))
    };
    if options.sort_by_cum {
        kept.sort_unstable_by(|&a, &b| {
            let (a_, b_) = (a as usize, b as usize);
            cum[b_]
                .wrapping_abs()
                .cmp(&cum[a_].wrapping_abs())
                .then_with(|| names[a_].cmp(&names[b_]))
                .then_with(|| flat[b_].wrapping_abs().cmp(&flat[a_].wrapping_abs()))
                .then_with(|| key_order(a, b))
        });
    } else {
        kept.sort_unstable_by(|&a, &b| {
            let (a_, b_) = (a as usize, b as usize);
            flat[b_]
                .wrapping_abs()
                .cmp(&flat[a_].wrapping_abs())
                .then_with(|| names[a_].cmp(&names[b_]))
                .then_with(|| cum[b_].wrapping_abs().cmp(&cum[a_].wrapping_abs()))
                .then_with(|| key_order(a, b))
        });
    }
    let nodes_before_count_limit = kept.len();
    if options.node_count > 0 && kept.len() > options.node_count {
        kept.truncate(options.node_count);
    }

    // pprof rebuilds its graph from the kept nodes only when some were dropped; otherwise the
    // edges still come from every node, including those whose values cancel out (a diff).
    let edge_nodes = if kept.len() == graph.len() {
        EdgeNodes::All
    } else {
        EdgeNodes::Kept(&kept)
    };
    let inlining = inlining_marks(profile, &table, idx, &kept, edge_nodes, edge_cutoff);

    let total = profile.total(idx);
    let mut min_value = 0i64;
    for &n in &kept {
        let mut v = flat[n as usize].wrapping_abs();
        if v == 0 {
            v = cum[n as usize].wrapping_abs();
        }
        if v > 0 && (min_value == 0 || v < min_value) {
            min_value = v;
        }
    }
    let sample_type = profile.sample_types().swap_remove(idx);
    let output_unit = if kept.is_empty() {
        sample_type.unit.clone()
    } else {
        measure::select_output_unit(&sample_type.unit.to_lowercase(), min_value, total)
    };
    let rows: Vec<TopRow> = kept
        .iter()
        .zip(inlining)
        .map(|(&n, inlining)| TopRow {
            function: names[n as usize].clone(),
            flat: flat[n as usize],
            cum: cum[n as usize],
            inlining,
        })
        .collect();
    let shown_flat = rows.iter().fold(0i64, |acc, r| acc.wrapping_add(r.flat));
    TopReport {
        sample_type: SampleType {
            name: sample_type.name,
            unit: sample_type.unit.to_lowercase(),
        },
        total,
        rows,
        shown_flat,
        dropped_nodes,
        dropped_below: ((total as f64 * options.node_fraction) as i64).wrapping_abs(),
        nodes_before_count_limit,
        output_unit,
    }
}

/// The nodes whose frames make call edges.
enum EdgeNodes<'k> {
    /// Every node, even one whose values are zero.
    All,
    /// Only these; a dropped frame between two of them makes a residual edge.
    Kept(&'k [u32]),
}

/// pprof marks a function `(inline)` when every remaining call edge into it is an inlined frame,
/// `(partial-inline)` when some are. Edges are counted among `edge_nodes` and edges lighter than
/// the cutoff are ignored.
fn inlining_marks(
    profile: &Profile,
    table: &NodeTable<'_>,
    idx: usize,
    kept: &[u32],
    edge_nodes: EdgeNodes<'_>,
    edge_cutoff: i64,
) -> Vec<Inlining> {
    let is_kept = match edge_nodes {
        EdgeNodes::All => vec![true; table.keys.len()],
        EdgeNodes::Kept(nodes) => {
            let mut is_kept = vec![false; table.keys.len()];
            for &n in nodes {
                is_kept[n as usize] = true;
            }
            is_kept
        }
    };
    struct Edge {
        weight: i64,
        inline: bool,
        stamp: u32,
    }
    let mut edges: FxMap<(u32, u32), Edge> = FxMap::default();
    for (stamp, sample) in profile.proto.sample.iter().enumerate() {
        let w = sample.value.get(idx).copied().unwrap_or(0);
        if w == 0 {
            continue;
        }
        let stamp = stamp as u32;
        let mut parent: Option<u32> = None;
        for &loc in sample.location_id.iter().rev() {
            let nodes = table.nodes_of(loc);
            for (ni, &n) in nodes.iter().enumerate().rev() {
                if !is_kept[n as usize] {
                    continue;
                }
                if let Some(p) = parent.filter(|&p| p != n) {
                    let inline = ni != nodes.len() - 1;
                    let edge = edges.entry((p, n)).or_insert(Edge {
                        weight: 0,
                        inline: true,
                        stamp: u32::MAX,
                    });
                    if edge.stamp != stamp {
                        edge.stamp = stamp;
                        edge.weight = edge.weight.wrapping_add(w);
                        edge.inline &= inline;
                    }
                }
                parent = Some(n);
            }
        }
    }
    let mut inline_in = vec![false; table.keys.len()];
    let mut call_in = vec![false; table.keys.len()];
    for (&(_, dest), edge) in &edges {
        if edge.weight.wrapping_abs() < edge_cutoff {
            continue;
        }
        if edge.inline {
            inline_in[dest as usize] = true;
        } else {
            call_in[dest as usize] = true;
        }
    }
    kept.iter()
        .map(|&n| match (inline_in[n as usize], call_in[n as usize]) {
            (true, true) => Inlining::PartialInline,
            (true, false) => Inlining::Inline,
            _ => Inlining::NotInlined,
        })
        .collect()
}
