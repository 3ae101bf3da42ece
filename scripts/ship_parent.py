"""Copy trained parent weights into resources/ with the manifest the engine checks (sha256).

.venv/bin/python scripts/ship_parent.py runs/parent/parent_lite0.pt
.venv/bin/python scripts/ship_parent.py --large runs/lite2all/p_40min.pt   (the larger parent)
"""

import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.model.build import (  # noqa: E402
    DEFAULT_PARENT_WEIGHTS,
    LARGE_PARENT_WEIGHTS,
    load_checkpoint,
)


def main() -> int:
    large = sys.argv[1] == "--large"
    src = Path(sys.argv[-1])
    target = LARGE_PARENT_WEIGHTS if large else DEFAULT_PARENT_WEIGHTS
    payload = load_checkpoint(src)
    shutil.copyfile(src, target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    extra = payload.get("extra", {})
    manifest = {
        "file": target.name,
        "sha256": digest,
        "backbone": payload["backbone"],
        "dtype": "float16",
        "steps": int(extra.get("step", 0)),
        "training_minutes": round(float(extra.get("elapsed_s", 0)) / 60, 1),
        "data": "DAVIS-2016 train split (30 sequences, every second frame: 1,044 frames)",
        "size_bytes": target.stat().st_size,
    }
    target.with_suffix(".json").write_text(json.dumps(manifest, indent=1) + "\n")
    sys.stdout.write(json.dumps(manifest, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
