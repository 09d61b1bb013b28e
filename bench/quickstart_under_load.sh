#!/usr/bin/env bash
# The product's own answer under load (docs/benchmarks.md, "The verified speed-up under load"):
# `sttune search recipes/quickstart.yaml` once while two busy loops burn both cores, once without
# them; prints the exported speed-up, its interval, the work fraction and the work ceiling.
#   bench/quickstart_under_load.sh [OUT_DIR]       (default: a new temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
sttune="${STTUNE:-$repo/.venv/bin/sttune}"
out="${1:-$(mktemp -d)}"
for mode in burn quiet; do
  run="$out/$mode"
  rm -rf "$run"
  mkdir -p "$run"
  pids=()
  if [[ $mode == burn ]]; then
    for _ in 1 2; do python3 -c "while True: pass" & pids+=($!); done
  fi
  start=$(date +%s)
  (cd "$run" && "$sttune" search "$repo/recipes/quickstart.yaml" --run-dir "$run/run" > "$run/log" 2>&1) || true
  (( ${#pids[@]} )) && kill "${pids[@]}"
  echo "$mode: wall $(( $(date +%s) - start )) s"
  python3 - "$run/run/best/synthetic.json" "$mode" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))["chosen"]
f = c["work_fraction"]
print(f"{sys.argv[2]}: trial {c['trial']} {c['label']}: verified {c['speedup']:.3f}x {c.get('speedup_interval')}, "
      f"work {f:.3f}, ceiling {1 / f:.3f}x, verified / ceiling {c['speedup'] * f:.3f}, "
      f"as measured in the search {c['speedup_measured_in_search']:.3f}x")
PY
done
