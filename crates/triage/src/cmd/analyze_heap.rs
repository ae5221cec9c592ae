//! `triage analyze DUMP.hprof[.gz|.zst]`: a Java heap dump's summary, class histogram (sizes as
//! the JVM counts them), biggest retained sizes with their paths from GC roots, threads with their
//! stacks and duplicate strings; `--pprof` writes retained bytes by ownership for `go tool pprof`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use hprof::{GraphOptions, HeapReport, Histogram, HistogramOptions, Layout, ReportOptions};

use crate::output::{human_bytes, table};

/// What to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeapOnly {
    /// Only the shallow class histogram: one streaming pass, no object graph (fastest, least memory).
    Histogram,
}

/// Whether the JVM used compressed oops (4-byte references).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// Flags for heap dumps (ignored for other inputs).
#[derive(Args, Debug, Default)]
pub struct HeapFlags {
    /// Heap dumps: compute only this part (`histogram`: shallow sizes only, no graph, no dominators).
    #[arg(long, value_name = "PART", help_heading = "Heap dumps")]
    pub only: Option<HeapOnly>,
    /// Heap dumps: also write retained bytes by dominator path as a gzipped pprof profile
    /// (browse with `go tool pprof -top FILE` or a flame graph).
    #[arg(long, value_name = "FILE.pb.gz", help_heading = "Heap dumps")]
    pub pprof: Option<PathBuf>,
    /// Heap dumps: rows per table (histogram, dominators, duplicate strings; JSON lists the whole
    /// histogram).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20,
        help_heading = "Heap dumps"
    )]
    pub top: usize,
    /// Heap dumps: override the inferred layout: did the JVM use compressed oops?
    #[arg(long, value_name = "on|off", help_heading = "Heap dumps")]
    pub compressed_oops: Option<OnOff>,
    /// Heap dumps: override the inferred object header size (12 with compressed class pointers,
    /// 16 without, 8 with compact object headers).
    #[arg(long, value_name = "BYTES", value_parser = ["8", "12", "16"], help_heading = "Heap dumps")]
    pub object_header_bytes: Option<String>,
    /// Heap dumps: override the inferred object alignment (-XX:ObjectAlignmentInBytes).
    #[arg(long, value_name = "BYTES", value_parser = ["8", "16", "32", "64"], help_heading = "Heap dumps")]
    pub object_alignment: Option<String>,
    /// Heap dumps: keep the object graph's tables in memory-mapped files in DIR instead of RAM
    /// (for dumps with more objects than memory allows; slower).
    #[arg(long, value_name = "DIR", help_heading = "Heap dumps")]
    pub spill_dir: Option<PathBuf>,
}

impl HeapFlags {
    /// The layout the user forced, if any.
    fn layout_override(&self) -> Option<Layout> {
        if self.compressed_oops.is_none()
            && self.object_header_bytes.is_none()
            && self.object_alignment.is_none()
        {
            return None;
        }
        let mut layout = Layout::COMPRESSED;
        if self.compressed_oops == Some(OnOff::Off) {
            layout.reference_bytes = 8;
        }
        if let Some(h) = self
            .object_header_bytes
            .as_deref()
            .and_then(|h| h.parse().ok())
        {
            layout.object_header_bytes = h;
            layout.array_base_word_aligned = h != 8;
        }
        if let Some(a) = self
            .object_alignment
            .as_deref()
            .and_then(|a| a.parse().ok())
        {
            layout.alignment_bytes = a;
        }
        Some(layout)
    }
}

pub fn run(path: &Path, json: bool, flags: &HeapFlags) -> anyhow::Result<u8> {
    let layout = flags.layout_override();
    if flags.only == Some(HeapOnly::Histogram) {
        if flags.pprof.is_some() {
            anyhow::bail!("--pprof needs the dominator tree; drop --only histogram");
        }
        let started = std::time::Instant::now();
        let histogram = hprof::histogram_of_path(
            path,
            &HistogramOptions {
                layout,
                ..Default::default()
            },
        )
        .with_context(|| format!("reading heap dump {}", path.display()))?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "histogram done"
        );
        return print_histogram_only(path, json, flags, &histogram);
    }

    let started = std::time::Instant::now();
    let options = GraphOptions {
        layout,
        spill_dir: flags.spill_dir.clone(),
        ..Default::default()
    };
    let graph = hprof::load_graph(path, &options, flags.spill_dir.as_deref())
        .with_context(|| format!("reading heap dump {}", path.display()))?;
    tracing::info!(
        objects = graph.node_count(),
        references = graph.edge_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "object graph built"
    );
    let doms = hprof::Dominators::compute(&graph).context("computing dominators")?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "dominators computed"
    );
    let report = hprof::report(
        &graph,
        &doms,
        &ReportOptions {
            top: flags.top,
            ..Default::default()
        },
    )
    .context("building the heap report")?;
    if let Some(out) = &flags.pprof {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        hprof::write_pprof(
            &graph,
            &doms,
            &Default::default(),
            std::io::BufWriter::new(file),
        )
        .with_context(|| format!("writing {}", out.display()))?;
        tracing::info!(path = %out.display(), "pprof profile written");
    }
    if json {
        let doc = serde_json::json!({
            "schema": "triage.heap/v1",
            "path": path.display().to_string(),
            "analysis": "full",
            "summary": report.summary,
            "histogram": report.histogram,
            "retained_by_class": report.retained_by_class,
            "dominators": report.dominators,
            "path_to_root": report.path_to_root,
            "threads": report.threads,
            "duplicate_strings": report.duplicate_strings,
            "warnings": report.warnings,
        });
        write_json(&doc)?;
    } else {
        print_report(path, flags, &report)?;
    }
    Ok(0)
}

