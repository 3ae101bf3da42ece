"""Fewer torch threads while other processes keep the cores busy."""

import subprocess
import sys
import time

import pytest

from core.cpu_load import OtherProcessesLoad, threads_for


def test_threads_for_leaves_the_busy_cores_alone():
    assert threads_for(2, 0.0) == 2
    assert threads_for(2, 0.3) == 2  # a little background work: keep both
    assert threads_for(2, 0.7) == 1
    assert threads_for(2, 2.0) == 1  # never fewer than one
    assert threads_for(8, 3.2) == 5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_busy_process_beside_us_is_seen():
    load = OtherProcessesLoad()
    assert load.sample(min_interval_s=10.0) is None  # too soon to say
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)
        load.sample(min_interval_s=0.0)  # start the interval with the child running
        time.sleep(0.8)
        others = load.sample()
    finally:
        busy.kill()
        busy.wait()
    assert others is not None and 0.5 < others < 2.5
