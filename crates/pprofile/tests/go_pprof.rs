//! Profiles captured from a live Go service (tests/goapp) compared with the real `go tool pprof`:
//! every row of `-top` (function, flat, flat%, sum%, cum, cum%, inline mark) for every sample type of
//! every profile kind, `-diff_base`, `-nodecount`; plus goroutine grouping, folded stacks and flame
//! graphs on the same captures.

mod common;

use std::path::Path;
use std::process::Command;

use common::goapp::{GoApp, go_program};
use pprofile::{Limits, Profile, SampleSet, TopOptions, top_functions};

/// What `go tool pprof -top` printed: its summary lines and its rows as six cells.
#[derive(Debug)]
struct PprofTop {
    summary: Vec<String>,
    rows: Vec<[String; 6]>,
}

fn go_pprof_top(go: &Path, args: &[&str], files: &[&Path]) -> PprofTop {
    let output = Command::new(go)
        .args(["tool", "pprof", "-top"])
        .args(args)
        .args(files)
        .env("PPROF_TMPDIR", std::env::temp_dir())
        .output()
        .expect("running go tool pprof");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "go tool pprof failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut summary = Vec::new();
    let mut rows = Vec::new();
    let mut in_rows = false;
    for line in stdout.lines() {
        if !in_rows {
            if line.split_whitespace().collect::<Vec<_>>()
                == ["flat", "flat%", "sum%", "cum", "cum%"]
            {
                in_rows = true;
            } else if line.starts_with("Showing ") || line.starts_with("Dropped ") {
                summary.push(line.to_string());
            }
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        assert!(tokens.len() >= 6, "unexpected pprof row {line:?}");
        rows.push([
            tokens[0].to_string(),
            tokens[1].to_string(),
            tokens[2].to_string(),
            tokens[3].to_string(),
            tokens[4].to_string(),
            tokens[5..].join(" "),
        ]);
    }
    assert!(in_rows, "no table in go tool pprof output:\n{stdout}");
    PprofTop { summary, rows }
}

fn load(path: &Path) -> Profile {
    let bytes = std::fs::read(path).expect("reading a captured profile");
    let mut p = pprofile::parse_profile(&bytes, &Limits::default()).expect("a Go profile parses");
    p.prune_dropped_frames()
        .expect("no drop_frames regex in Go profiles");
    p
}

fn assert_same_top(ours: &pprofile::TopReport, theirs: &PprofTop, what: &str) {
    let cells = ours.row_cells();
    assert_eq!(
        cells.len(),
        theirs.rows.len(),
        "{what}: row count differs\nours: {cells:#?}\npprof: {:#?}",
        theirs.rows
    );
    for (i, (a, b)) in cells.iter().zip(&theirs.rows).enumerate() {
        assert_eq!(a, b, "{what}: row {i} differs (ours, then go tool pprof)");
    }
    assert_eq!(
        ours.summary_lines(),
        theirs.summary,
        "{what}: summary lines differ"
    );
}

fn capture(app: &GoApp, dir: &Path, name: &str, path: &str) -> std::path::PathBuf {
    let file = dir.join(format!("{name}.pb.gz"));
    std::fs::write(&file, app.get(path)).expect("writing a capture");
    file
}

#[test]
fn top_matches_go_tool_pprof_for_every_profile_kind_and_sample_type() {
    const TEST: &str = "top_matches_go_tool_pprof_for_every_profile_kind_and_sample_type";
    let Some(go) = go_program(TEST) else { return };
    let Some(app) = GoApp::start(TEST, 1000) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Let the service run a moment so the block and mutex profiles have contention in them.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let files = [
        capture(&app, dir.path(), "cpu", "/debug/pprof/profile?seconds=3"),
        capture(&app, dir.path(), "heap", "/debug/pprof/heap"),
        capture(&app, dir.path(), "allocs", "/debug/pprof/allocs"),
        capture(&app, dir.path(), "goroutine", "/debug/pprof/goroutine"),
        capture(&app, dir.path(), "block", "/debug/pprof/block"),
        capture(&app, dir.path(), "mutex", "/debug/pprof/mutex"),
        capture(
            &app,
            dir.path(),
            "threadcreate",
            "/debug/pprof/threadcreate",
        ),
    ];
    let mut compared_rows = 0;
    for file in &files {
        let profile = load(file);
        let types = profile.sample_types();
        // The default sample type first (no -sample_index), then each one by index.
        let default_index = profile.sample_index(None).expect("a default sample type");
        let ours = top_functions(&profile, &TopOptions::new(default_index));
        let theirs = go_pprof_top(&go, &[], &[file]);
        assert_same_top(
            &ours,
            &theirs,
            &format!("{} (default sample type)", file.display()),
        );
        for (i, st) in types.iter().enumerate() {
            let ours = top_functions(&profile, &TopOptions::new(i));
            let theirs = go_pprof_top(&go, &[&format!("-sample_index={i}")], &[file]);
            assert_same_top(
                &ours,
                &theirs,
                &format!("{} sample type {}", file.display(), st.name),
            );
            compared_rows += theirs.rows.len();
            if ours.total > 0 {
                assert!(
                    !ours.rows.is_empty(),
                    "{}: {} has a total but no rows",
                    file.display(),
                    st.name
                );
            }
        }
    }
    // The CPU and goroutine profiles of a busy service cannot be empty: the comparison saw real rows.
    assert!(compared_rows > 30, "only {compared_rows} rows compared");
    let goroutines = load(&files[3]);
    let report = top_functions(&goroutines, &TopOptions::new(0));
    let parked = report
        .rows
        .iter()
        .find(|r| r.function == "main.parkedOnChannel")
        .expect("the parked goroutines' function is in the goroutine top");
    assert_eq!(
        parked.cum, 1000,
        "1000 goroutines are parked in main.parkedOnChannel"
    );
}

#[test]
fn diff_base_and_nodecount_match_go_tool_pprof() {
    const TEST: &str = "diff_base_and_nodecount_match_go_tool_pprof";
    let Some(go) = go_program(TEST) else { return };
    let Some(app) = GoApp::start(TEST, 300) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let base = capture(&app, dir.path(), "allocs-base", "/debug/pprof/allocs");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let newer = capture(&app, dir.path(), "allocs-new", "/debug/pprof/allocs");
    let base_cpu = capture(
        &app,
        dir.path(),
        "cpu-base",
        "/debug/pprof/profile?seconds=1",
    );
    let new_cpu = capture(
        &app,
        dir.path(),
        "cpu-new",
        "/debug/pprof/profile?seconds=1",
    );

    for (old, new) in [(&base, &newer), (&base_cpu, &new_cpu)] {
        let mut profile = load(new);
        let n_types = profile.sample_types().len();
        let base_profile =
            pprofile::parse_profile(&std::fs::read(old).expect("reading"), &Limits::default())
                .expect("the base parses");
        profile
            .subtract_base(base_profile)
            .expect("same kind of profile");
        for i in 0..n_types {
            let ours = top_functions(&profile, &TopOptions::new(i));
            let theirs = go_pprof_top(
                &go,
                &[
                    &format!("-sample_index={i}"),
                    "-diff_base",
                    old.to_str().expect("utf-8 temp path"),
                ],
                &[new],
            );
            assert_same_top(
                &ours,
                &theirs,
                &format!("diff {} - {} index {i}", new.display(), old.display()),
            );
        }
    }

    let profile = load(&newer);
    let index = profile
        .sample_index(Some("alloc_space"))
        .expect("allocs has alloc_space");
    let mut options = TopOptions::new(index);
    options.node_count = 4;
    let ours = top_functions(&profile, &options);
    let theirs = go_pprof_top(
        &go,
        &["-sample_index=alloc_space", "-nodecount=4"],
        &[&newer],
    );
    assert_same_top(&ours, &theirs, "allocs -nodecount=4");
    assert_eq!(ours.rows.len(), 4);

    let mut options = TopOptions::new(index);
    options.sort_by_cum = true;
    let ours = top_functions(&profile, &options);
    let theirs = go_pprof_top(&go, &["-sample_index=alloc_space", "-cum"], &[&newer]);
    assert_same_top(&ours, &theirs, "allocs -cum");
}

#[test]
fn goroutines_group_by_stack_and_stacks_fold_and_render() {
    const TEST: &str = "goroutines_group_by_stack_and_stacks_fold_and_render";
    let Some(app) = GoApp::start(TEST, 1500) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // A goroutine that has not run yet shows only its entry function; on a busy machine the service
    // can answer before all of them reached their channel or select, so wait until it settles.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut attempt = 0;
    let (goroutine, groups) = loop {
        attempt += 1;
        let goroutine = load(&capture(
            &app,
            dir.path(),
            &format!("goroutine-{attempt}"),
            "/debug/pprof/goroutine",
        ));
        let groups = pprofile::group_by_stack(&goroutine, 0);
        let settled = groups.len() > 1 && groups[0].count == 1500 && groups[1].count == 25;
        if settled || std::time::Instant::now() > deadline {
            break (goroutine, groups);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(goroutine.is_goroutine_profile());
    assert_eq!(
        groups[0].count,
        1500,
        "the leak is the largest group: {:#?}",
        &groups[..2]
    );
    assert!(
        groups[0]
            .frames
            .iter()
            .any(|f| f.function == "main.parkedOnChannel" && f.file.ends_with("main.go")),
        "the leak's stack names its function and file: {:#?}",
        groups[0].frames
    );
    assert_eq!(
        groups[1].count,
        25,
        "25 goroutines wait in select: {:#?}",
        &groups[..3]
    );
    assert!(
        groups[1]
            .frames
            .iter()
            .any(|f| f.function == "main.waitingInSelect")
    );
    let total: i64 = groups.iter().map(|g| g.count).sum();
    assert_eq!(
        total,
        goroutine.total(0),
        "every goroutine is in exactly one group"
    );

    let cpu = load(&capture(
        &app,
        dir.path(),
        "cpu",
        "/debug/pprof/profile?seconds=2",
    ));
    let index = cpu.sample_index(None).expect("cpu has a default");
    let folded = pprofile::folded_stacks(&cpu, index, SampleSet::All);
    let folded_total: i64 = folded.iter().map(|s| s.value).sum();
    assert_eq!(
        folded_total,
        cpu.total(index),
        "folded stacks account for every sample"
    );
    assert!(
        folded
            .iter()
            .any(|s| s.stack.contains("main.burnCPU;main.cpuHash")),
        "the hashing loop's stack is folded root first: {folded:#?}"
    );
    let mut svg = Vec::new();
    pprofile::flame_graph_svg(
        &folded,
        &pprofile::FlameOptions {
            title: "cpu".into(),
            count_name: "nanoseconds".into(),
        },
        &mut svg,
    )
    .expect("rendering");
    let svg = String::from_utf8(svg).expect("SVG is UTF-8");
    assert!(
        svg.starts_with("<?xml") && svg.contains("<svg"),
        "not an SVG"
    );
    assert!(
        svg.contains("main.cpuHash"),
        "the flame graph shows the hot function"
    );
}

/// A caller whose values cancel out in a diff still makes the call edges of its samples: pprof
/// marks a function inlined into it `(inline)`. Pinned on a captured pair where it happens.
#[test]
fn diff_keeps_inline_marks_of_callers_that_cancel_out() {
    const TEST: &str = "diff_keeps_inline_marks_of_callers_that_cancel_out";
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (old, new) = (
        fixtures.join("cpu-diff-base.pb.gz"),
        fixtures.join("cpu-diff-new.pb.gz"),
    );
    let mut profile = load(&new);
    let base = pprofile::parse_profile(&std::fs::read(&old).expect("reading"), &Limits::default())
        .expect("the base parses");
    profile.subtract_base(base).expect("same kind of profile");
    let ours = top_functions(&profile, &TopOptions::new(0));
    let row = |name: &str| {
        ours.rows
            .iter()
            .find(|r| r.function == name)
            .unwrap_or_else(|| panic!("{name} is in the diff top: {:#?}", ours.rows))
    };
    assert!(
        !ours.rows.iter().any(|r| r.function == "main.contend.func2"),
        "the caller cancels out, so it has no row"
    );
    assert_eq!(
        row("sync.(*Mutex).Unlock").inlining,
        pprofile::Inlining::Inline,
        "Unlock is only ever inlined into its caller"
    );
    assert_eq!(
        row("sync.(*Mutex).unlockSlow").inlining,
        pprofile::Inlining::NotInlined
    );
    let Some(go) = go_program(TEST) else { return };
    let theirs = go_pprof_top(
        &go,
        &[
            "-sample_index=0",
            "-diff_base",
            old.to_str().expect("utf-8 path"),
        ],
        &[&new],
    );
    assert_same_top(&ours, &theirs, "the captured diff pair");
}
