"""Print a markdown table of every bench/out/<label>/summary.json (for docs/BENCHMARKS.md)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    rows = []
    for path in sorted((ROOT / "bench" / "out").glob("*/summary.json")):
        s = json.loads(path.read_text())
        rows.append(s)
    print("| run | weights | quality | steps | gate | J | F | J&F | s/frame | total s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in rows:
        print(
            f"| {s['label']} | {s['weights']} | {s['quality']} | {s.get('steps')} | {s.get('gate')} | {s['J']} | {s['F']} | {s['JF']} | {s['s_per_frame']} | {s['total_s']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
