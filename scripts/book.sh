#!/usr/bin/env bash
# Builds the book in both languages (book/zh, book/en) into book/build/, with the pictures the
# programs draw, and with --check opens every chapter in headless Chromium: no include left,
# no page or image that does not load (404), and a screenshot of one chapter per language
# (book/build/screenshots/). Installs what it needs when it is missing: a pinned mdbook
# (cargo install --locked, into .tools/, not committed) and, for --check, Debian's chromium
# and a CJK font. The commands and outputs the chapters show are checked by tests/book.rs.
set -euo pipefail
cd "$(dirname "$0")/.."

MDBOOK_VERSION=0.5.4
MDBOOK=.tools/mdbook/bin/mdbook
check=false
[ "${1:-}" = "--check" ] && check=true

if ! "$MDBOOK" --version 2>/dev/null | grep -qx "mdbook v$MDBOOK_VERSION"; then
  echo "book: installing mdbook $MDBOOK_VERSION into .tools/mdbook (about a minute on 2 cores)"
  cargo install --quiet --locked --version "$MDBOOK_VERSION" mdbook \
    --no-default-features --features search --root .tools/mdbook
fi

# The pictures, drawn by the programs themselves into each book's src/img/ (not committed).
cargo build --release --quiet --bin activations --bin autograd_demo --bin classify
[ -e data/digits.csv ] || scripts/setup.sh
img=book/zh/src/img
mkdir -p "$img" book/en/src/img
target/release/activations --plot "$img/activations.png" > /dev/null
target/release/autograd_demo --graph "$img/autograd_graph.png" > /dev/null
target/release/classify --dataset digits --plot "$img/classify.png" > /dev/null
cp "$img"/*.png book/en/src/img/

for language in zh en; do
  "$MDBOOK" build book/"$language" 2>&1 | grep -v '^ INFO' || true
  [ -f book/build/"$language"/index.html ] || { echo "book: $language was not built" >&2; exit 1; }
done
echo "book: built book/build/zh/index.html and book/build/en/index.html"

if $check; then
  if ! command -v chromium > /dev/null || ! fc-list :lang=zh | grep -q .; then
    echo "book: installing Debian's chromium and fonts-noto-cjk"
    apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk > /dev/null \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-noto-cjk > /dev/null; }
  fi
  .venv/bin/python scripts/book_check.py book/build
fi
