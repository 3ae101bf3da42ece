"""Self-contained shot model files (`.rsm`): what `train` writes and `segment --model` renders
with, on this machine or on any farm worker.

The file is a Rotoshot checkpoint (core.model.build's format, so `torch.load(weights_only=True)`
reads it) holding the weights of every averaged network, plus in `extra`: object ids and names,
preset and quality, the working resolution (long side, size, edge mode), the temporal gate, the
plate's size, its colour (input space, OCIO config) and the fingerprint of the annotations it
learnt; in `annotations` the keyframes, imposed on their frames when rendering (uint8 tensors).
`sha256` is a digest of all of that, checked on load: a damaged or edited copy is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import RotoshotError
from core.model.build import CHECKPOINT_FORMAT, load_checkpoint, write_checkpoint
from core.segmentation import FrameAnnotation
from core.shot.segmenters import MODES

MODEL_FILE_KIND = "rotoshot-shot-model"
MODEL_FILE_VERSION = 1


@dataclass(frozen=True)
class ShotInfo:
    """What a model file says about its shot besides the weights. Plain data.

    object_ids / names: the model's channels in order; working_long_side / working_size (W, H):
    the network's working resolution (core.resolution), edges: how mattes reach the plate size;
    roi: the region of interest it works in (core.roi; None = the whole frame);
    plate_size (W, H): the size of the frames it was trained on; input_space / colour_config:
    the plate's colour (core.plates; "" = guessed from the file, $OCIO or built-in); gate_px:
    the temporal gate radius; fingerprint: of the annotations it learnt; mode: the segmenter
    (core.shot.segmenters.MODES)."""

    object_ids: tuple[int, ...]
    names: tuple[str, ...]
    preset: str
    quality: float
    working_long_side: int
    working_size: tuple[int, int]
    edges: str
    plate_size: tuple[int, int]
    input_space: str
    colour_config: str
    gate_px: int
    fingerprint: str
    mode: str = "osvos"
    roi: tuple[int, int, int, int] | None = None


def _digest_items(value, prefix: str = "") -> Iterator[bytes]:
    """A canonical byte stream of a payload: keys sorted, tensors as dtype, shape and bytes.

    Written by hand because the digest lives inside the file it checks, so it cannot be a hash
    of the file's bytes, and torch.save's bytes are not canonical for equal contents anyway."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            yield f"{prefix}/{key}:".encode()
            yield from _digest_items(value[key], f"{prefix}/{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _digest_items(item, f"{prefix}[{i}]")
    elif isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        yield f"{tensor.dtype}{tuple(tensor.shape)}".encode()
        yield tensor.view(-1).view(torch.uint8).numpy().tobytes()
    else:
        yield json.dumps(value).encode()


def payload_digest(payload: dict) -> str:
    """sha256 of everything in a model file's payload but its own digest."""
    h = hashlib.sha256()
    for chunk in _digest_items({k: v for k, v in payload.items() if k != "sha256"}):
        h.update(chunk)
    return h.hexdigest()


def _annotations_to_tensors(annotations: dict[int, FrameAnnotation]) -> dict[str, dict]:
    stored = {}
    for frame_idx, annotation in annotations.items():
        entry = {
            "masks": torch.from_numpy(np.asarray(annotation.masks, np.uint8)),
            "valid": torch.from_numpy(np.asarray(annotation.valid, np.uint8)),
        }
        if annotation.known is not None:
            entry["known"] = torch.from_numpy(np.asarray(annotation.known, np.uint8))
        stored[str(int(frame_idx))] = entry
    return stored


def annotations_of(payload: dict) -> dict[int, FrameAnnotation]:
    """frame_idx -> FrameAnnotation stored in a model file's payload."""
    annotations = {}
    for key, entry in payload.get("annotations", {}).items():
        known = entry.get("known")
        annotations[int(key)] = FrameAnnotation(
            entry["masks"].numpy().astype(bool),
            entry["valid"].numpy().astype(bool),
            None if known is None else known.numpy().astype(bool),
        )
    return annotations


def model_file_payload(checkpoint: dict, info: ShotInfo, annotations: dict) -> dict:
    """A model file's payload from a session checkpoint (core.model.build's layout: format,
    backbone, num_objects, state_dict, members) and what it says about its shot."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "kind": MODEL_FILE_KIND,
        "version": MODEL_FILE_VERSION,
        "backbone": checkpoint["backbone"],
        "num_objects": checkpoint["num_objects"],
        "state_dict": checkpoint["state_dict"],
        "members": checkpoint.get("members", []),
        "extra": {
            "object_ids": list(info.object_ids),
            "names": list(info.names),
            "preset": info.preset,
            "quality": info.quality,
            "working_long_side": info.working_long_side,
            "working_size": list(info.working_size),
            "edges": info.edges,
            "plate_size": list(info.plate_size),
            "input_space": info.input_space,
            "colour_config": info.colour_config,
            "gate_px": info.gate_px,
            "fingerprint": info.fingerprint,
            "mode": info.mode,
            "roi": list(info.roi or ()),
        },
        "annotations": _annotations_to_tensors(annotations),
    }
    payload["sha256"] = payload_digest(payload)
    return payload


def save_model_file(path: str | os.PathLike, payload: dict) -> None:
    """Write a model file atomically (core.atomic)."""
    if Path(path).is_dir():
        raise RotoshotError(f"--model {path} is a folder: name the file to write")
    write_checkpoint(payload, path)


def check_payload(payload: dict, label: str) -> ShotInfo:
    """The ShotInfo of a loaded payload; RotoshotError when it is not a shot model file or its
    digest does not match its contents."""
    if payload.get("kind") != MODEL_FILE_KIND:
        raise RotoshotError(f"{label} is not a Rotoshot shot model (write one with `train`)")
    if int(payload.get("version", 0)) > MODEL_FILE_VERSION:
        raise RotoshotError(f"{label} was written by a newer Rotoshot")
    if payload.get("sha256") != payload_digest(payload):
        raise RotoshotError(f"{label} fails its checksum: the file is damaged or was edited")
    extra = payload["extra"]
    try:
        info = ShotInfo(
            object_ids=tuple(int(i) for i in extra["object_ids"]),
            names=tuple(str(n) for n in extra["names"]),
            preset=str(extra["preset"]),
            quality=float(extra["quality"]),
            working_long_side=int(extra["working_long_side"]),
            working_size=tuple(int(v) for v in extra["working_size"]),
            edges=str(extra["edges"]),
            plate_size=tuple(int(v) for v in extra["plate_size"]),
            input_space=str(extra["input_space"]),
            colour_config=str(extra["colour_config"]),
            gate_px=int(extra["gate_px"]),
            fingerprint=str(extra["fingerprint"]),
            mode=str(extra.get("mode", "osvos")),
            roi=tuple(int(v) for v in extra.get("roi", ())) or None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RotoshotError(f"{label} lacks what a shot model holds ({exc})") from None
    if info.mode not in MODES:
        raise RotoshotError(f"{label} asks for an unknown mode {info.mode!r}")
    return info


def load_model_file(path: str | os.PathLike) -> tuple[dict, ShotInfo]:
    """(payload, info) of a model file, read with `weights_only=True` and checked."""
    path = Path(path)
    if not path.is_file():
        raise RotoshotError(f"no model file at {path}")
    payload = load_checkpoint(path)
    return payload, check_payload(payload, str(path))
