#!/usr/bin/env bash
# Redaction throughput (default rules, log-like text, one thread) and the false-positive rate
# on this machine's real files. Paste the output into RESULTS.md with the date.
#   bench/redact/run.sh            # throughput example + false-positive test
#   CRITERION=1 bench/redact/run.sh   # also the criterion bench (crates/redact/benches)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
echo "date: $(date -u +%F)  cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)  cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
cargo run --release -q -p redact --example throughput -- "${MIB:-64}"
cargo test -q -p redact --test false_positives -- --nocapture 2>&1 | grep -E " lines \(|false positives:"
if [ "${CRITERION:-0}" = 1 ]; then
    cargo bench -p redact --bench redact 2>&1 | grep -E "^redact/|time:|thrpt:"
fi
