#!/usr/bin/env bash
# Kubernetes reach benchmarks against the API-compatible test server (needs root):
#  1. copy-out of a 1 GB file from a pod: kube-reach's verified `cat` stream (the code path of
#     `triage pod cp`) vs `kubectl cp` (1.33), same server, same pod, side by side;
#  2. resolution + snapshot (objects, events, node, logs, /proc by exec) of 200 pods of one
#     Deployment with 20 ms injected API latency, bounded concurrency.
# Usage: bench/kube/run.sh   (prints the results; paste them into bench/kube/RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-kube}
KUBECTL=${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}
cargo build --release -q -p testcluster -p kube-reach --examples --bins
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d /tmp/triage-kube-bench.XXXXXX)
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "== copy-out of a 1 GiB file ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores) =="
"$BIN/triage-testcluster" --kubeconfig "$WORK/kc" \
  --pod 'big:head -c 1073741824 /dev/urandom > /tmp/big.bin; echo written; exec sleep 100000' 2>"$WORK/server.log" &
SERVER=$!
until grep -q written <(KUBECONFIG=$WORK/kc "$KUBECTL" logs big 2>/dev/null); do sleep 1; done
for round in 1 2; do
  rm -f "$WORK/out.kubectl" "$WORK/out.triage"
  echo "-- round $round"
  /usr/bin/time -f "kubectl cp: %e s elapsed, max RSS %M KiB" \
    env KUBECONFIG="$WORK/kc" KUBECACHEDIR="$WORK/cache" "$KUBECTL" cp big:/tmp/big.bin "$WORK/out.kubectl" 2>&1 | grep -v "tar: Removing"
  /usr/bin/time -f "triage (kube-reach verified cat): %e s elapsed, max RSS %M KiB" \
    "$BIN/examples/kube_copy" "$WORK/kc" big /tmp/big.bin "$WORK/out.triage" 2>&1
  cmp "$WORK/out.kubectl" "$WORK/out.triage" && echo "outputs identical ($(stat -c %s "$WORK/out.triage") bytes)"
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
rm -f "$WORK"/out.*

echo
echo "== 200 pods, 20 ms injected latency per API call =="
"$BIN/triage-testcluster" --kubeconfig "$WORK/kc2" --latency-ms 20 \
  --pod 'many,app=many,deploy=many,replicas=200:echo up; exec sleep 100000' 2>"$WORK/server2.log" &
SERVER=$!
until [ -s "$WORK/kc2" ]; do sleep 0.5; done
for c in 1 16 32; do
  /usr/bin/time -f "  concurrency $c: %e s elapsed, max RSS %M KiB" "$BIN/examples/kube_snapshot_many" "$WORK/kc2" deploy/many "$c" 2>&1
done
