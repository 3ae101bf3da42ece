#!/usr/bin/env bash
# Every DAVIS-2016 dev-split benchmark behind docs/BENCHMARKS.md, one after another (CPU-bound:
# run nothing else meanwhile). Summaries land in bench/out/<label>/summary.json, logs beside.
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/davis2016-dev}
PY=.venv/bin/python
run() {  # label, then davis_bench.py arguments
    local label=$1; shift
    echo "== $label $(date +%H:%M:%S)"
    $PY bench/davis_bench.py --data "$DATA" --label "$label" "$@" > "bench/out/$label.log" 2>&1
    tail -1 "bench/out/$label.log"
}
mkdir -p bench/out
for stage in ${STAGES:-main}; do
  case $stage in
    main)
      run copy-first --baseline copy-first
      run parent_q0 --quality 0
      echo "== snapping $(date +%H:%M:%S)"; $PY bench/snap_bench.py --data "$DATA" --pred bench/out/parent_q0 > bench/out/snap.log 2>&1; tail -1 bench/out/snap.log
      run parent_alone --steps 0 --quality 0
      run imagenet_q0 --weights imagenet --quality 0
      run parent_q0_nogate --quality 0 --gate 0
      run parent_q0.5 --quality 0.5
      run parent_q1 --quality 1
      ;;
    curve)
      for m in 15 30 60; do
        run "parent${m}min_q0" --quality 0 --weights "runs/parent/parent_lite0_${m}min.pt"
      done
      ;;
  esac
done
