"""Torch vs ONNX Runtime for the frozen backbone, side by side in one process (issue #14).

    .venv/bin/python bench/backbone_backends.py [--sequence blackswan] [--repeats 15]

On one DAVIS dev frame, at 854x480 and at the 1080p working size 1024x576, times:
- one frame's network probabilities (`Segmenter.predict_image`: backbone and head) with each
  backend: torch fp32 (what a CPU without native bf16 ran before), torch bf16 (this CPU's
  torch path when it has AVX512-BF16), ONNX Runtime fp32 backbone with the torch head;
- encoding one training view through the frozen backbone: torch fp32 (what fine-tuning ran
  before) and ONNX Runtime;
- the one-off export and session start of a new shape;
and the largest difference in probability between each backend and torch fp32.
Prints min / median milliseconds over `--repeats` runs after two warm-ups, and the CPU.
Whole-process J&F and s/frame come from bench/davis_bench.py with `--extra "--backend NAME"`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _timed(fn, repeats: int) -> tuple[float, float]:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000, statistics.median(times) * 1000


def _time_training_view(parent, x, size: str, repeats: int) -> None:
    """Rows for encoding one training view x (1, 3, H, W) normalised through the frozen
    backbone: torch as fine-tuning ran it (BatchNorm, NCHW), torch on the folded inference copy,
    ONNX Runtime, and ONNX Runtime's one-off export and session start for a new shape."""
    import torch

    from core.model import onnx_backbone
    from core.model.inference import fold_batchnorm

    folded = fold_batchnorm(parent)
    x_last = x.contiguous(memory_format=torch.channels_last)
    onnx_backbone._sessions.clear()  # time the export of this shape, not a cached session
    encoder = onnx_backbone.OnnxBackbone(parent)
    with torch.no_grad():
        reference = parent.backbone(x)
        start = time.perf_counter()
        ort_feats = encoder.features(x)
        export_ms = (time.perf_counter() - start) * 1000
        rows = {
            "torch fp32 (as fine-tuning ran)": (reference, lambda: parent.backbone(x)),
            "torch fp32, folded copy": (folded.backbone(x_last), lambda: folded.backbone(x_last)),
            "ONNX Runtime fp32": (ort_feats, lambda: encoder.features(x)),
        }
        for name, (feats, fn) in rows.items():
            diff = max(float((a - b).abs().max()) for a, b in zip(reference, feats, strict=True))
            low, mid = _timed(fn, repeats)
            print(f"| {size} | training view | {name} | {low:.1f} | {mid:.1f} | {diff:.2g} |")
    print(f"| {size} | new shape: export + session | ONNX Runtime | {export_ms:.0f} | | |")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/davis2016-dev"))
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import main as entry

    entry.tune_allocator()
    import cv2
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from core.device import cpu_has_bf16
    from core.model import onnx_backbone
    from core.model.build import build_model
    from core.segmentation import SegmentConfig, Segmenter
    from core.video import open_frames

    source = open_frames(Path(args.data) / "JPEGImages/480p" / args.sequence)
    frame = source.read(0)
    parent, _ = build_model()
    parent.eval()
    print(f"CPU: {_cpu_name()}; torch {torch.__version__}, {args.threads} threads; native bf16: "
          f"{cpu_has_bf16()}; onnxruntime available: {onnx_backbone.onnx_available()}")  # fmt: skip
    print("| size | work | backend | min ms | median ms | max abs diff vs torch fp32 |")
    print("|---|---|---|---|---|---|")
    backends = {
        "torch fp32": SegmentConfig(backend="torch-fp32"),
        "torch bf16": SegmentConfig(backend="torch", bf16=True),
        "ONNX Runtime fp32 + torch head": SegmentConfig(backend="onnx", bf16=False),
    }
    for width, height in ((854, 480), (1024, 576)):
        image = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        reference = None
        for name, config in backends.items():
            segmenter = Segmenter(parent, source, config=config)
            probs = segmenter.predict_image(image)
            if reference is None:
                reference = probs
            diff = float(np.abs(probs - reference).max())
            low, mid = _timed(lambda s=segmenter, i=image: s.predict_image(i), args.repeats)
            print(f"| {width}x{height} | frame | {name} | {low:.1f} | {mid:.1f} | {diff:.2g} |")

        x = parent.normalize(torch.from_numpy(image.copy()).permute(2, 0, 1)[None])
        _time_training_view(parent, x, f"{width}x{height}", args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
