"""Test-wide set-up: headless Qt (before any Qt import) and a small, fixed torch thread count."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

# One thread: test workloads are tiny images, and a second busy-waiting OpenMP thread competes
# with the Qt thread (and with anything else running on a 2-core machine).
torch.set_num_threads(1)
