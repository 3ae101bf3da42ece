"""Parent-network training: teach the OSVOS network to separate foreground objects in general.

Data is a DAVIS-layout folder (`JPEGImages/480p/<seq>/*.jpg`, `Annotations/480p/<seq>/*.png`).
Recipe (chosen for a 2-core CPU and ~1,000 frames of 30 objects):
- mixed resolution: each sample is the frame scaled by 0.5-1.0 and cropped to `crop` px, so one
  step sees several objects at several scales for the cost of one full 480p frame;
- flips, rotation, colour jitter (core.augment);
- "lucid data dreaming" copy-paste: with probability `paste_prob` an annotated object of another
  sequence is pasted, at a random scale and place, onto this frame; the label is the union (both
  are foreground objects), which teaches objectness instead of one sequence's look;
- every layer trains (Adam, cosine decay over the time budget), BatchNorm statistics frozen;
- a resumable checkpoint (weights + optimiser + step + elapsed time) every few minutes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core.augment import AugmentConfig, jitter_colour, random_affine
from core.errors import RotoshotError
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.model.build import build_network, load_checkpoint, load_weights_into, save_checkpoint
from core.model.losses import osvos_loss
from core.model.network import OSVOSNet
from core.video import read_image_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParentTrainConfig:
    """minutes: wall-clock budget (total, resumed runs included); batch_size; crop: square crop
    side in px; scale: frame rescale range before cropping; paste_prob: chance of a copy-paste
    composite; lr / backbone_lr: Adam rates; checkpoint_minutes: how often to save the resumable
    state; snapshot_minutes: also keep fp16 copies of the weights at these elapsed minutes."""

    minutes: float = 60.0
    batch_size: int = 4
    crop: int = 320
    scale: tuple[float, float] = (0.5, 1.0)
    paste_prob: float = 0.3
    lr: float = 1e-3
    backbone_lr: float = 1e-4
    checkpoint_minutes: float = 5.0
    snapshot_minutes: tuple[float, ...] = ()
    seed: int = 0
    backbone_name: str = "efficientnet-lite0"
    max_steps: int | None = None  # stop after this many steps in total (tests, smoke runs)


@dataclass
class Clip:
    """One sequence in memory: frames (N, H, W, 3) uint8, masks (N, H, W) bool."""

    name: str
    frames: np.ndarray
    masks: np.ndarray


def load_davis_folder(root: str | Path, *, resolution: str = "480p") -> list[Clip]:
    """Every sequence of a DAVIS-layout folder whose frames have masks."""
    root = Path(root)
    image_root = root / "JPEGImages" / resolution
    mask_root = root / "Annotations" / resolution
    if not image_root.is_dir() or not mask_root.is_dir():
        raise RotoshotError(
            f"{root} is not a DAVIS-layout folder (JPEGImages/{resolution}, Annotations/{resolution})"
        )
    clips = []
    for seq_dir in sorted(p for p in image_root.iterdir() if p.is_dir()):
        frames, masks = [], []
        for image_path in sorted(seq_dir.glob("*.jpg")) + sorted(seq_dir.glob("*.png")):
            mask_path = mask_root / seq_dir.name / (image_path.stem + ".png")
            if not mask_path.exists():
                continue
            mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
            frame = read_image_rgb(image_path)
            if mask is None or mask.shape != frame.shape[:2]:
                raise RotoshotError(f"bad mask {mask_path}")
            frames.append(frame)
            masks.append(mask > 127)
        if frames:
            clips.append(Clip(seq_dir.name, np.stack(frames), np.stack(masks)))
    if not clips:
        raise RotoshotError(f"no annotated frames under {root}")
    return clips


class ParentSampler:
    """Random training crops with augmentation and copy-paste compositing."""

    def __init__(self, clips: list[Clip], config: ParentTrainConfig, rng: np.random.Generator):
        self.clips = clips
        self.config = config
        self.rng = rng
        self.augment = AugmentConfig(scale=(1.0, 1.0), translate=0.0)

    def _random_frame(self) -> tuple[int, np.ndarray, np.ndarray]:
        clip_idx = int(self.rng.integers(len(self.clips)))
        clip = self.clips[clip_idx]
        i = int(self.rng.integers(len(clip.frames)))
        return clip_idx, clip.frames[i], clip.masks[i]

    def _paste(
        self, image: np.ndarray, mask: np.ndarray, exclude: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Paste another sequence's object onto `image` at a random scale and place."""
        for _ in range(5):
            clip_idx, src, src_mask = self._random_frame()
            if clip_idx != exclude and src_mask.any():
                break
        else:
            return image, mask
        ys, xs = np.nonzero(src_mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        obj, obj_mask = src[y0:y1, x0:x1], src_mask[y0:y1, x0:x1].astype(np.uint8)
        h, w = image.shape[:2]
        scale = self.rng.uniform(0.3, 0.9) * min(h / obj.shape[0], w / obj.shape[1], 1.5)
        oh, ow = max(4, int(obj.shape[0] * scale)), max(4, int(obj.shape[1] * scale))
        oh, ow = min(oh, h), min(ow, w)
        obj = cv2.resize(obj, (ow, oh), interpolation=cv2.INTER_LINEAR)
        obj_mask = cv2.resize(obj_mask, (ow, oh), interpolation=cv2.INTER_NEAREST)
        if self.rng.random() < 0.5:
            obj, obj_mask = obj[:, ::-1], obj_mask[:, ::-1]
        top = int(self.rng.integers(0, h - oh + 1))
        left = int(self.rng.integers(0, w - ow + 1))
        # A slightly blurred alpha hides the hard cut line the network could otherwise key on.
        alpha = cv2.GaussianBlur(obj_mask.astype(np.float32), (3, 3), 0)[..., None]
        out = image.copy()
        region = out[top : top + oh, left : left + ow].astype(np.float32)
        out[top : top + oh, left : left + ow] = (alpha * obj + (1 - alpha) * region).astype(
            np.uint8
        )
        out_mask = mask.copy()
        out_mask[top : top + oh, left : left + ow] |= obj_mask > 0
        return out, out_mask

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        """One training crop: image (crop, crop, 3) uint8, mask (crop, crop) bool."""
        cfg = self.config
        clip_idx, image, mask = self._random_frame()
        if self.rng.random() < cfg.paste_prob:
            image, mask = self._paste(image, mask, clip_idx)
        scale = self.rng.uniform(*cfg.scale)
        h, w = image.shape[:2]
        size = (max(cfg.crop, int(w * scale)), max(cfg.crop, int(h * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        matrix = random_affine(self.rng, size[0], size[1], self.augment)
        image = cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REFLECT_101)
        mask = cv2.warpAffine(
            mask, matrix, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101
        )
        # Crop centred near the object 80 % of the time, anywhere otherwise.
        ys, xs = np.nonzero(mask)
        if len(ys) and self.rng.random() < 0.8:
            k = int(self.rng.integers(len(ys)))
            cy, cx = ys[k], xs[k]
        else:
            cy, cx = self.rng.integers(size[1]), self.rng.integers(size[0])
        top = int(np.clip(cy - cfg.crop // 2, 0, size[1] - cfg.crop))
        left = int(np.clip(cx - cfg.crop // 2, 0, size[0] - cfg.crop))
        image = image[top : top + cfg.crop, left : left + cfg.crop]
        mask = mask[top : top + cfg.crop, left : left + cfg.crop] > 0
        return jitter_colour(self.rng, np.ascontiguousarray(image), self.augment), mask


def _param_groups(model: OSVOSNet, config: ParentTrainConfig) -> list[dict]:
    for p in model.parameters():
        p.requires_grad_(True)
    return [
        {"params": list(model.head.parameters()), "lr": config.lr},
        {"params": list(model.backbone.parameters()), "lr": config.backbone_lr},
    ]


def train_parent(
    data_dir: str | Path,
    out_path: str | Path,
    config: ParentTrainConfig = ParentTrainConfig(),
    *,
    device: torch.device | str = "cpu",
    cancel: CancelToken = NEVER_CANCELLED,
) -> Iterator[TrainProgress]:
    """Train (or resume) a parent network; yields TrainProgress every step.

    Writes the resumable state to `<out>.ckpt` every `checkpoint_minutes` and, at the end (time
    budget reached or cancelled), fp16 weights to `out_path`. A run finds `<out>.ckpt` and resumes
    from its step and elapsed time. Raises RotoshotError for unusable data or a checkpoint that does
    not match.
    """
    out_path = Path(out_path)
    state_path = out_path.with_name(out_path.name + ".ckpt")
    device = torch.device(device)
    clips = load_davis_folder(data_dir)
    log.info("parent data: %d sequences, %d frames", len(clips), sum(len(c.frames) for c in clips))
    model = build_network(backbone_name=config.backbone_name).to(device)
    optimizer = torch.optim.Adam(_param_groups(model, config))
    step, elapsed_before = 0, 0.0
    if state_path.exists():
        payload = load_checkpoint(state_path)
        load_weights_into(model, payload, path=str(state_path))
        extra = payload.get("extra", {})
        try:
            optimizer.load_state_dict(extra["optimizer"])
        except (KeyError, ValueError) as exc:
            raise RotoshotError(
                f"checkpoint {state_path} has no usable optimiser state: {exc}"
            ) from None
        step, elapsed_before = int(extra["step"]), float(extra["elapsed_s"])
        log.info("resumed from %s at step %d (%.1f min)", state_path, step, elapsed_before / 60)
    base_lrs = [config.lr, config.backbone_lr]
    rng = np.random.default_rng(config.seed + step)
    sampler = ParentSampler(clips, config, rng)
    model.train()
    budget_s = config.minutes * 60.0
    started = time.perf_counter()
    last_checkpoint = 0.0
    snapshots_due = sorted(m for m in config.snapshot_minutes if m * 60 > elapsed_before)

    def save_state() -> None:
        elapsed = elapsed_before + time.perf_counter() - started
        extra = {"optimizer": optimizer.state_dict(), "step": step, "elapsed_s": elapsed}
        save_checkpoint(model, state_path, extra=extra)

    losses: list[float] = []
    while True:
        elapsed = elapsed_before + time.perf_counter() - started
        if elapsed >= budget_s or cancel.cancelled:
            break
        if config.max_steps is not None and step >= config.max_steps:
            break
        progress_fraction = min(1.0, elapsed / budget_s)
        decay = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress_fraction))
        for g, lr in zip(optimizer.param_groups, base_lrs, strict=True):
            g["lr"] = lr * decay
        batch = [sampler.sample() for _ in range(config.batch_size)]
        images = torch.from_numpy(np.stack([b[0] for b in batch])).permute(0, 3, 1, 2).to(device)
        target = torch.from_numpy(np.stack([b[1] for b in batch]).astype(np.float32))[:, None].to(
            device
        )
        output = model(model.normalize(images), full_resolution=False)
        loss = osvos_loss(output, target)
        optimizer.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        now = time.perf_counter()
        elapsed = elapsed_before + now - started
        if now - started - last_checkpoint >= config.checkpoint_minutes * 60:
            save_state()
            last_checkpoint = now - started
        while snapshots_due and elapsed >= snapshots_due[0] * 60:
            minutes = snapshots_due.pop(0)
            snap = out_path.with_name(f"{out_path.stem}_{int(minutes)}min{out_path.suffix}")
            save_checkpoint(model, snap, half=True, extra={"step": step, "elapsed_s": elapsed})
            log.info("snapshot %s at step %d", snap, step)
        if step % 25 == 0:
            log.info(
                "step %d  loss %.4f  lr x%.2f  %.1f/%.0f min",
                step,
                float(np.mean(losses[-25:])),
                decay,
                elapsed / 60,
                config.minutes,
            )
        yield TrainProgress(step, 0, losses[-1], elapsed, max(0.0, budget_s - elapsed))
    save_state()
    model.eval()
    save_checkpoint(
        model,
        out_path,
        half=True,
        extra={"step": step, "elapsed_s": elapsed_before + time.perf_counter() - started},
    )
    log.info("parent weights written to %s after %d steps", out_path, step)
