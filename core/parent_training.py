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

import dataclasses
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
from core.guidance import DeformConfig, training_guidance
from core.jobs import NEVER_CANCELLED, CancelToken, TrainProgress
from core.model.build import (
    build_model,
    build_network,
    load_checkpoint,
    load_weights_into,
    save_checkpoint,
)
from core.model.losses import osvos_loss
from core.model.network import OSVOSNet
from core.still_masks import StillImage, load_still_folder
from core.video import read_image_rgb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParentTrainConfig:
    """minutes: wall-clock budget (total, resumed runs included); batch_size; crop: square crop
    side in px; scale: frame rescale range before cropping; paste_prob: chance of a copy-paste
    composite; lr / backbone_lr: Adam rates; checkpoint_minutes: how often to save the resumable
    state; snapshot_minutes: also keep fp16 copies of the weights at these elapsed minutes;
    hold_out: names of the data folder's sequences left out of training, kept to choose the
    training length on (never the benchmark's split); seed: the samples drawn and the new
    layers' initial weights (another seed, an independently trained parent)."""

    minutes: float = 60.0
    batch_size: int = 4
    crop: int = 320
    scale: tuple[float, float] = (0.5, 1.0)
    paste_prob: float = 0.3
    guided: bool = False  # train the mask-guided network (4th input channel, core.guidance)
    still_share: float = 0.5  # share of samples from still images when a still folder is given
    lr: float = 1e-3
    backbone_lr: float = 1e-4
    checkpoint_minutes: float = 5.0
    snapshot_minutes: tuple[float, ...] = ()
    seed: int = 0
    backbone_name: str = "efficientnet-lite0"
    max_steps: int | None = None  # stop after this many steps in total (tests, smoke runs)
    hold_out: tuple[str, ...] = ()


@dataclass
class Clip:
    """One sequence (or one still image) in memory: frames (N, H, W, 3) uint8, masks
    (N, H, W) bool; known (N, H, W) bool or None: labelled pixels (None = all); weight: its
    share of the samples (relative); guided_only: only ever trained with a non-empty guidance
    (core.still_masks)."""

    name: str
    frames: np.ndarray
    masks: np.ndarray
    known: np.ndarray | None = None
    weight: float = 1.0
    guided_only: bool = False


@dataclass(frozen=True)
class ParentCrop:
    """One training sample: image (S, S, 3) uint8, mask (S, S) bool, known (S, S) bool or None,
    guidance (S, S) float32 in [0, 1] or None (plain network)."""

    image: np.ndarray
    mask: np.ndarray
    known: np.ndarray | None
    guidance: np.ndarray | None


def mixed_clips(davis: list[Clip], stills: list[StillImage], still_share: float) -> list[Clip]:
    """DAVIS clips and still images as one weighted list: stills get `still_share` of the
    samples (split by their sets' weights), the DAVIS clips the rest (by frame count)."""
    if not stills:
        return davis
    davis_frames = sum(len(c.frames) for c in davis)
    still_weight = sum(s.rule.weight for s in stills)
    out = [
        dataclasses.replace(c, weight=(1 - still_share) * len(c.frames) / davis_frames)
        for c in davis
    ]
    for i, s in enumerate(stills):
        out.append(
            Clip(
                f"{s.set_name}/{i}",
                s.image[None],
                s.mask[None],
                None if s.known is None else s.known[None],
                weight=still_share * s.rule.weight / still_weight,
                guided_only=s.rule.guided_only,
            )
        )
    return out


