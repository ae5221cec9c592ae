#!/bin/sh
# Wall time of `triage snapshot --json --no-bundle --cpu-sample 0` against the classic tools run
# in sequence (`ps aux; free; df; lsblk; findmnt`), median of repeated runs, on this machine.
# Usage: bench/snapshot/run.sh            (needs hyperfine; builds the release binary first,
#        or TRIAGE=path/to/triage bench/snapshot/run.sh to use one already built)
set -eu
cd "$(dirname "$0")/../.."
command -v hyperfine >/dev/null || { echo "hyperfine is not installed (apt-get install -y hyperfine)" >&2; exit 1; }
bin="${TRIAGE:-}"
if [ -z "$bin" ]; then
  cargo build --release -p triage >&2
  bin="${CARGO_TARGET_DIR:-target}/release/triage"
fi
out="${1:-bench/snapshot/hyperfine.json}"

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(ls /proc | grep -c '^[0-9]') processes, $(wc -l < /proc/self/mountinfo) mounts" >&2
hyperfine --warmup 5 --runs 40 --export-json "$out" \
    -n "triage snapshot --json --no-bundle --cpu-sample 0" \
    "$bin snapshot --json --no-bundle --cpu-sample 0" \
    -n "ps aux; free; df; lsblk; findmnt" \
    "sh -c 'ps aux; free; df; lsblk; findmnt'"
# The same with the bundle written (collection + raw copies + zstd), for reference.
tmp=$(mktemp -d)
hyperfine --warmup 3 --runs 20 --prepare "rm -f $tmp/b.tar.zst" \
    -n "triage snapshot --json --cpu-sample 0 --out bundle" \
    "$bin snapshot --json --cpu-sample 0 --out $tmp/b.tar.zst"
rm -rf "$tmp"
