#!/usr/bin/env bash
# All the tests: setup if needed, format and lint checks, `cargo doc`, `cargo test` (the doc tests
# included; tests/book.rs runs every command the book shows), the building blocks alone
# (`--no-default-features`) and from a dependent crate, the parity check, and the book built and
# opened in headless Chromium. Each step's time is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

TIMES=()
step() {
  local name=$1
  shift
  echo "== $name"
  local start=$SECONDS
  "$@"
  TIMES+=("$(printf '%5d s  %s' $((SECONDS - start)) "$name")")
}

# The building blocks alone: the short dependency list, and a crate that uses them with no
# environment variable (examples/dependent), its output equal to PyTorch's (its reference.py).
blocks_alone() {
  cargo check --release --lib --no-default-features --quiet
  echo "test: --no-default-features: $(cargo tree -e normal --no-default-features --prefix none | sort -u | wc -l) packages (default features: $(cargo tree -e normal --prefix none | sort -u | wc -l))"
  (cd examples/dependent && env -u LIBTORCH -u LD_LIBRARY_PATH cargo build --release --quiet --target-dir ../../target)
  diff <(env -u LD_LIBRARY_PATH target/release/dependent) <(.venv/bin/python examples/dependent/reference.py)
  echo "test: examples/dependent prints what PyTorch prints, bit for bit"
}

step "setup" scripts/setup.sh
step "cargo fmt --check" cargo fmt --check
step "cargo clippy" cargo clippy --release --all-targets --quiet -- -D warnings
step "cargo doc (no warning allowed)" env RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
# --release: the parity check runs the same optimised binaries, and one build serves both.
step "cargo test" cargo test --release --lib --bins --tests -- --skip every_bad_input_fails_cleanly
step "doc tests (the library's runnable examples)" cargo test --release --doc
step "bad-input matrix" cargo test --release --test bad_input every_bad_input_fails_cleanly -- --nocapture
step "the building blocks alone and from a dependent crate" blocks_alone
step "parity self-test" .venv/bin/python scripts/parity.py --self-test
step "parity check (Rust against scripts/reference.py)" .venv/bin/python scripts/parity.py
step "the book, built and opened in Chromium" scripts/book.sh --check
echo "== time per step"
printf '%s\n' "${TIMES[@]}"
