//! `triage analyze PROFILE.pb.gz`: the top-functions table of a Go pprof profile (the numbers
//! `go tool pprof -top` prints), goroutines grouped by stack, folded stacks, flame graphs and diffs.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use pprofile::{FlameOptions, Limits, Profile, SampleSet, TopOptions, TopReport};

/// Flags for pprof profiles (ignored for other inputs).
#[derive(Args, Debug, Default)]
pub struct ProfileFlags {
    /// Profiles: the sample type to report on, by name (`alloc_space`, `inuse_objects`, `delay`…) or
    /// index; default: the profile's default type, else its last one (as `go tool pprof`).
    #[arg(long, value_name = "TYPE", help_heading = "Profiles")]
    pub sample_type: Option<String>,
    /// Profiles: also write a flame graph SVG to FILE (a differential one with --diff-base).
    #[arg(long, value_name = "FILE.svg", help_heading = "Profiles")]
    pub flame: Option<PathBuf>,
    /// Profiles: print folded stacks (`root;…;leaf value`) instead of the table, for other flame-graph
    /// tools; with --diff-base each line carries the base value then the profile's value.
    #[arg(long, help_heading = "Profiles")]
    pub folded: bool,
    /// Profiles: subtract this older profile of the same kind (as `go tool pprof -diff_base OLD`).
    #[arg(long, value_name = "OLD", help_heading = "Profiles")]
    pub diff_base: Option<PathBuf>,
    /// Profiles: show at most N functions (and N goroutine groups); default: every function above
    /// 0.5% of the total, 10 goroutine groups.
    #[arg(long, value_name = "N", help_heading = "Profiles")]
    pub nodecount: Option<usize>,
    /// Profiles: sort by cumulative instead of flat value.
    #[arg(long, help_heading = "Profiles")]
    pub cum: bool,
    /// Profiles: refuse profiles that decompress to more than this many MiB (gzip bombs).
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = 1024,
        help_heading = "Profiles"
    )]
    pub max_profile_mib: u64,
}

fn limits(flags: &ProfileFlags) -> Limits {
    Limits {
        max_decompressed_bytes: flags.max_profile_mib.saturating_mul(1 << 20),
        ..Limits::default()
    }
}

/// Read and validate a profile file (gzip-compressed or not).
pub fn load_profile(path: &Path, limits: &Limits) -> anyhow::Result<Profile> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    pprofile::read_profile(std::io::BufReader::with_capacity(1 << 20, file), limits)
        .with_context(|| format!("{} is not a usable pprof profile", path.display()))
}

pub fn run(path: &Path, json: bool, flags: &ProfileFlags) -> anyhow::Result<u8> {
    let limits = limits(flags);
    let mut profile = load_profile(path, &limits)?;
    if let Some(base_path) = &flags.diff_base {
        let base = load_profile(base_path, &limits)?;
        profile.subtract_base(base).with_context(|| {
            format!(
                "comparing {} with the base {}",
                path.display(),
                base_path.display()
            )
        })?;
    }
    profile
        .prune_dropped_frames()
        .with_context(|| format!("applying the drop_frames of {}", path.display()))?;
    let index = profile.sample_index(flags.sample_type.as_deref())?;
    let sample_type = profile.sample_types().swap_remove(index);
    tracing::info!(samples = profile.sample_count(), sample_type = %sample_type.name, "profile loaded");

    if let Some(svg_path) = &flags.flame {
        write_flame(&profile, index, flags.diff_base.is_some(), svg_path, path)?;
    }

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if flags.folded {
        if flags.diff_base.is_some() {
            write_diff_folded(&profile, index, &mut out)?;
        } else {
            pprofile::write_folded(
                &pprofile::folded_stacks(&profile, index, SampleSet::All),
                &mut out,
            )?;
        }
        out.flush()?;
        return Ok(crate::exit::OK);
    }

    let mut options = TopOptions::new(index);
    options.node_count = flags.nodecount.unwrap_or(0);
    options.sort_by_cum = flags.cum;
    let report = pprofile::top_functions(&profile, &options);
    let group_limit = flags.nodecount.unwrap_or(10);
    let groups = if profile.is_goroutine_profile() && !profile.has_diff_base() {
        pprofile::group_by_stack(&profile, index)
    } else {
        Vec::new()
    };

    if json {
        let doc = serde_json::json!({
            "schema": "triage.profile/v1",
            "path": path.display().to_string(),
            "diff_base": flags.diff_base.as_ref().map(|p| p.display().to_string()),
            "main_binary": profile.main_binary(),
            "time_nanos": profile.time_nanos(),
            "duration_nanos": profile.duration_nanos(),
            "sample_types": profile.sample_types(),
            "sample_type": report.sample_type,
            "total": report.total,
            "shown_flat": report.shown_flat,
            "dropped_nodes": report.dropped_nodes,
            "top": report.rows,
            "goroutine_groups": groups.iter().take(group_limit).collect::<Vec<_>>(),
            "goroutine_group_count": groups.len(),
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(crate::exit::OK);
    }

    for line in header_lines(&profile, &report) {
        writeln!(out, "{line}")?;
    }
    write_top_table(&report, &mut out)?;
    if !groups.is_empty() {
        writeln!(out)?;
        write_goroutine_groups(&groups, group_limit, &mut out)?;
    }
    out.flush()?;
    Ok(crate::exit::OK)
}

/// The lines pprof prints above its table.
pub fn header_lines(profile: &Profile, report: &TopReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(binary) = profile.main_binary() {
        lines.push(format!(
            "File: {}",
            binary.rsplit('/').next().unwrap_or(binary)
        ));
    }
    if let Some(build_id) = profile.build_id() {
        lines.push(format!("Build ID: {build_id}"));
    }
    for comment in profile.comments() {
        if !comment.starts_with('#') {
            lines.push(comment.to_string());
        }
    }
    lines.push(format!("Type: {}", report.sample_type.name));
    if profile.time_nanos() != 0 {
        if let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(profile.time_nanos())) {
            lines.push(format!("Time: {}", ts.strftime("%Y-%m-%d %H:%M:%S UTC")));
        }
    }
    if profile.duration_nanos() != 0 {
        let (total_ns, unit) =
            pprofile::measure::scale(report.total, &report.sample_type.unit, "nanoseconds");
        let ratio = if unit == "ns" && total_ns != 0.0 {
            format!(
                " ({})",
                pprofile::measure::percentage(total_ns as i64, profile.duration_nanos()).trim()
            )
        } else {
            String::new()
        };
        lines.push(format!(
            "Duration: {}, Total samples = {}{ratio}",
            pprofile::measure::label(profile.duration_nanos(), "nanoseconds"),
            report.format_value(report.total)
        ));
    }
    lines.extend(report.summary_lines());
    lines
}

/// The table in `go tool pprof -top`'s layout.
pub fn write_top_table(report: &TopReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>10} {:>5}% {:>5}% {:>10} {:>5}%",
        "flat", "flat", "sum", "cum", "cum"
    )?;
    for [flat, flat_pct, sum_pct, cum, cum_pct, name] in report.row_cells() {
        writeln!(
            out,
            "{flat:>10} {flat_pct:>6} {sum_pct:>6} {cum:>10} {cum_pct:>6}  {name}"
        )?;
    }
    Ok(())
}

