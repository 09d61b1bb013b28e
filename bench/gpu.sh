#!/usr/bin/env bash
# The GPU headline set (bench/gpu.py) in one command, within 8 minutes on one H100/H200:
#   bench/gpu.sh OUT_DIR [--repeats 3] [--budget-minutes 7.5]    writes OUT_DIR/gpu_headlines.json
#   bench/gpu.sh OUT_DIR --dry                                    seconds on a CPU (tests run this)
# Python: $STTUNE_PYTHON, else .venv/bin/python, else python3 (a machine with a CUDA torch). The
# built-in plugins load through entry points: without them, sttune is installed in place, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${STTUNE_PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
fi
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(not m.entry_points(group='sttune.models'))" 2>/dev/null; then
  "$py" -m pip install -q --no-deps --no-build-isolation --no-index -e . >&2
fi
export PYTHONUNBUFFERED=1
exec "$py" bench/gpu.py "$@"
