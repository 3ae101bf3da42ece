"""Where prediction folders go wrong: per sequence, the pixels marked object that are not
(false positives) and the object pixels missed, each as a share of the true object's area,
summed over the frames the DAVIS score counts (core.metrics.counted_pairs). Tells a mask that
grew (false positives up, misses down) from one that lost parts, which J&F alone does not.

    .venv/bin/python bench/error_shares.py --data ../shared/data/davis2016-dev \
        bench/out/osvos_q0.5 bench/out/online2_q0.5_now

Each folder holds `<sequence>/<frame>.png` as `main.py segment` and `bench/davis_bench.py`
write them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.davis_split import davis_sequences  # noqa: E402
from core.metrics import counted_pairs, read_pair  # noqa: E402


def error_shares(predicted: Path, truth: Path) -> tuple[float, float]:
    """(false-positive share, missed share) of a sequence's prediction folder against its
    ground-truth folder, both shares of the true object area in [0, inf)."""
    false_pos = missed = area = 0
    for pred, gt in counted_pairs(*read_pair(predicted, truth, truth.name)):
        false_pos += int(np.count_nonzero(pred & ~gt))
        missed += int(np.count_nonzero(gt & ~pred))
        area += int(np.count_nonzero(gt))
    return false_pos / max(1, area), missed / max(1, area)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="DAVIS-layout folder")
    parser.add_argument("folders", nargs="+", help="prediction folders to compare")
    args = parser.parse_args()
    _, gt_root, sequences = davis_sequences(args.data)
    folders = [Path(f) for f in args.folders]
    print(f"{'sequence':<22}" + "".join(f"  {f.name[:24]:>24}" for f in folders))
    print(f"{'':<22}" + "  false pos / missed     " * len(folders))
    for seq in sequences:
        cells = [error_shares(f / seq, gt_root / seq) for f in folders]
        print(f"{seq:<22}" + "".join(f"  {fp:>11.3f} / {miss:<10.3f}" for fp, miss in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
