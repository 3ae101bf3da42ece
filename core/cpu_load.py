"""How busy the CPU is with other processes' work, and how many torch threads that leaves us.

torch's intra-op threads wait for each other at every parallel region; when another process
holds a core, the thread on it is descheduled and the others wait, so on a shared machine fewer
threads finish sooner (measured: docs/BENCHMARKS.md "The app at every preset"). The engine asks,
before each run and as it segments, how many cores the rest of the machine is using, and uses
only the free ones.

Linux only (/proc); elsewhere the sampler reports nothing and the thread count is left alone.
"""

from __future__ import annotations

import os
import time


def threads_for(max_threads: int, others_busy_cores: float) -> int:
    """Torch threads to use: `max_threads` less the cores other processes keep busy (rounded
    to the nearest core), at least one."""
    return max(1, min(max_threads, max_threads - int(others_busy_cores + 0.5)))


def _total_busy_jiffies() -> int | None:
    """Busy clock ticks of all CPUs since boot (/proc/stat: everything but idle and iowait)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def _own_jiffies() -> int | None:
    """Clock ticks this process (all its threads) has run since it started."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class OtherProcessesLoad:
    """Cores kept busy by other processes, averaged since the previous `sample()`."""

    def __init__(self) -> None:
        self._ticks_per_s = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._last = self._read()

    def _read(self) -> tuple[float, int, int] | None:
        total, own = _total_busy_jiffies(), _own_jiffies()
        if total is None or own is None:
            return None
        return time.monotonic(), total, own

    def sample(self, min_interval_s: float = 0.2) -> float | None:
        """Busy cores used by others since the last sample (None when unknown, or when less
        than `min_interval_s` has passed: too short to say)."""
        now = self._read()
        last = self._last
        if now is None or last is None or now[0] - last[0] < min_interval_s:
            return None
        self._last = now
        seconds = now[0] - last[0]
        others = (now[1] - last[1]) - (now[2] - last[2])
        return max(0.0, others / self._ticks_per_s / seconds)
