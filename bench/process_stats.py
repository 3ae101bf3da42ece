"""What a benchmark reads about its own process."""

from __future__ import annotations

import resource


def rss_mb() -> float:
    """Resident memory of this process now, in MB (from /proc: the whole app, Qt and torch)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6
