#!/usr/bin/env bash
# The GPU headline set (bench/gpu.py) in one command, within 8 minutes on one H100/H200:
#   bench/gpu.sh OUT_DIR [--repeats 3] [--budget-minutes 7.5]    writes OUT_DIR/gpu_headlines.json
#   bench/gpu.sh OUT_DIR --dry                                    seconds on a CPU (tests run this)
# STemDist's claim at its authors' full settings (bench/stemdist_authors.py --settings authors;
# hours, not minutes: MTGNN, 100 outer iterations of 20 rounds, 400 evaluation epochs, 3 datasets x 3 seeds):
#   bench/gpu.sh OUT_DIR --stemdist-authors [--datasets los_loop] [--seeds 0] [--full-epochs 100]
#   bench/gpu.sh OUT_DIR --stemdist-authors --dry                 seconds on a CPU (tests run this)
#                                                                 writes OUT_DIR/stemdist_authors*.json
# Python: $STTUNE_PYTHON, else .venv/bin/python, else python3 (a machine with a CUDA torch). The
# built-in plugins load through entry points: without them, sttune is installed in place, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${STTUNE_PYTHON:-}"
if [[ -z "$py" ]]; then
  if [[ -x .venv/bin/python ]]; then py=.venv/bin/python; else py=python3; fi
fi
out="${1:?usage: bench/gpu.sh OUT_DIR [--stemdist-authors] [options]}"
shift
authors=0
dry=0
rest=()
for arg in "$@"; do
  case "$arg" in
    --stemdist-authors) authors=1 ;;
    --dry) dry=1; rest+=("$arg") ;;
    *) rest+=("$arg") ;;
  esac
done
# the models a run needs must be installed entry points (the authors' run needs mtgnn; a dry run uses stid)
need="stid"
if [[ "$authors" == 1 && "$dry" == 0 ]]; then need="mtgnn"; fi
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit('$need' not in {e.name for e in m.entry_points(group='sttune.models')})" 2>/dev/null; then
  "$py" -m pip install -q --no-deps --no-build-isolation --no-index -e . >&2
fi
export PYTHONUNBUFFERED=1
if [[ "$authors" == 1 ]]; then
  settings=(--settings authors)
  exec "$py" bench/stemdist_authors.py "${settings[@]}" --out-dir "$out" ${rest[@]+"${rest[@]}"}
fi
exec "$py" bench/gpu.py "$out" ${rest[@]+"${rest[@]}"}
