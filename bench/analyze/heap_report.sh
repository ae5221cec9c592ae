#!/usr/bin/env bash
# The HTML report with the stored analysis of a real ~400 MB heap dump (issue target: < 1 s, from
# the stored analysis, not by re-reading the dump).
#
# 1. A heap dump of BigHeap (bench/hprof/BigHeap.java) taken with jcmd GC.heap_dump from a JDK 17
#    JVM; ORDERS (default 832000) gives about 400 MB. An existing dump is reused: DUMP=path.
# 2. Its full analysis, stored once: `triage analyze DUMP --json > heap.json` (timed, for scale).
# 3. A bundle of this machine: `triage snapshot --cpu-sample 0 --out host.tar.zst`.
# 4. Timed with hyperfine: `triage analyze host.tar.zst --html report.html` without and with
#    `--heap-analysis heap.json`.
#
# Needs: java/javac/jcmd, hyperfine, a release build of triage (cargo build --release -p triage;
# set TRIAGE=path, default $CARGO_TARGET_DIR/release/triage).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
orders="${ORDERS:-832000}"
work="${BENCH_WORK:-$(mktemp -d /tmp/triage-heap-report.XXXXXX)}"
bin="${TRIAGE:-${CARGO_TARGET_DIR:-$repo/target}/release/triage}"
[ -x "$bin" ] || { echo "build triage first: cargo build --release -p triage (or set TRIAGE)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is needed: apt-get install hyperfine" >&2; exit 1; }

dump="${DUMP:-$work/bigheap.hprof}"
if [ ! -f "$dump" ]; then
  javac -d "$work" "$repo/bench/hprof/BigHeap.java"
  java -Xmx3g -XX:+UseG1GC -cp "$work" BigHeap "$orders" > "$work/java.out" &
  jpid=$!
  for _ in $(seq 1 600); do grep -q ready "$work/java.out" 2>/dev/null && break; sleep 0.5; done
  jcmd "$jpid" GC.heap_dump "$dump" > /dev/null
  kill "$jpid"; wait "$jpid" 2>/dev/null || true
fi
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM"
echo "dump: $dump ($(stat -c %s "$dump") bytes)"

start=$(date +%s.%N)
"$bin" analyze "$dump" --json > "$work/heap.json"
end=$(date +%s.%N)
printf "stored analysis: %s (%s bytes), written in %.2f s (once, not part of the report)\n" \
  "$work/heap.json" "$(stat -c %s "$work/heap.json")" "$(echo "$end - $start" | bc -l)"
python3 - "$work/heap.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
objects = s["instances"] + s["object_arrays"] + s["primitive_arrays"] + s["classes"]
print(f"  dump {s['dump_bytes']} bytes, {objects} objects, heap {s['heap_bytes']} bytes; "
      f"{len(d['histogram'])} histogram rows, {len(d['dominators'])} dominators")
EOF

"$bin" snapshot --cpu-sample 0 --out "$work/host.tar.zst" > /dev/null 2>&1
echo "bundle: $work/host.tar.zst ($(stat -c %s "$work/host.tar.zst") bytes)"
hyperfine --warmup 2 --runs 30 -N \
  "$bin analyze $work/host.tar.zst --html $work/report-plain.html" \
  "$bin analyze $work/host.tar.zst --html $work/report.html --heap-analysis $work/heap.json"
ls -l "$work/report-plain.html" "$work/report.html"
grep -o '<section id="heap"><h2>Heap <span class="sub">[^<]*' "$work/report.html"
