#!/usr/bin/env bash
# The DAVIS-2016 dev-split and app benchmarks behind docs/BENCHMARKS.md, one after another
# (CPU-bound: run nothing else meanwhile). Summaries land in bench/out/<label>/summary.json.
#   bench/run_all.sh                 # everything below
#   STAGES="q0 subset" bench/run_all.sh
set -u
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/davis2016-dev}
PY=.venv/bin/python
SUBSET=blackswan,car-shadow,drift-chicane,motocross-jump,scooter-black  # five shortest sequences
REST=breakdance,cows,goat,paragliding-launch,parkour  # the other five (quality 1 in two halves)
run() {  # label, then davis_bench.py arguments
    local label=$1; shift
    echo "== $label $(date +%H:%M:%S)"
    $PY bench/davis_bench.py --data "$DATA" --label "$label" "$@" > "bench/out/$label.log" 2>&1
    tail -1 "bench/out/$label.log"
}
mkdir -p bench/out
for stage in ${STAGES:-q0 imagenet gate snap curve subset slow ui}; do
    case $stage in
        q0)
            run copy-first --baseline copy-first
            run parent_alone --steps 0 --quality 0
            run parent_q0 --quality 0
            run imagenet_q0 --weights imagenet --quality 0
            ;;
        imagenet)  # the OSVOS ablation at the slow settings: no parent, same fine-tunes
            run imagenet_q0.5 --weights imagenet --quality 0.5
            run imagenet_q1_subset5 --weights imagenet --quality 1 --sequences $SUBSET
            run imagenet_q1_rest5 --weights imagenet --quality 1 --sequences $REST
            ;;
        gate)
            run parent_q0_gate0 --quality 0 --gate 0
            ;;
        snap)
            $PY bench/snap_bench.py --data "$DATA" --pred bench/out/parent_q0 | tail -1
            ;;
        curve)
            for m in 15 30 60; do
                run "parent${m}min_alone" --steps 0 --weights "runs/parent/parent_lite0_${m}min.pt"
                run "parent${m}min_q0" --quality 0 --weights "runs/parent/parent_lite0_${m}min.pt"
            done
            ;;
        subset)
            run parent_q0.5_subset5 --quality 0.5 --sequences $SUBSET
            run parent_q1_subset5 --quality 1 --sequences $SUBSET
            ;;
        slow)
            run parent_q0.5 --quality 0.5
            run parent_q1_rest5 --quality 1 --sequences $REST  # + parent_q1_subset5 = all ten
            ;;
        ui)
            QT_QPA_PLATFORM=offscreen $PY bench/ui_responsiveness.py | tail -14
            xvfb-run -a -s "-screen 0 1600x1000x24" $PY scripts/screenshot.py docs/screenshot.png
            ;;
    esac
done
