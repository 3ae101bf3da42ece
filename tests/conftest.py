"""Test-wide set-up: headless Qt (before any Qt import) and a small, fixed torch thread count."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))
