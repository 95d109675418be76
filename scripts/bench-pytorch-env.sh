#!/usr/bin/env bash
# `npm run bench:pytorch-env`: the Python environment of the benches' outside references, in
# .bench-venv/ (gitignored): torch, sentence-transformers (bench train's PyTorch step,
# bench/pytorch/full_step.py) and faiss-cpu, installed from the machine's package index
# (PIP_INDEX_URL, default file:///opt/pypi/simple; set PIP_INDEX_URL=https://pypi.org/simple to use
# PyPI). `synthtune bench train` finds .bench-venv/bin/python by itself (or SYNTHTUNE_BENCH_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-.bench-venv}"
index="${PIP_INDEX_URL:-file:///opt/pypi/simple}"
command -v python3 >/dev/null || { echo "bench:pytorch-env: python3 is not installed" >&2; exit 1; }
[ -x "$dir/bin/python" ] || python3 -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --retries 0 --timeout 30 --index-url "$index" \
  torch sentence-transformers faiss-cpu
"$dir/bin/python" -c 'import torch, sentence_transformers, faiss; print("torch", torch.__version__, "| sentence-transformers", sentence_transformers.__version__, "| faiss", faiss.__version__)'
echo "ready: $(cd "$dir" && pwd)/bin/python (bench train uses it; or export SYNTHTUNE_BENCH_PYTHON=$(cd "$dir" && pwd)/bin/python)"
