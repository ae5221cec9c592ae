#!/usr/bin/env bash
# The test command (README.md): every test of the workspace.
#
# With cargo-nextest installed (it is on a fresh machine of this kind) each test runs in its own
# process under the time limits of .config/nextest.toml, so a hung test fails alone instead of
# stalling the run; the benchmarks are then smoke-run once each and the doc examples are compiled
# and run. Without nextest, plain `cargo test` runs the same targets.
set -euo pipefail
cd "$(dirname "$0")/.."
if cargo nextest --version >/dev/null 2>&1; then
  status=0
  cargo nextest run --workspace --lib --bins --tests --examples --no-fail-fast "$@" || status=$?
  # Benchmarks in test mode: each benchmark body runs once, so they cannot rot.
  cargo test --workspace --benches --no-fail-fast "$@" || status=$?
  cargo test --workspace --doc --no-fail-fast "$@" || status=$?
  exit "$status"
fi
exec cargo test --workspace --all-targets --no-fail-fast "$@"
