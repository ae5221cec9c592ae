//! The HTML report rendered by a real browser: headless Chromium takes a screenshot, and the test
//! checks it has the requested size and is not blank (many distinct colours, the severity red
//! present). `TRIAGE_UPDATE_SCREENSHOT=1` also copies it to docs/report.png.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use analyze::report::{
    DominatorRow, FoldedStack, HeapClassRow, HeapSection, ProfileSection, ProfileTopRow,
};
use analyze::{ReportExtras, analyze_snapshot, report_html};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 2000;

fn heap() -> HeapSection {
    let classes = [
        ("byte[]", 1_204_331, 162_112_004, 162_112_004),
        ("java.lang.String", 1_180_002, 28_320_048, 190_432_052),
        ("java.util.HashMap$Node", 640_118, 20_483_776, 120_883_776),
        (
            "com.example.shop.cart.CartLine",
            402_881,
            16_115_240,
            98_115_240,
        ),
        ("java.lang.Object[]", 88_409, 12_004_112, 70_004_112),
        (
            "java.util.concurrent.ConcurrentHashMap$Node",
            301_772,
            9_656_704,
            61_656_704,
        ),
        (
            "com.example.shop.session.SessionState",
            48_110,
            3_848_800,
            58_848_800,
        ),
        ("java.util.ArrayList", 140_221, 3_365_304, 35_365_304),
        ("char[]", 12_004, 2_402_112, 2_402_112),
        ("java.lang.Long", 90_112, 2_162_688, 2_162_688),
    ];
    HeapSection {
        title: "jvm/2301/heap.hprof".into(),
        total_bytes: Some(268_435_456),
        total_objects: Some(4_210_338),
        histogram: classes
            .iter()
            .map(|(c, n, s, r)| HeapClassRow {
                class_name: c.to_string(),
                instances: *n,
                shallow_bytes: *s,
                retained_bytes: Some(*r),
            })
            .collect(),
        dominators: vec![
            DominatorRow {
                name: "java.util.concurrent.ConcurrentHashMap @ 0x7f3a00108e40".into(),
                class_name: Some("java.util.concurrent.ConcurrentHashMap".into()),
                shallow_bytes: 64,
                retained_bytes: 141_200_112,
            },
            DominatorRow {
                name: "com.example.shop.session.SessionRegistry @ 0x7f3a0010a210".into(),
                class_name: Some("com.example.shop.session.SessionRegistry".into()),
                shallow_bytes: 32,
                retained_bytes: 58_848_800,
            },
            DominatorRow {
                name: "org.apache.catalina.loader.ParallelWebappClassLoader @ 0x7f3a0001c000"
                    .into(),
                class_name: None,
                shallow_bytes: 144,
                retained_bytes: 12_402_000,
            },
        ],
    }
}

fn profile() -> ProfileSection {
    let lines = [
        (
            "runtime.main;main.main;net/http.(*Server).Serve;net/http.(*conn).serve;main.checkoutHandler;encoding/json.Marshal;encoding/json.(*encodeState).reflectValue",
            410,
        ),
        (
            "runtime.main;main.main;net/http.(*Server).Serve;net/http.(*conn).serve;main.checkoutHandler;main.priceCart;main.applyDiscounts",
            260,
        ),
        (
            "runtime.main;main.main;net/http.(*Server).Serve;net/http.(*conn).serve;main.checkoutHandler;database/sql.(*DB).QueryContext;github.com/lib/pq.(*conn).query",
            180,
        ),
        (
            "runtime.main;main.main;net/http.(*Server).Serve;net/http.(*conn).serve;net/http.(*response).finishRequest;bufio.(*Writer).Flush",
            90,
        ),
        (
            "runtime.gcBgMarkWorker;runtime.gcDrain;runtime.scanobject",
            220,
        ),
        (
            "runtime.gcBgMarkWorker;runtime.gcDrain;runtime.markroot",
            60,
        ),
        (
            "runtime.mcall;runtime.park_m;runtime.schedule;runtime.findRunnable",
            80,
        ),
    ];
    let stacks: Vec<FoldedStack> = lines
        .iter()
        .map(|(s, v)| FoldedStack {
            frames: s.split(';').map(str::to_string).collect(),
            value: *v as f64 * 1e7,
        })
        .collect();
    let total = stacks.iter().map(|s| s.value).sum();
    ProfileSection {
        title: "go/pprof/checkout-cpu.pb.gz".into(),
        sample_type: "cpu".into(),
        unit: "nanoseconds".into(),
        total,
        top: vec![
            ProfileTopRow {
                function: "encoding/json.(*encodeState).reflectValue".into(),
                flat: 4.1e9,
                cum: 4.1e9,
            },
            ProfileTopRow {
                function: "main.applyDiscounts".into(),
                flat: 2.6e9,
                cum: 2.6e9,
            },
            ProfileTopRow {
                function: "runtime.scanobject".into(),
                flat: 2.2e9,
                cum: 2.2e9,
            },
            ProfileTopRow {
                function: "github.com/lib/pq.(*conn).query".into(),
                flat: 1.8e9,
                cum: 1.8e9,
            },
        ],
        stacks,
    }
}

/// The report of the busy-node fixture with a heap and a profile section.
fn render() -> String {
    let snapshot = common::busy_node();
    let analysis = analyze_snapshot(&snapshot);
    let extras = ReportExtras {
        title: Some("triage-host-20240514T094107Z.tar.zst".into()),
        notes: analysis.notes.clone(),
        heap: Some(heap()),
        profile: Some(profile()),
        ..Default::default()
    };
    report_html(&snapshot, &analysis.findings, &extras)
}

fn screenshot(chromium: &Path, html: &Path, png: &Path, profile_dir: &Path) {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile_dir.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .arg(format!("file://{}", html.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting chromium");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("waiting for chromium") {
            assert!(status.success(), "chromium exited with {status}");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish the screenshot within 90 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn report_renders_in_chromium() {
    let Some(chromium) = testkit::require_program("chromium", "report_renders_in_chromium") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("report.html");
    std::fs::write(&html, render()).expect("writing the report");
    let png = dir.path().join("report.png");
    let profile_dir = dir.path().join("chromium-profile");
    screenshot(&chromium, &html, &png, &profile_dir);

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("the screenshot exists"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
    let info = reader.next_frame(&mut buf).expect("decoding the PNG");
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "colour screenshot expected, got {:?}",
        info.color_type
    );
    let pixels = &buf[..info.buffer_size()];
    let mut colours = std::collections::HashSet::new();
    let mut red = 0usize;
    for px in pixels.chunks_exact(channels) {
        colours.insert((px[0], px[1], px[2]));
        // The crit colour (#d92d20) of the badges, bars and gauges.
        if px[0] > 200 && px[1] < 70 && px[2] < 60 {
            red += 1;
        }
    }
    assert!(
        colours.len() > 500,
        "only {} distinct colours: the page looks blank",
        colours.len()
    );
    assert!(
        red > 2_000,
        "only {red} crit-red pixels: the findings or gauges did not render"
    );

    if std::env::var_os("TRIAGE_UPDATE_SCREENSHOT").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/report.png");
        std::fs::copy(&png, &docs).expect("copying to docs/report.png");
    }
}
