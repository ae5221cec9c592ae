//! End-to-end runs of `triage go profile` and `triage analyze PROFILE` against a real Go service
//! (crates/pprofile/tests/goapp), checked against the real `go tool pprof`.

#[path = "../../pprofile/tests/common/goapp.rs"]
mod goapp;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use goapp::{GoApp, go_program};

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .output()
        .expect("running triage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The rows of a `-top` table (ours or pprof's), each split into six cells.
fn table_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut in_rows = false;
    for line in text.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens == ["flat", "flat%", "sum%", "cum", "cum%"] {
            in_rows = true;
            continue;
        }
        if !in_rows {
            continue;
        }
        if tokens.len() < 6 {
            break;
        }
        let mut cells: Vec<String> = tokens[..5].iter().map(|s| s.to_string()).collect();
        cells.push(tokens[5..].join(" "));
        rows.push(cells);
    }
    rows
}

fn summary_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            l.starts_with("Showing ") || l.starts_with("Dropped ") || l.starts_with("Type: ")
        })
        .map(str::to_string)
        .collect()
}

fn go_pprof_top(go: &Path, args: &[&str]) -> String {
    let out = Command::new(go)
        .args(["tool", "pprof", "-top"])
        .args(args)
        .output()
        .expect("running go tool pprof");
    assert!(out.status.success(), "go tool pprof: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn go_profile_captures_concurrently_and_analyze_matches_go_tool_pprof() {
    const TEST: &str = "go_profile_captures_concurrently_and_analyze_matches_go_tool_pprof";
    let Some(go) = go_program(TEST) else { return };
    let Some(app) = GoApp::start(TEST, 1000) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("capture");
    let started = Instant::now();
    let run = triage(&[
        "go",
        "profile",
        &app.base_url(),
        "--cpu",
        "3s",
        "--heap",
        "--allocs",
        "--goroutine",
        "--block",
        "--mutex",
        "--threadcreate",
        "--out",
        out_dir.to_str().expect("utf-8 temp path"),
    ]);
    let elapsed = started.elapsed();
    assert!(
        run.status.success(),
        "triage go profile failed: {}",
        stderr(&run)
    );
    // Concurrent: the whole capture takes the CPU profile's 3 s plus overhead, not 3 s plus six
    // sequential fetches, and the CPU fetch itself lasted its 3 s.
    assert!(
        elapsed < Duration::from_secs(15),
        "capture took {elapsed:?}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).expect("summary.json"))
            .expect("JSON");
    assert_eq!(summary["schema"], "triage.go-profiles/v1");
    let profiles = summary["profiles"].as_array().expect("profiles");
    assert_eq!(profiles.len(), 7);
    let cpu_ms = profiles.iter().find(|p| p["name"] == "cpu").expect("cpu")["duration_ms"]
        .as_u64()
        .expect("ms");
    assert!(cpu_ms >= 3000, "the CPU profile ran {cpu_ms} ms");
    for p in profiles {
        let name = p["name"].as_str().expect("name");
        assert!(p["error"].is_null(), "{name}: {}", p["error"]);
        let file = out_dir.join(p["file"].as_str().expect("file"));
        let raw = std::fs::read(&file).expect("the raw profile is stored");
        assert_eq!(
            raw.len() as u64,
            p["bytes"].as_u64().expect("bytes"),
            "{name} stored as it came"
        );
        assert_eq!(
            &raw[..2],
            &[0x1f, 0x8b],
            "{name} is the gzip the server sent"
        );
        assert!(
            out_dir.join(format!("{name}.top.txt")).exists(),
            "{name} has a text summary"
        );
        if name != "cpu" {
            assert!(
                p["duration_ms"].as_u64().expect("ms") < cpu_ms,
                "{name} was fetched while the CPU profile ran"
            );
        }
    }
    let goroutine_summary = &profiles
        .iter()
        .find(|p| p["name"] == "goroutine")
        .expect("goroutine")["summary"];
    assert_eq!(
        goroutine_summary["goroutine_groups"][0]["count"], 1000,
        "the leak is the first group"
    );

    // `triage analyze` prints the same table as `go tool pprof -top`, for each sample type.
    for (name, sample_types) in [
        ("cpu", vec![None, Some("samples")]),
        (
            "heap",
            vec![None, Some("alloc_space"), Some("inuse_objects")],
        ),
        ("goroutine", vec![None]),
        ("mutex", vec![Some("delay")]),
    ] {
        let file = out_dir.join(format!("{name}.pb.gz"));
        let file = file.to_str().expect("utf-8");
        for st in sample_types {
            let mut ours_args = vec!["analyze", file];
            let mut pprof_args = vec![];
            let sample_index_arg;
            if let Some(st) = st {
                ours_args.extend(["--sample-type", st]);
                sample_index_arg = format!("-sample_index={st}");
                pprof_args.push(sample_index_arg.as_str());
            }
            pprof_args.push(file);
            let ours = triage(&ours_args);
            assert!(
                ours.status.success(),
                "triage analyze {name}: {}",
                stderr(&ours)
            );
            let theirs = go_pprof_top(&go, &pprof_args);
            assert_eq!(
                table_rows(&stdout(&ours)),
                table_rows(&theirs),
                "{name} {st:?}: rows differ"
            );
            assert_eq!(
                summary_lines(&stdout(&ours)),
                summary_lines(&theirs),
                "{name} {st:?}: headers differ"
            );
        }
    }

    // JSON: schema and the raw values behind the table.
    let cpu_file = out_dir.join("cpu.pb.gz");
    let json = triage(&["analyze", cpu_file.to_str().expect("utf-8"), "--json"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["schema"], "triage.profile/v1");
    assert_eq!(doc["sample_type"]["type"], "cpu");
    let top = doc["top"].as_array().expect("top[]");
    assert!(!top.is_empty());
    let total = doc["total"].as_i64().expect("total");
    let flat_sum: i64 = top.iter().map(|r| r["flat"].as_i64().expect("flat")).sum();
    assert!(
        flat_sum <= total && flat_sum > 0,
        "flat sum {flat_sum} of total {total}"
    );
    for row in top {
        assert!(row["function"].is_string());
        assert!(row["cum"].as_i64().expect("cum") >= row["flat"].as_i64().expect("flat"));
    }
    assert!(
        top.iter().any(|r| r["function"] == "main.burnCPU"),
        "the CPU burner is in the top: {top:#?}"
    );

    // Goroutines grouped by stack in the human output.
    let goroutines = triage(&[
        "analyze",
        out_dir.join("goroutine.pb.gz").to_str().expect("utf-8"),
    ]);
    let text = stdout(&goroutines);
    let group = text
        .find("1000 goroutines:")
        .expect("the 1000 parked goroutines form one group");
    assert!(
        text[group..]
            .lines()
            .take(12)
            .any(|l| l.trim() == "main.parkedOnChannel"),
        "{text}"
    );
}

#[test]
fn analyze_flame_folded_diff_and_bundle_output() {
    const TEST: &str = "analyze_flame_folded_diff_and_bundle_output";
    let Some(go) = go_program(TEST) else { return };
    let Some(app) = GoApp::start(TEST, 200) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle_path = dir.path().join("capture.tar.zst");
    let run = triage(&[
        "go",
        "profile",
        &app.base_url(),
        "--cpu",
        "2s",
        "--allocs",
        "--out",
        bundle_path.to_str().expect("utf-8"),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let reader = bundle::BundleReader::open(&bundle_path).expect("a readable bundle");
    let names: Vec<String> = reader
        .list()
        .expect("listing")
        .into_iter()
        .map(|m| m.path)
        .collect();
    for want in [
        "go/pprof/cpu.pb.gz",
        "go/pprof/allocs.pb.gz",
        "go/pprof/summary.json",
        "go/pprof/cpu.top.txt",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    let cpu_raw = reader
        .read_member("go/pprof/cpu.pb.gz")
        .expect("cpu member");
    let cpu = dir.path().join("cpu.pb.gz");
    std::fs::write(&cpu, &cpu_raw).expect("writing");
    let cpu_s = cpu.to_str().expect("utf-8");

    // Flame graph.
    let svg = dir.path().join("cpu.svg");
    let flame = triage(&["analyze", cpu_s, "--flame", svg.to_str().expect("utf-8")]);
    assert!(flame.status.success(), "{}", stderr(&flame));
    let svg_text = std::fs::read_to_string(&svg).expect("the SVG was written");
    assert!(
        svg_text.contains("<svg") && svg_text.contains("main.cpuHash"),
        "flame graph content"
    );

    // Folded stacks sum to the total the JSON reports.
    let folded = triage(&["analyze", cpu_s, "--folded"]);
    assert!(folded.status.success(), "{}", stderr(&folded));
    let folded_total: i64 = stdout(&folded)
        .lines()
        .map(|l| {
            l.rsplit_once(' ')
                .expect("stack value")
                .1
                .parse::<i64>()
                .expect("a number")
        })
        .sum();
    let json: serde_json::Value =
        serde_json::from_slice(&triage(&["analyze", cpu_s, "--json"]).stdout).expect("JSON");
    assert_eq!(folded_total, json["total"].as_i64().expect("total"));
    assert!(
        stdout(&folded)
            .lines()
            .all(|l| l.starts_with("runtime.") || l.contains(';') || l.starts_with("main."))
    );

    // Diff against a second allocs profile: same table as go tool pprof -diff_base.
    let base = dir.path().join("allocs-base.pb.gz");
    std::fs::write(
        &base,
        reader.read_member("go/pprof/allocs.pb.gz").expect("allocs"),
    )
    .expect("writing");
    std::thread::sleep(Duration::from_millis(1000));
    let newer = dir.path().join("allocs-new.pb.gz");
    std::fs::write(&newer, app.get("/debug/pprof/allocs")).expect("writing");
    let (base_s, new_s) = (
        base.to_str().expect("utf-8"),
        newer.to_str().expect("utf-8"),
    );
    let ours = triage(&[
        "analyze",
        new_s,
        "--diff-base",
        base_s,
        "--sample-type",
        "alloc_space",
    ]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    let theirs = go_pprof_top(
        &go,
        &["-sample_index=alloc_space", "-diff_base", base_s, new_s],
    );
    assert_eq!(
        table_rows(&stdout(&ours)),
        table_rows(&theirs),
        "diff rows differ"
    );
    let diff_svg = dir.path().join("diff.svg");
    let diff_flame = triage(&[
        "analyze",
        new_s,
        "--diff-base",
        base_s,
        "--flame",
        diff_svg.to_str().expect("utf-8"),
    ]);
    assert!(diff_flame.status.success(), "{}", stderr(&diff_flame));
    assert!(
        std::fs::read_to_string(&diff_svg)
            .expect("diff SVG")
            .contains("<svg")
    );

    // --nodecount limits rows like pprof's -nodecount.
    let limited = triage(&["analyze", new_s, "--nodecount", "3"]);
    assert_eq!(table_rows(&stdout(&limited)).len(), 3);
    assert_eq!(
        table_rows(&stdout(&limited)),
        table_rows(&go_pprof_top(&go, &["-nodecount=3", new_s]))
    );

    // An unknown sample type names the available ones.
    let bad = triage(&["analyze", cpu_s, "--sample-type", "bogus"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("samples, cpu"), "{}", stderr(&bad));
}

#[test]
fn hostile_profiles_fail_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A gzip bomb: 2 GiB of zeros would come out of about 2 MB; the cap stops it.
    let bomb = dir.path().join("bomb.pb.gz");
    {
        let file = std::fs::File::create(&bomb).expect("creating");
        let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            enc.write_all(&zeros).expect("writing");
        }
        enc.finish().expect("finishing");
    }
    let started = Instant::now();
    let out = triage(&[
        "analyze",
        bomb.to_str().expect("utf-8"),
        "--max-profile-mib",
        "16",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("decompresses to more than"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));

    // A string table whose first entry is not empty: field 1 (sample_type {1, 2}), then strings.
    let bad_strings = dir.path().join("strings.pb");
    let mut raw = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x02];
    for s in ["oops", "cpu", "nanoseconds"] {
        raw.push(0x32);
        raw.push(s.len() as u8);
        raw.extend_from_slice(s.as_bytes());
    }
    std::fs::write(&bad_strings, &raw).expect("writing");
    let out = triage(&["analyze", bad_strings.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("string_table[0] at byte 6 is \"oops\""),
        "{}",
        stderr(&out)
    );

    // A sample type pointing past the string table.
    let out_of_range = dir.path().join("range.pb");
    let raw = [
        0x0a, 0x04, 0x08, 0x09, 0x10, 0x01, 0x32, 0x00, 0x32, 0x01, b'x',
    ];
    std::fs::write(&out_of_range, raw).expect("writing");
    let out = triage(&["analyze", out_of_range.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "sample_type #0 type at byte 0: string index 9 is outside the string table (2 entries)"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn go_profile_gives_up_on_a_body_that_never_ends() {
    // A fake pprof server that announces a large body and then trickles bytes forever.
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    let addr = listener.local_addr().expect("address");
    let server = std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000000\r\n\r\n",
        );
        // Bounded: at most 30 s of trickling, then the connection closes.
        for _ in 0..300 {
            if conn.write_all(&[0x1f]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let out = triage(&[
        "go",
        "profile",
        &format!("http://{addr}"),
        "--heap",
        "--timeout",
        "2s",
        "--out",
        dir.path().join("c").to_str().expect("utf-8"),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("heap"), "{}", stderr(&out));
    assert!(stderr(&out).contains("within 2s"), "{}", stderr(&out));
    assert!(
        elapsed < Duration::from_secs(15),
        "gave up after {elapsed:?}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("c/summary.json")).expect("summary"))
            .expect("JSON");
    assert!(
        summary["profiles"][0]["error"]
            .as_str()
            .expect("an error")
            .contains("GET")
    );
    drop(server);
}

/// A pprof server behind basic auth is named with its password in the URL: the bundle (summary,
/// top tables, the manifest's target) and triage's own output never show it, the profiles
/// themselves are kept as they came and marked sensitive, and `--no-redact` says so in red.
#[test]
fn go_profile_bundle_redacts_a_password_in_the_source_url() {
    const TEST: &str = "go_profile_bundle_redacts_a_password_in_the_source_url";
    let Some(app) = GoApp::start(TEST, 50) else {
        return;
    };
    // Differs on every run, so no fixed string can make the test pass.
    let password = format!(
        "Pw{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos()
            ^ u128::from(std::process::id())
    );
    let source = format!("http://pprof:{password}@{}", app.addr);
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle_path = dir.path().join("capture.tar.zst");
    let run = triage(&[
        "go",
        "profile",
        &source,
        "--heap",
        "--goroutine",
        "--out",
        bundle_path.to_str().expect("utf-8"),
    ]);
    assert!(bundle_path.exists(), "no bundle: {}", stderr(&run));
    assert!(
        !run.stderr
            .windows(password.len())
            .any(|w| w == password.as_bytes())
            && !run
                .stdout
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
        "the password is in triage's output: {}",
        stderr(&run)
    );
    let stream = zstd::decode_all(std::fs::File::open(&bundle_path).expect("bundle"))
        .expect("a zstd stream");
    assert!(
        !stream
            .windows(password.len())
            .any(|w| w == password.as_bytes()),
        "the password is in the bundle"
    );
    let reader = bundle::BundleReader::open(&bundle_path).expect("a readable bundle");
    let manifest = reader.manifest().expect("manifest");
    assert!(manifest.redaction.enabled);
    assert!(
        manifest.target.contains("[REDACTED:") && manifest.target.contains(&app.addr),
        "target {:?}",
        manifest.target
    );
    assert!(
        manifest.redaction.totals.values().sum::<u64>() >= 3,
        "the target and each profile's URL in summary.json: {:?}",
        manifest.redaction.totals
    );
    let summary = String::from_utf8(
        reader
            .read_member("go/pprof/summary.json")
            .expect("summary"),
    )
    .expect("utf-8");
    assert!(summary.contains("[REDACTED:"), "{summary}");
    let goroutine = manifest
        .file("go/pprof/goroutine.pb.gz")
        .expect("the goroutine profile was captured");
    // Stored as it came (gzip, untouched by the filter) and marked sensitive.
    assert!(goroutine.sensitive && goroutine.redactions.is_empty());
    assert!(
        reader
            .read_member("go/pprof/goroutine.pb.gz")
            .expect("profile")
            .starts_with(&[0x1f, 0x8b])
    );

    // --no-redact: the warning, in red, on stderr and in the manifest.
    let raw_path = dir.path().join("raw.tar.zst");
    let run = triage(&[
        "go",
        "profile",
        &source,
        "--heap",
        "--no-redact",
        "--out",
        raw_path.to_str().expect("utf-8"),
    ]);
    assert!(
        stderr(&run).contains("\x1b[31mwarning: REDACTION WAS DISABLED"),
        "{}",
        stderr(&run)
    );
    let manifest = bundle::BundleReader::open(&raw_path)
        .expect("bundle")
        .manifest()
        .expect("manifest");
    assert!(!manifest.redaction.enabled);
    assert!(manifest.redaction.warning.is_some());
}
