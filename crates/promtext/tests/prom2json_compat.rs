//! Our JSON equals prom2json's (Go, built from Debian's sources) on node_exporter's live output,
//! on hand-written tricky fixtures, and on thousands of generated near-valid expositions, where
//! we must also reject exactly what Go rejects.

mod common;

use std::path::PathBuf;

use common::{NodeExporter, our_prom2json, prom2json_harness, prom2json_lines};

fn write_inputs(dir: &std::path::Path, inputs: &[Vec<u8>]) -> Vec<PathBuf> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, input)| {
            let path = dir.join(format!("input-{i}.prom"));
            std::fs::write(&path, input).expect("writing an input");
            path
        })
        .collect()
}

#[test]
fn node_exporter_live_output_matches_prom2json() {
    let test = "node_exporter_live_output_matches_prom2json";
    let Some(harness) = prom2json_harness(test) else {
        return;
    };
    let Some(exporter) = NodeExporter::start(test) else {
        return;
    };
    let body = exporter.scrape();
    assert!(
        body.len() > 10_000,
        "node_exporter served only {} bytes",
        body.len()
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let files = write_inputs(dir.path(), std::slice::from_ref(&body));
    let expected = &prom2json_lines(&harness, &files)[0];
    assert!(
        expected.starts_with("[{"),
        "prom2json failed on node_exporter output: {expected}"
    );
    let ours = our_prom2json(&body).expect("parsing node_exporter output");
    assert_eq!(&ours, expected);
    // The comparison covers every kind node_exporter serves.
    for kind in ["\"COUNTER\"", "\"GAUGE\"", "\"SUMMARY\"", "\"UNTYPED\""] {
        assert!(
            ours.contains(kind),
            "no {kind} family in node_exporter output"
        );
    }
}

#[test]
fn fixtures_match_prom2json() {
    let test = "fixtures_match_prom2json";
    let Some(harness) = prom2json_harness(test) else {
        return;
    };
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let files = vec![
        fixtures.join("tricky_labels.prom"),
        fixtures.join("node_exporter.prom"),
    ];
    let expected = prom2json_lines(&harness, &files);
    for (file, expected) in files.iter().zip(&expected) {
        let input = std::fs::read(file).expect("reading a fixture");
        assert!(
            expected.starts_with("[{"),
            "prom2json failed on {}: {expected}",
            file.display()
        );
        let ours = our_prom2json(&input).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(&ours, expected, "{}", file.display());
    }
    // The tricky values survive intact (prom2json is the oracle; this guards the fixture itself).
    assert!(expected[0].contains(r#""query":"x=\"1\",y=2""#));
    assert!(expected[0].contains(r#""note":"line1\nline2""#));
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// An exposition built from pieces that exercise expfmt's corners: suffix resolution, le/quantile,
/// escapes, odd values and timestamps, blanks, comments, and a little corruption.
fn generate(rng: &mut Rng) -> Vec<u8> {
    const NAMES: &[&str] = &[
        "m", "m_count", "m_sum", "m_bucket", "h", "h_bucket", "h_count", "h_sum", "s", "s_count",
        "_x:y", "m_total",
    ];
    const TYPES: &[&str] = &[
        "counter",
        "gauge",
        "summary",
        "histogram",
        "untyped",
        "Summary",
        "HISTOGRAM",
    ];
    const BAD_TYPES: &[&str] = &["gauge_histogram", "bogus", "counter ", "ſummary"];
    const LABEL_NAMES: &[&str] = &["a", "le", "quantile", "b_2", "a", "c"];
    const BAD_LABEL_NAMES: &[&str] = &["__name__", "1x", ""];
    const LABEL_VALUES: &[&str] = &[
        "",
        "x",
        "0.5",
        "+Inf",
        "1e3",
        "NaN",
        "a,b=c",
        "q\\\"x\\\"",
        "back\\\\slash",
        "nl\\n",
        "ü✓",
        "<&>",
        "\u{2028}",
        "1",
    ];
    const BAD_LABEL_VALUES: &[&str] = &["bad\\t", "x\\"];
    const VALUES: &[&str] = &[
        "1",
        "0",
        "-2.5",
        "NaN",
        "+Inf",
        "-inf",
        "Infinity",
        "1e-400",
        ".5",
        "1.",
        "18446744073709551616",
        "-1",
        "12345678",
        "1e6",
        "0.0001",
    ];
    const BAD_VALUES: &[&str] = &["1e400", "0x10", "1_0", "+nan", "", "3\r", "nan"];
    const TIMESTAMPS: &[&str] = &["123", "-5", "+7", "00"];
    const BAD_TIMESTAMPS: &[&str] = &["1.5", "", "9223372036854775808"];
    const HELPS: &[&str] = &["plain", "esc \\\\ and \\n", "quote \" ok", "ünï", ""];
    const BAD_HELPS: &[&str] = &["bad \\t", "tail\\"];
    let pick = |rng: &mut Rng, good: &[&'static str], bad: &[&'static str]| -> &'static str {
        if rng.chance(2) {
            rng.pick(bad)
        } else {
            rng.pick(good)
        }
    };
    let mut out = Vec::new();
    for _ in 0..rng.below(10) + 1 {
        let indent = if rng.chance(5) { " \t" } else { "" };
        match rng.below(10) {
            0 => out.extend_from_slice(
                format!(
                    "{indent}# TYPE {} {}\n",
                    rng.pick(NAMES),
                    pick(rng, TYPES, BAD_TYPES)
                )
                .as_bytes(),
            ),
            1 => out.extend_from_slice(
                format!(
                    "{indent}# HELP {} {}\n",
                    rng.pick(NAMES),
                    pick(rng, HELPS, BAD_HELPS)
                )
                .as_bytes(),
            ),
            2 => out.extend_from_slice(
                rng.pick(&[
                    "\n",
                    "# comment\n",
                    "#\n",
                    "# HELP\n",
                    "# TYPE m\n",
                    "# HELP m \n",
                    "#HELP m x\n",
                    "  \n",
                ])
                .as_bytes(),
            ),
            _ => {
                let mut line = format!("{indent}{}", rng.pick(NAMES));
                if rng.chance(70) {
                    line.push_str(if rng.chance(10) { " {" } else { "{" });
                    for i in 0..rng.below(4) {
                        if i > 0 {
                            line.push_str(if rng.chance(10) { " , " } else { "," });
                        }
                        let value = pick(rng, LABEL_VALUES, BAD_LABEL_VALUES);
                        line.push_str(&format!(
                            "{}=\"{value}\"",
                            pick(rng, LABEL_NAMES, BAD_LABEL_NAMES)
                        ));
                    }
                    if rng.chance(10) {
                        line.push(',');
                    }
                    line.push('}');
                }
                line.push_str(if rng.chance(5) { "\t" } else { " " });
                line.push_str(pick(rng, VALUES, BAD_VALUES));
                if rng.chance(20) {
                    line.push(' ');
                    line.push_str(pick(rng, TIMESTAMPS, BAD_TIMESTAMPS));
                }
                if rng.chance(1) {
                    line.push_str(" junk");
                }
                line.push('\n');
                out.extend_from_slice(line.as_bytes());
            }
        }
    }
    if rng.chance(2) {
        out.pop();
    }
    if rng.chance(1) {
        let at = rng.below(out.len().max(1));
        out.insert(at.min(out.len()), 0xff);
    }
    out
}

#[test]
fn generated_inputs_are_accepted_and_rejected_like_prom2json() {
    let test = "generated_inputs_are_accepted_and_rejected_like_prom2json";
    let Some(harness) = prom2json_harness(test) else {
        return;
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let inputs: Vec<Vec<u8>> = (0..4000).map(|_| generate(&mut rng)).collect();
    let dir = tempfile::tempdir().expect("a temp dir");
    let files = write_inputs(dir.path(), &inputs);
    let expected = prom2json_lines(&harness, &files);
    let (mut accepted, mut rejected) = (0, 0);
    for ((input, expected), file) in inputs.iter().zip(&expected).zip(&files) {
        let ours = our_prom2json(input);
        match (expected.strip_prefix("ERROR "), &ours) {
            (Some(_), Err(_)) => rejected += 1,
            (None, Ok(json)) if json == expected => accepted += 1,
            _ => panic!(
                "{}: prom2json says {expected}\nwe say {ours:?}\ninput:\n{}",
                file.display(),
                String::from_utf8_lossy(input)
            ),
        }
    }
    eprintln!("prom2json and promtext agree: {accepted} accepted, {rejected} rejected");
    // Both outcomes must be well represented or the comparison proves little.
    assert!(
        accepted > 400 && rejected > 400,
        "accepted {accepted}, rejected {rejected}"
    );
}
