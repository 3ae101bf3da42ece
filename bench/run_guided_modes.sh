#!/usr/bin/env bash
# The issue #12 table: plain OSVOS and each guided mode at Fast and Balanced on the dev split,
# box input, and online rounds. One run at a time (timings are whole-process s/frame);
# summaries in bench/out/<label>/summary.json. Run nothing else meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/davis2016-dev}
run() { .venv/bin/python bench/davis_bench.py --data "$DATA" "$@" | tail -1; }
for q in ${QUALITIES:-0 0.5}; do
  run --quality $q --label "osvos_q$q"
  run --quality $q --label "refine_q$q" --extra "--mode refine"
  run --quality $q --label "propagate_q$q" --extra "--mode propagate"
done
.venv/bin/python bench/box_prompt_bench.py --data "$DATA" --json bench/out/box_prompt.json | tail -1
run --quality 0.5 --first box --label "box_osvos_q0.5"
run --quality 0.5 --first box --label "box_propagate_q0.5" --extra "--mode propagate"
run --quality 0 --label "online2_q0" --extra "--online 2"
