#!/usr/bin/env bash
# One-command setup: a project-local Python with PyTorch 2.11.0 (the libtorch that tch 0.24.0
# is built for), and a stable link `.libtorch` to its torch package, which `.cargo/config.toml`
# hands to torch-sys as LIBTORCH. Idempotent: a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
PYTHON=${PYTHON:-python3}
VENV=.venv
# Python packages the project needs: torch is the libtorch both sides run; numpy silences
# torch's warning; scikit-learn ships the real data sets; safetensors reads/writes checkpoints.
PACKAGES=("torch==${TORCH_VERSION}" numpy scikit-learn safetensors)

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

have() {
  "$VENV/bin/python" - "$TORCH_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as md
want = sys.argv[1]
try:
    ok = md.version("torch").split("+")[0] == want
    for p in ("numpy", "scikit-learn", "safetensors"):
        md.version(p)
except md.PackageNotFoundError:
    ok = False
sys.exit(0 if ok else 1)
PY
}

if ! have; then
  echo "setup: installing ${PACKAGES[*]} into $VENV (about 5 GB, a minute or two)"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PACKAGES[@]}"
fi

torch_dir=$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
# A relative link, so that the checkout can move.
rel=$("$VENV/bin/python" -c 'import os, sys; print(os.path.relpath(sys.argv[1]))' "$torch_dir")
if [ "$(readlink .libtorch 2>/dev/null)" != "$rel" ]; then
  ln -sfn "$rel" .libtorch
fi

# The real data sets for `classify`, converted once from scikit-learn into plain files.
if [ ! -f data/digits.csv ] || [ ! -f data/breast_cancer.csv ]; then
  "$VENV/bin/python" scripts/make_datasets.py --out data --quiet
fi

echo "setup: ok: torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)') at .libtorch"
