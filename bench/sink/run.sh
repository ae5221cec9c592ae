#!/usr/bin/env bash
# Upload throughput to a local S3-compatible server (moto), same 1 GiB file, side by side:
#   triage's upload path (crates/sink/examples/upload.rs: write_stream, 16 MiB parts, 2 in flight,
#   each part with x-amz-checksum-sha256)
#   vs `aws s3 cp` (python -m awscli: 8 MiB parts, 10 in flight by default).
# Needs: moto_server (pip install 'moto[server,s3]'), awscli (pip install awscli).
# Usage: bench/sink/run.sh   (prints the results; paste them into bench/sink/RESULTS.md)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-release}
cargo build --release -q -p sink --example upload
BIN=$CARGO_TARGET_DIR/release/examples/upload
WORK=$(mktemp -d /var/tmp/triage-sink-bench.XXXXXX)
cleanup() { [ -n "${MOTO:-}" ] && kill "$MOTO" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_server -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO=$!
until curl -s "http://127.0.0.1:$PORT/" >/dev/null; do sleep 0.3; done
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
  AWS_REGION=us-east-1 AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ENDPOINT=http://127.0.0.1:$PORT \
  AWS_ALLOW_HTTP=true AWS_VIRTUAL_HOSTED_STYLE_REQUEST=false
python3 -m awscli s3 mb s3://bench >/dev/null
head -c 1073741824 /dev/urandom > "$WORK/big.bin"
echo "== upload of a 1 GiB file to moto ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)) =="
for round in 1 2 3; do
  echo "-- round $round"
  /usr/bin/time -f "aws s3 cp: %e s elapsed (user %U s, sys %S s), max RSS %M KiB" \
    python3 -m awscli s3 cp --only-show-errors "$WORK/big.bin" "s3://bench/aws-$round.bin" 2>&1
  /usr/bin/time -f "triage upload path: %e s elapsed (user %U s, sys %S s), max RSS %M KiB" \
    "$BIN" "$WORK/big.bin" "s3://bench/triage-$round/" 2>&1
  python3 -m awscli s3 rm --only-show-errors "s3://bench/aws-$round.bin"
  python3 -m awscli s3 rm --only-show-errors --recursive "s3://bench/triage-$round/"
done
