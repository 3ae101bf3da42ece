"""bench/error_shares.py: a grown mask shows as false positives, a shrunk one as misses."""

import numpy as np

from bench.error_shares import error_shares
from core.export import write_png_atomic


def _write(folder, masks):
    folder.mkdir(parents=True)
    for i, m in enumerate(masks):
        write_png_atomic(folder / f"{i:05d}.png", m.astype(np.uint8) * 255)


def test_grown_and_shrunk_masks(tmp_path):
    truth = np.zeros((40, 40), bool)
    truth[10:30, 10:30] = True  # 400 px
    grown = np.zeros_like(truth)
    grown[10:30, 10:40] = True  # 200 px too many
    shrunk = np.zeros_like(truth)
    shrunk[10:30, 10:20] = True  # 200 px missed
    _write(tmp_path / "gt", [truth] * 4)
    # First and last frame are left out, as in the DAVIS score: only frames 1 and 2 count.
    _write(tmp_path / "grown", [shrunk, grown, grown, shrunk])
    _write(tmp_path / "shrunk", [grown, shrunk, shrunk, grown])
    assert error_shares(tmp_path / "grown", tmp_path / "gt") == (0.5, 0.0)
    assert error_shares(tmp_path / "shrunk", tmp_path / "gt") == (0.0, 0.5)
