#!/usr/bin/env bash
# Side-by-side: `triage analyze cpu.pb.gz` (top table) vs `go tool pprof -top` on the same large
# synthetic CPU profile (many functions, deep and varied stacks, inlined frames), in one hyperfine run.
# Also checks that both print the same rows before timing them.
#
# Usage: bench/pprof/run.sh [STACKS] [FUNCTIONS] [MAX_DEPTH]   (defaults: 250000 20000 64)
set -euo pipefail
cd "$(dirname "$0")/../.."
STACKS=${1:-250000}
FUNCTIONS=${2:-20000}
DEPTH=${3:-64}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
WORK=$(mktemp -d /tmp/triage-bench-pprof.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p triage
cargo build --release -q -p pprofile --example synth_profile
TRIAGE="$CARGO_TARGET_DIR/release/triage"
"$CARGO_TARGET_DIR/release/examples/synth_profile" "$WORK/cpu.pb.gz" "$STACKS" "$FUNCTIONS" "$DEPTH"
PPROF="$(go env GOTOOLDIR)/pprof"

echo "== machine"
nproc; grep -m1 'model name' /proc/cpuinfo || true
"$TRIAGE" --version; go version
echo "== profile"
ls -l "$WORK/cpu.pb.gz"
echo "uncompressed bytes: $(gzip -dc "$WORK/cpu.pb.gz" | wc -c)"

echo "== same rows?"
rows() { awk '/flat%  *sum%/{t=1;next} t&&NF>=6{print}' ; }
"$TRIAGE" analyze "$WORK/cpu.pb.gz" | rows > "$WORK/ours.txt"
go tool pprof -top "$WORK/cpu.pb.gz" 2>/dev/null | rows > "$WORK/theirs.txt"
if diff -q "$WORK/ours.txt" "$WORK/theirs.txt" >/dev/null; then
  echo "identical: $(wc -l < "$WORK/ours.txt") rows"
else
  echo "ROWS DIFFER"; diff "$WORK/ours.txt" "$WORK/theirs.txt" | head -20; exit 1
fi

echo "== timing"
hyperfine --warmup 1 --runs "${RUNS:-5}" \
  -n "triage analyze (top)" "$TRIAGE analyze $WORK/cpu.pb.gz" \
  -n "go tool pprof -top" "go tool pprof -top $WORK/cpu.pb.gz" \
  -n "pprof -top (tool binary directly)" "$PPROF -top $WORK/cpu.pb.gz" \
  --output=null --export-markdown "$WORK/hyperfine.md"
cat "$WORK/hyperfine.md"