fn write_json(doc: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, doc).context("writing JSON")?;
    writeln!(out).context("writing JSON")?;
    Ok(())
}

fn print_histogram_only(
    path: &Path,
    json: bool,
    flags: &HeapFlags,
    h: &Histogram,
) -> anyhow::Result<u8> {
    let label = path.display().to_string();
    if json {
        write_json(&histogram_doc(&label, h))?;
    } else {
        print!("{}", histogram_text(&label, flags.top, h));
    }
    Ok(0)
}

/// The histogram-only analysis as JSON (schema `triage.heap/v1`, no dominators).
pub fn histogram_doc(label: &str, h: &Histogram) -> serde_json::Value {
    serde_json::json!({
        "schema": "triage.heap/v1",
        "path": label,
        "analysis": "histogram",
        "summary": {
            "format": h.parse.header.format,
            "id_size": h.parse.header.id_size,
            "timestamp_ms": h.parse.header.timestamp_ms,
            "dump_bytes": h.parse.bytes,
            "records": h.parse.records,
            "heap_records": h.parse.heap_records,
            "classes": h.classes,
            "objects": h.total_instances,
            "gc_roots": h.gc_roots,
            "heap_bytes": h.total_shallow_bytes,
            "layout": h.layout,
            "layout_description": h.layout.layout.describe(),
            "truncated": h.parse.truncated,
        },
        "histogram": h.entries,
        "dominators": [],
        "path_to_root": [],
        "warnings": h.parse.warnings.kept.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    })
}

/// The histogram-only analysis as terminal text, `top` classes.
pub fn histogram_text(label: &str, top: usize, h: &Histogram) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Heap dump {} ({}, {}-byte ids, {})\n",
        label,
        h.parse.header.format,
        h.parse.header.id_size,
        human_bytes(h.parse.bytes)
    ));
    out.push_str(&layout_line(&h.layout));
    out.push_str(&format!(
        "Objects: {} in {} classes, {} shallow; GC roots: {}\n",
        h.total_instances,
        h.classes,
        human_bytes(h.total_shallow_bytes),
        roots_line(&h.gc_roots)
    ));
    out.push('\n');
    out.push_str(&format!(
        "Class histogram (top {} of {} classes, by shallow size)\n",
        top.min(h.entries.len()),
        h.entries.len()
    ));
    let rows: Vec<Vec<String>> = h
        .entries
        .iter()
        .take(top)
        .map(|e| {
            vec![
                e.instances.to_string(),
                e.shallow_bytes.to_string(),
                human_bytes(e.shallow_bytes),
                e.class.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["INSTANCES", "BYTES", "SHALLOW", "CLASS"], &rows));
    warnings_section(
        &mut out,
        &h.parse
            .warnings
            .kept
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>(),
    );
    out
}

fn layout_line(l: &hprof::LayoutChoice) -> String {
    let source = match l.source {
        hprof::LayoutSource::Inferred => format!(
            "inferred: {} of {} address gaps agree",
            l.matched_gaps, l.sampled_gaps
        ),
        hprof::LayoutSource::Override => "given on the command line".into(),
        hprof::LayoutSource::Default => {
            "assumed (the dump's addresses do not tell; override with --compressed-oops)".into()
        }
    };
    format!("Object layout: {} ({source})\n", l.layout.describe())
}

fn roots_line(r: &hprof::RootCounts) -> String {
    let kinds: Vec<String> = r.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{} ({})", r.total, kinds.join(", "))
}

fn warnings_section(out: &mut String, warnings: &[String]) {
    if warnings.is_empty() {
        return;
    }
    out.push_str("\nWarnings\n");
    for w in warnings {
        out.push_str(&format!("  {w}\n"));
    }
}

