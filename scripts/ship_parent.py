"""Copy trained parent weights into resources/ with the manifest the engine checks (sha256).

.venv/bin/python scripts/ship_parent.py runs/parent/parent_lite0.pt
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.model.build import DEFAULT_PARENT_WEIGHTS, load_checkpoint  # noqa: E402


def main() -> int:
    src = Path(sys.argv[1])
    payload = load_checkpoint(src)
    shutil.copyfile(src, DEFAULT_PARENT_WEIGHTS)
    digest = hashlib.sha256(DEFAULT_PARENT_WEIGHTS.read_bytes()).hexdigest()
    extra = payload.get("extra", {})
    manifest = {
        "file": DEFAULT_PARENT_WEIGHTS.name,
        "sha256": digest,
        "backbone": payload["backbone"],
        "dtype": "float16",
        "steps": int(extra.get("step", 0)),
        "training_minutes": round(float(extra.get("elapsed_s", 0)) / 60, 1),
        "data": "DAVIS-2016 train split (30 sequences, every second frame: 1,044 frames)",
        "size_bytes": DEFAULT_PARENT_WEIGHTS.stat().st_size,
    }
    DEFAULT_PARENT_WEIGHTS.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    sys.stdout.write(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
