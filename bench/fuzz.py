"""The long fuzzing run (issue #15): the property tests of tests/fuzz with many more cases.

    .venv/bin/python bench/fuzz.py --examples 3200     # 3 x 3200 loader cases + 800 command lines

Prints the number of cases each property ran (hypothesis' statistics) and pytest's verdict;
the numbers go into docs/RELIABILITY.md. The suite runs the same properties with 80 cases each.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=3200, help="cases per loader property")
    args = parser.parse_args()
    env = dict(os.environ, ROTOSHOT_FUZZ_EXAMPLES=str(args.examples), QT_QPA_PLATFORM="offscreen")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:warnings", "tests/fuzz",
         "--hypothesis-show-statistics"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    output = result.stdout + result.stderr
    total = 0
    pattern = r"::(test_\w+):\n(?:(?!::test_).)*?(\d+) passing"
    for name, passing in re.findall(pattern, output, re.S):
        print(f"{name}: {passing} cases passed")
        total += int(passing)
    print(
        f"total: {total} cases in {time.perf_counter() - started:.0f} s; pytest exit {result.returncode}"
    )
    if result.returncode != 0:
        sys.stdout.write(output[-6000:])
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
