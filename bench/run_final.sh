#!/usr/bin/env bash
# Last part of the benchmark queue (time-boxed session): quality 0.5 and 1 on a fixed subset of the
# dev split (the five shortest sequences), learning curve, UI responsiveness, screenshot.
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/davis2016-dev}
PY=.venv/bin/python
run() {
    local label=$1; shift
    echo "== $label $(date +%H:%M:%S)"
    $PY bench/davis_bench.py --data "$DATA" --label "$label" "$@" > "bench/out/$label.log" 2>&1
    tail -1 "bench/out/$label.log"
}
SUBSET=blackswan,car-shadow,drift-chicane,motocross-jump,scooter-black
run parent_q0.5_subset5 --quality 0.5 --sequences $SUBSET
for m in 15 60; do
    run "parent${m}min_alone" --steps 0 --weights "runs/parent/parent_lite0_${m}min.pt"
done
echo "== ui $(date +%H:%M:%S)"
QT_QPA_PLATFORM=offscreen $PY bench/ui_responsiveness.py > bench/out/ui.log 2>&1; tail -14 bench/out/ui.log
echo "== screenshot $(date +%H:%M:%S)"
xvfb-run -a -s "-screen 0 1600x1000x24" $PY scripts/screenshot.py docs/screenshot.png > bench/out/screenshot.log 2>&1
run parent_q1_subset5 --quality 1 --sequences $SUBSET