fn write_goroutine_groups(
    groups: &[pprofile::StackGroup],
    limit: usize,
    out: &mut impl Write,
) -> std::io::Result<()> {
    let total: i64 = groups.iter().map(|g| g.count).sum();
    writeln!(
        out,
        "Goroutines by stack: {total} goroutines in {} distinct stacks",
        groups.len()
    )?;
    for group in groups.iter().take(limit) {
        writeln!(out)?;
        let noun = if group.count == 1 {
            "goroutine"
        } else {
            "goroutines"
        };
        writeln!(out, "{} {noun}:", group.count)?;
        for frame in &group.frames {
            writeln!(out, "    {}", frame.function)?;
            if !frame.file.is_empty() {
                writeln!(out, "        {}:{}", frame.file, frame.line)?;
            }
        }
    }
    if groups.len() > limit {
        writeln!(
            out,
            "\n… {} more stacks (raise --nodecount to see them)",
            groups.len() - limit
        )?;
    }
    Ok(())
}

fn write_diff_folded(profile: &Profile, index: usize, out: &mut impl Write) -> anyhow::Result<()> {
    let before = pprofile::folded_stacks(profile, index, SampleSet::Base);
    let after = pprofile::folded_stacks(profile, index, SampleSet::Profile);
    let mut merged: std::collections::BTreeMap<&str, (i64, i64)> =
        std::collections::BTreeMap::new();
    for s in &before {
        merged.entry(&s.stack).or_default().0 += s.value;
    }
    for s in &after {
        merged.entry(&s.stack).or_default().1 += s.value;
    }
    for (stack, (old, new)) in merged {
        writeln!(out, "{stack} {old} {new}")?;
    }
    Ok(())
}

fn write_flame(
    profile: &Profile,
    index: usize,
    diff: bool,
    svg_path: &Path,
    source: &Path,
) -> anyhow::Result<()> {
    let sample_type = profile.sample_types().swap_remove(index);
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let options = FlameOptions {
        title: if diff {
            format!(
                "{name}: {} (red grew, blue shrank against the base)",
                sample_type.name
            )
        } else {
            format!("{name}: {}", sample_type.name)
        },
        count_name: sample_type.unit.clone(),
    };
    let file = std::fs::File::create(svg_path)
        .with_context(|| format!("creating {}", svg_path.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    if diff {
        let before = pprofile::folded_stacks(profile, index, SampleSet::Base);
        let after = pprofile::folded_stacks(profile, index, SampleSet::Profile);
        pprofile::diff_flame_graph_svg(&before, &after, &options, &mut writer)
    } else {
        let stacks = pprofile::folded_stacks(profile, index, SampleSet::All);
        pprofile::flame_graph_svg(&stacks, &options, &mut writer)
    }
    .with_context(|| format!("writing the flame graph {}", svg_path.display()))?;
    writer
        .flush()
        .with_context(|| format!("writing {}", svg_path.display()))?;
    eprintln!("triage: flame graph written to {}", svg_path.display());
    Ok(())
}
