#!/usr/bin/env bash
# All the tests: setup if needed, format and lint checks, `cargo doc`, `cargo test` (the doc tests
# included), the parity check.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --check
echo "== cargo clippy"
cargo clippy --release --all-targets --quiet -- -D warnings
echo "== cargo doc (no warning allowed)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
echo "== cargo test"
# --release: the parity check runs the same optimised binaries, and one build serves both.
cargo test --release --lib --bins --tests -- --skip every_bad_input_fails_cleanly
echo "== doc tests (the library's runnable examples)"
cargo test --release --doc
echo "== bad-input matrix"
cargo test --release --test bad_input every_bad_input_fails_cleanly -- --nocapture
echo "== parity check (Rust against scripts/reference.py)"
.venv/bin/python scripts/parity.py --self-test
.venv/bin/python scripts/parity.py
