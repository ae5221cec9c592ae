#!/usr/bin/env bash
# Analysis and HTML report speed (issue targets: analysing a snapshot bundle < 50 ms; the HTML
# report with a 400 MB heap analysis < 1 s, from the stored analysis).
#
# 1. criterion: parse snapshot.json, run every rule, render the report without and with a large
#    heap section (10 000 histogram rows, 1 000 dominators) and a 5 000-stack profile.
# 2. end to end: `triage analyze BUNDLE` and `triage analyze BUNDLE --html` on a bundle written
#    by `triage snapshot` on this machine, timed with hyperfine.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo bench -p analyze --bench analyze -- --warm-up-time 1 --measurement-time 5 2>&1 | grep -E "^[a-z].*|time:" | tee /tmp/analyze-bench.txt
cargo build --release -p triage
bin="$CARGO_TARGET_DIR/release/triage"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$bin" snapshot --out "$work/host.tar.zst" >/dev/null 2>&1
ls -l "$work/host.tar.zst"
if command -v hyperfine >/dev/null; then
  hyperfine --warmup 2 --runs 20 -N \
    "$bin analyze $work/host.tar.zst --json" \
    "$bin analyze $work/host.tar.zst --html $work/report.html"
fi