fn print_report(path: &Path, flags: &HeapFlags, r: &HeapReport) -> anyhow::Result<()> {
    let s = &r.summary;
    let mut out = String::new();
    out.push_str(&format!(
        "Heap dump {} ({}, {}-byte ids, {})\n",
        path.display(),
        s.format,
        s.id_size,
        human_bytes(s.dump_bytes)
    ));
    out.push_str(&layout_line(&s.layout));
    out.push_str(&format!(
        "Objects: {} instances, {} object arrays, {} primitive arrays, {} classes; {} references\n",
        s.instances, s.object_arrays, s.primitive_arrays, s.classes, s.references
    ));
    out.push_str(&format!("GC roots: {}\n", roots_line(&s.gc_roots)));
    out.push_str(&format!(
        "Heap: {} shallow, {} reachable from GC roots, {} in {} unreachable objects\n",
        human_bytes(s.heap_bytes),
        human_bytes(s.reachable_bytes),
        human_bytes(s.unreachable_bytes),
        s.unreachable_objects
    ));
    let records: Vec<String> = s.records.iter().map(|(k, n)| format!("{k} {n}")).collect();
    out.push_str(&format!("Records: {}\n", records.join(", ")));
    if s.truncated {
        out.push_str(
            "The dump is truncated: everything below covers only the part that was read.\n",
        );
    }

    let retained: std::collections::HashMap<&str, u64> = r
        .retained_by_class
        .iter()
        .map(|c| (c.class.as_str(), c.retained_bytes))
        .collect();
    out.push_str(&format!(
        "\nClass histogram (top {} of {} classes, by shallow size)\n",
        flags.top.min(r.histogram.len()),
        r.histogram.len()
    ));
    let rows: Vec<Vec<String>> = r
        .histogram
        .iter()
        .take(flags.top)
        .map(|e| {
            vec![
                e.instances.to_string(),
                e.shallow_bytes.to_string(),
                human_bytes(e.shallow_bytes),
                retained
                    .get(e.class.as_str())
                    .map(|&b| human_bytes(b))
                    .unwrap_or_else(|| "-".into()),
                e.class.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["INSTANCES", "BYTES", "SHALLOW", "RETAINED", "CLASS"],
        &rows,
    ));

    out.push_str("\nLargest retained sizes (dominators)\n");
    let rows: Vec<Vec<String>> = r
        .dominators
        .iter()
        .map(|d| {
            vec![
                human_bytes(d.retained_bytes),
                format!("{:.1}%", d.retained_percent),
                human_bytes(d.shallow_bytes),
                d.object_id.clone(),
                d.class.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["RETAINED", "HEAP", "SHALLOW", "OBJECT", "CLASS"],
        &rows,
    ));

    if !r.path_to_root.is_empty() {
        out.push_str("\nShortest paths from a GC root\n");
        for p in &r.path_to_root {
            out.push_str(&format!(
                "  {} {} retains {}\n",
                p.class,
                p.object_id,
                human_bytes(p.retained_bytes)
            ));
            for (i, step) in p.path.iter().enumerate() {
                let how = match (&step.root_kind, &step.via) {
                    (Some(kind), _) => format!("GC root ({kind})"),
                    (None, Some(via)) => format!("via {via}"),
                    (None, None) => "via ?".into(),
                };
                out.push_str(&format!(
                    "    {}{} {} [{how}]\n",
                    "  ".repeat(i.min(20)),
                    step.class,
                    step.object_id
                ));
            }
        }
    }

    if !r.threads.is_empty() {
        out.push_str(&format!("\nThreads ({})\n", r.threads.len()));
        for t in &r.threads {
            out.push_str(&format!(
                "  \"{}\" {} retains {}, {} local references\n",
                t.name,
                t.object_id,
                human_bytes(t.retained_bytes),
                t.locals
            ));
            for f in &t.frames {
                out.push_str(&format!("      at {f}\n"));
            }
        }
    }

    if !r.duplicate_strings.is_empty() {
        out.push_str("\nDuplicate strings (by wasted bytes)\n");
        let rows: Vec<Vec<String>> = r
            .duplicate_strings
            .iter()
            .map(|d| {
                let mut preview: String = d
                    .preview
                    .chars()
                    .take(60)
                    .collect::<String>()
                    .escape_debug()
                    .to_string();
                if d.length > 60 {
                    preview.push('…');
                }
                vec![
                    human_bytes(d.wasted_bytes),
                    d.count.to_string(),
                    d.length.to_string(),
                    format!("\"{preview}\""),
                ]
            })
            .collect();
        out.push_str(&table(&["WASTED", "COPIES", "LENGTH", "STRING"], &rows));
    }
    warnings_section(&mut out, &r.warnings);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .context("writing the report")?;
    Ok(())
}
