#!/usr/bin/env bash
# Kubernetes reach benchmarks against the API-compatible test server (needs root), with the
# release `triage` binary itself:
#  1. copy-out of a 1 GiB file from a pod: `triage pod cp` (a `cat` stream checked against the
#     sha256 the pod computes, written with direct I/O) vs `kubectl cp` (1.33, a `tar` stream, no
#     check), same server, same pod, side by side, three rounds, with user and system CPU times;
#  2. `triage snapshot` (resolution, objects, events, node, logs, /proc by exec, bundle) of 200
#     pods of one Deployment with 20 ms injected latency on every API call, by --parallel;
#  3. fan-out scaling: 1, 20 and 200 pods at the default --parallel 8, same latency.
# Usage: bench/kube/run.sh   (prints the results; paste them into bench/kube/RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-release}
KUBECTL=${KUBECTL:-/usr/lib/google-cloud-sdk/bin/kubectl.1.33}
cargo build --release -q -p triage -p testcluster
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d /var/tmp/triage-kube-bench.XXXXXX)
cleanup() { [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
TIME=/usr/bin/time

echo "== copy-out of a 1 GiB file ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)) =="
"$BIN/triage-testcluster" --kubeconfig "$WORK/kc" \
  --pod 'big:head -c 1073741824 /dev/urandom > /tmp/big.bin; echo written; exec sleep 100000' 2>"$WORK/server.log" &
SERVER=$!
until [ -s "$WORK/kc" ] && grep -q written <(KUBECONFIG=$WORK/kc "$KUBECTL" logs big 2>/dev/null); do sleep 1; done
for round in 1 2 3; do
  rm -f "$WORK/out.kubectl" "$WORK/out.triage"
  echo "-- round $round"
  $TIME -f "kubectl cp: %e s elapsed (user %U s, sys %S s), max RSS %M KiB" \
    env KUBECONFIG="$WORK/kc" KUBECACHEDIR="$WORK/cache" "$KUBECTL" cp big:/tmp/big.bin "$WORK/out.kubectl" 2>&1 | grep -v "tar: Removing"
  $TIME -f "triage pod cp: %e s elapsed (user %U s, sys %S s), max RSS %M KiB" \
    "$BIN/triage" -q pod cp pod/big:/tmp/big.bin "$WORK/out.triage" --kubeconfig "$WORK/kc" 2>&1 >/dev/null
  cmp "$WORK/out.kubectl" "$WORK/out.triage" && echo "outputs identical ($(stat -c %s "$WORK/out.triage") bytes)"
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
rm -f "$WORK"/out.*

echo
echo "== triage snapshot of many pods, 20 ms injected latency per API call =="
"$BIN/triage-testcluster" --kubeconfig "$WORK/kc2" --latency-ms 20 \
  --pod 'many,app=many,deploy=many,replicas=200:echo up; exec sleep 100000' \
  --pod 'twenty,app=twenty,deploy=twenty,replicas=20:echo up; exec sleep 100000' 2>"$WORK/server2.log" &
SERVER=$!
until [ -s "$WORK/kc2" ]; do sleep 0.5; done
sleep 2
snap() { # label target parallel
  rm -f "$WORK/b.tar.zst"
  $TIME -f "  $1: %e s elapsed, max RSS %M KiB" \
    "$BIN/triage" -q snapshot "$2" --parallel "$3" --timeout 60s --kubeconfig "$WORK/kc2" \
    --out "$WORK/b.tar.zst" 2>&1 >/dev/null
}
echo "-- 200 pods (deploy/many) by --parallel"
for p in 8 16 32; do snap "200 pods, --parallel $p" deploy/many "$p"; done
echo "-- scaling at the default --parallel 8"
snap "1 pod" pod/many-0 8
snap "20 pods" deploy/twenty 8
snap "200 pods" deploy/many 8
