#!/usr/bin/env bash
# The test command (README.md): the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets --no-fail-fast "$@"