def load_davis_folder(
    root: str | Path, *, resolution: str = "480p", exclude: tuple[str, ...] = ()
) -> list[Clip]:
    """Every sequence of a DAVIS-layout folder whose frames have masks, but those named in
    `exclude` (each must be one of the folder's sequences: a misspelt name would otherwise train
    on the sequence it meant to hold out)."""
    root = Path(root)
    image_root = root / "JPEGImages" / resolution
    mask_root = root / "Annotations" / resolution
    if not image_root.is_dir() or not mask_root.is_dir():
        raise RotoshotError(
            f"{root} is not a DAVIS-layout folder (JPEGImages/{resolution}, Annotations/{resolution})"
        )
    seq_dirs = sorted(p for p in image_root.iterdir() if p.is_dir())
    unknown = sorted(set(exclude) - {p.name for p in seq_dirs})
    if unknown:
        raise RotoshotError(f"no sequence {', '.join(unknown)} under {image_root} to hold out")
    clips = []
    for seq_dir in (p for p in seq_dirs if p.name not in exclude):
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
    """Random training crops with augmentation, copy-paste compositing and (for the guided
    network) a guidance mask made from the target by MaskTrack's deformations.

    With a guidance, the target is the guided object alone and a pasted object is a distractor
    the network must learn to leave out (look-alikes are the commonest false positives); with
    an empty guidance (or a plain network) nothing says which object is meant, so pasted
    objects are foreground too (objectness)."""

    def __init__(self, clips: list[Clip], config: ParentTrainConfig, rng: np.random.Generator):
        self.clips = clips
        self.config = config
        self.rng = rng
        self.augment = AugmentConfig(scale=(1.0, 1.0), translate=0.0)
        weights = np.array([c.weight for c in clips], float)
        self.probabilities = weights / weights.sum()
        # The sampler decides on an empty guidance itself (never for guided-only clips, and
        # before pasting), so the deformation draws only among the other kinds.
        self.empty_share = DeformConfig().empty_share
        self.deform = DeformConfig(empty_share=0.0)

    def _random_frame(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray | None]:
        clip_idx = int(self.rng.choice(len(self.clips), p=self.probabilities))
        clip = self.clips[clip_idx]
        i = int(self.rng.integers(len(clip.frames)))
        known = None if clip.known is None else clip.known[i]
        return clip_idx, clip.frames[i], clip.masks[i], known

    def _paste(self, image: np.ndarray, exclude: int) -> tuple[np.ndarray, np.ndarray]:
        """Paste another clip's object onto `image` at a random scale and place; returns the
        composite and the pasted object's mask (all False when nothing was pasted)."""
        h, w = image.shape[:2]
        pasted = np.zeros((h, w), bool)
        for _ in range(5):
            clip_idx, src, src_mask, _ = self._random_frame()
            if clip_idx != exclude and src_mask.any() and not self.clips[clip_idx].guided_only:
                break
        else:
            return image, pasted
        ys, xs = np.nonzero(src_mask)
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        obj, obj_mask = src[y0:y1, x0:x1], src_mask[y0:y1, x0:x1].astype(np.uint8)
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
        pasted[top : top + oh, left : left + ow] = obj_mask > 0
        return out, pasted

    def sample(self) -> ParentCrop:
        """One augmented training crop."""
        cfg = self.config
        clip_idx, image, mask, known = self._random_frame()
        guided = cfg.guided
        empty_guidance = (
            guided and not self.clips[clip_idx].guided_only and self.rng.random() < self.empty_share
        )
        if self.rng.random() < cfg.paste_prob and not empty_guidance:
            image, pasted = self._paste(image, clip_idx)
            if not guided:
                mask = mask | pasted
            if known is not None:
                known = known | pasted
        scale = self.rng.uniform(*cfg.scale)
        h, w = image.shape[:2]
        size = (max(cfg.crop, int(w * scale)), max(cfg.crop, int(h * scale)))
        matrix = random_affine(self.rng, size[0], size[1], self.augment)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        image = cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REFLECT_101)
        maps = [mask] if known is None else [mask, known]
        maps = [
            cv2.warpAffine(
                cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST),
                matrix,
                size,
                flags=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_REFLECT_101,
            )
            for m in maps
        ]
        # Crop centred near the object 80 % of the time, anywhere otherwise.
        ys, xs = np.nonzero(maps[0])
        if len(ys) and self.rng.random() < 0.8:
            k = int(self.rng.integers(len(ys)))
            cy, cx = ys[k], xs[k]
        else:
            cy, cx = self.rng.integers(size[1]), self.rng.integers(size[0])
        top = int(np.clip(cy - cfg.crop // 2, 0, size[1] - cfg.crop))
        left = int(np.clip(cx - cfg.crop // 2, 0, size[0] - cfg.crop))
        rows, cols = slice(top, top + cfg.crop), slice(left, left + cfg.crop)
        image = jitter_colour(self.rng, np.ascontiguousarray(image[rows, cols]), self.augment)
        mask = maps[0][rows, cols] > 0
        known = None if known is None else maps[1][rows, cols] > 0
        guidance = None
        if guided:
            if empty_guidance:
                guidance = np.zeros(mask.shape, np.float32)
            else:
                guidance = training_guidance(mask, self.rng, self.deform)
        return ParentCrop(image, mask, known, guidance)


def _param_groups(model: OSVOSNet, config: ParentTrainConfig) -> list[dict]:
    """Head at `lr`, backbone at `backbone_lr`; a guided network's stem convolution trains at
    the head's rate, since its guidance weights start at zero and must be learnt from scratch."""
    for p in model.parameters():
        p.requires_grad_(True)
    fast = list(model.head.parameters())
    if model.guided:
        fast.append(model.stem_conv.weight)
    fast_ids = {id(p) for p in fast}
    slow = [p for p in model.backbone.parameters() if id(p) not in fast_ids]
    return [{"params": fast, "lr": config.lr}, {"params": slow, "lr": config.backbone_lr}]


def _batch_tensors(
    batch: list[ParentCrop], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """images (B, 3, S, S) uint8, target (B, 1, S, S) float, known (B, 1, S, S) float or None
    (None when every pixel of every crop is labelled), guidance (B, 1, S, S) float or None."""

    def stacked(arrays: list[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack(arrays).astype(np.float32))[:, None].to(device)

    images = torch.from_numpy(np.stack([b.image for b in batch])).permute(0, 3, 1, 2).to(device)
    target = stacked([b.mask for b in batch])
    known = None
    if any(b.known is not None for b in batch):
        known = stacked([np.ones_like(b.mask) if b.known is None else b.known for b in batch])
    guidance = None
    if batch[0].guidance is not None:
        guidance = stacked([b.guidance for b in batch])
    return images, target, known, guidance


def train_parent(
    data_dir: str | Path,
    out_path: str | Path,
    config: ParentTrainConfig = ParentTrainConfig(),
    *,
    device: torch.device | str = "cpu",
    cancel: CancelToken = NEVER_CANCELLED,
    still_dir: str | Path | None = None,
    init_weights: str | Path | None = None,
) -> Iterator[TrainProgress]:
    """Train (or resume) a parent network; yields TrainProgress every step.

    still_dir: a folder of still images with masks (core.still_masks) mixed in at
    `config.still_share`; init_weights: start from these weights (core.model.build.build_model:
    "parent" or a checkpoint path) instead of ImageNet; a guided config adds the guidance
    channel to them.

    Writes the resumable state to `<out>.ckpt` every `checkpoint_minutes` and, at the end (time
    budget reached or cancelled), fp16 weights to `out_path`. A run finds `<out>.ckpt` and resumes
    from its step and elapsed time. Raises RotoshotError for unusable data or a checkpoint that does
    not match.
    """
    out_path = Path(out_path)
    state_path = out_path.with_name(out_path.name + ".ckpt")
    device = torch.device(device)
    clips = load_davis_folder(data_dir, exclude=config.hold_out)
    frames = sum(len(c.frames) for c in clips)
    log.info("parent data: %d sequences, %d frames, seed %d", len(clips), frames, config.seed)
    if config.hold_out:
        log.info("held out: %s", ", ".join(config.hold_out))
    if still_dir is not None:
        stills = load_still_folder(still_dir, guided=config.guided)
        log.info("still images: %d", len(stills))
        clips = mixed_clips(clips, stills, config.still_share)
    with torch.random.fork_rng(devices=[]):
        # The new layers' initial weights follow the seed too, so a seed names one run.
        torch.manual_seed(config.seed)
        if init_weights is not None:
            model, _ = build_model(weights=init_weights, backbone_name=config.backbone_name)
        else:
            model = build_network(backbone_name=config.backbone_name)
        if config.guided:
            model.make_guided()
    model = model.to(device)
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
        images, target, known, guidance = _batch_tensors(batch, device)
        output = model(model.normalize(images, guidance), full_resolution=False)
        loss = osvos_loss(output, target, known=known)
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
