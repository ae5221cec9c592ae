#!/usr/bin/env bash
# Side-by-side benchmark of `triage analyze` against hprof-slurp 0.10 on the same heap dump.
#
# Usage: bench/hprof/run.sh [ORDERS]   (default 1000000 orders: ~8 M objects, ~400 MB dump)
# Needs: java/javac/jcmd (JDK 17), hprof-slurp 0.10 (cargo install hprof-slurp --version 0.10.0),
# GNU time (/usr/bin/time), and a release build of the analyser: either triage
# (cargo build --release -p triage; set TRIAGE=path) or, quicker to build, the hprof crate's
# example that runs the same library passes (cargo build --release -p hprof --example analyze;
# set ANALYZE=path).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
orders="${1:-1000000}"
work="${BENCH_WORK:-$(mktemp -d /tmp/triage-hprof-bench.XXXXXX)}"
triage="${TRIAGE:-}"
analyze="${ANALYZE:-${CARGO_TARGET_DIR:-$repo/target}/release/examples/analyze}"
slurp="${HPROF_SLURP:-$(command -v hprof-slurp || true)}"
[ -x "$analyze" ] || [ -x "$triage" ] || { echo "build the analyser first (see the header)" >&2; exit 1; }
[ -n "$slurp" ] || { echo "install hprof-slurp: cargo install hprof-slurp --version 0.10.0" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed: apt-get install time" >&2; exit 1; }

dump="$work/bigheap.hprof"
if [ ! -f "$dump" ]; then
  javac -d "$work" "$here/BigHeap.java"
  java -Xmx3g -XX:+UseG1GC -cp "$work" BigHeap "$orders" > "$work/java.out" &
  jpid=$!
  for _ in $(seq 1 600); do grep -q ready "$work/java.out" 2>/dev/null && break; sleep 0.5; done
  jcmd "$jpid" GC.heap_dump "$dump" > /dev/null
  kill "$jpid"; wait "$jpid" 2>/dev/null || true
fi
size=$(stat -c %s "$dump")
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -r)"
echo "dump: $dump ($size bytes, $orders orders)"
echo "hprof-slurp: $("$slurp" --version 2>&1 | head -1)"
echo
# Warm the page cache so every tool reads from memory.
cat "$dump" > /dev/null

measure() {
  local label="$1"; shift
  local log="$work/time.$label"
  /usr/bin/time -v "$@" > "$work/out.$label" 2> "$log"
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$log")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$log")
  local s
  s=$(echo "$secs" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  printf "%-34s %8.2f s  %8.0f MB/s  peak RSS %7.1f MiB\n" "$label" "$s" "$(echo "$size / 1000000 / $s" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
}

for run in 1 2 3; do
  echo "run $run"
  measure "hprof-slurp (histogram, top 20)" "$slurp" -t 20 "$dump"
  if [ -x "$analyze" ]; then
    measure "hprof histogram pass" "$analyze" --only-histogram "$dump"
    measure "hprof graph+dominators+report" "$analyze" "$dump"
  fi
  if [ -n "$triage" ] && [ -x "$triage" ]; then
    measure "triage analyze --only histogram" "$triage" analyze --only histogram "$dump"
    measure "triage analyze (full)" "$triage" analyze "$dump"
  fi
done
echo
echo "last full run:"
cat "$work/out.hprof graph+dominators+report" 2>/dev/null | tail -3 || true
