#!/usr/bin/env bash
# Side-by-side parse benchmark, one run, same input file, same machine:
#   promtext (family model, and bare streaming events)
#   Go expfmt TextParser.TextToMetricFamilies (what prom2json and Prometheus tools use)
#   prometheus-parse 0.2.5 (the most used Rust crate)
# Input: a live node_exporter scrape (the fixture if node_exporter is missing), scaled to
# SIZE_BYTES (default 50 MiB) by scale.py. Each parser gets the bytes in memory and is timed
# in-process: wall time (best, median) and CPU time of the whole process (median; Go's
# parallel GC threads included), RUNS runs each. On a shared machine CPU time is the fair figure:
# wall time favours the multi-threaded Go runtime when other jobs compete for the cores.
#
# usage: bench/promtext/run.sh            (env: SIZE_BYTES, RUNS, WORK)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${WORK:-/tmp/promtext-bench}
size=${SIZE_BYTES:-52428800}
runs=${RUNS:-5}
mkdir -p "$work"

if command -v prometheus-node-exporter >/dev/null; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  prometheus-node-exporter --web.listen-address="127.0.0.1:$port" >/dev/null 2>&1 &
  exporter=$!
  trap 'kill $exporter 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/metrics" -o "$work/node_exporter.prom" && break; sleep 0.1; done
  kill $exporter; trap - EXIT
else
  echo "prometheus-node-exporter not installed: using the fixture" >&2
  cp "$repo/crates/promtext/tests/fixtures/node_exporter.prom" "$work/node_exporter.prom"
fi
python3 "$here/scale.py" "$work/node_exporter.prom" "$work/scaled.prom" "$size"

mkdir -p "$work/gopath"
GOPATH="$work/gopath:/usr/share/gocode" GO111MODULE=off GOPROXY=off GOFLAGS= \
  go build -o "$work/go-expfmt" "$here/go-expfmt/main.go"
CARGO_TARGET_DIR="$work/target" cargo build --quiet --release --manifest-path "$here/compare/Cargo.toml"

echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input:   $(wc -c < "$work/scaled.prom") bytes, $(wc -l < "$work/scaled.prom") lines (node_exporter $(wc -c < "$work/node_exporter.prom") bytes scaled)"
echo "tools:   $(go version | cut -d' ' -f3), expfmt from golang-github-prometheus-common-dev $(dpkg-query -W -f='${Version}' golang-github-prometheus-common-dev 2>/dev/null), $(rustc --version | cut -d' ' -f1-2)"
echo
"$work/target/release/promtext-compare" time "$work/scaled.prom" "$runs"
"$work/go-expfmt" "$work/scaled.prom" "$runs"
echo
echo "correctness on labels with , = and \\\" (crates/promtext/tests/fixtures/tricky_labels.prom):"
"$work/target/release/promtext-compare" check "$repo/crates/promtext/tests/fixtures/tricky_labels.prom" tricky_total
