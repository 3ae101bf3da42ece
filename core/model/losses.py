"""Class-balanced binary cross-entropy with deep supervision, as in OSVOS."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.model.network import HeadOutput

# Clamp on the foreground fraction: keeps an empty (object absent) or full target from getting
# zero weight on one class, which would make the loss blind to false positives there.
_MIN_FRACTION = 0.02


def balanced_bce(
    logits: torch.Tensor,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """Class-balanced BCE per (image, object), averaged.

    logits, target: (B, K, H, W); target float in [0, 1]. valid: (B, K) bool/float, 1 where the
    object is annotated on that image (others add nothing). known: (B, K, H, W) float in [0, 1]
    or None: how much each pixel is labelled (hint strokes: 1 painted, 0 unpainted, fractions
    where resized); unlabelled pixels add nothing and the class balance counts only labelled
    ones. Foreground pixels are weighted by the background fraction and vice versa, normalised
    so a half/half target has weight 1.
    """
    if known is None:
        fg_fraction = target.mean(dim=(2, 3), keepdim=True)
    else:
        labelled = known.sum(dim=(2, 3), keepdim=True)
        fg_fraction = (target * known).sum(dim=(2, 3), keepdim=True) / labelled.clamp(min=1e-6)
    fg_fraction = fg_fraction.clamp(_MIN_FRACTION, 1 - _MIN_FRACTION)
    weight = target * (1 - fg_fraction) + (1 - target) * fg_fraction
    weight = weight * 2.0
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
    if known is None:
        per_map = per_pixel.mean(dim=(2, 3))  # (B, K)
    else:
        per_map = (per_pixel * known).sum(dim=(2, 3)) / labelled[..., 0, 0].clamp(min=1e-6)
        # A view whose strokes were cropped or warped away teaches nothing for that object.
        has_labels = (labelled[..., 0, 0] > 0.5).to(per_map.dtype)
        valid = has_labels if valid is None else valid.to(per_map.dtype) * has_labels
    if valid is None:
        return per_map.mean()
    valid = valid.to(per_map.dtype)
    return (per_map * valid).sum() / valid.sum().clamp(min=1.0)


def osvos_loss(
    output: HeadOutput,
    target: torch.Tensor,
    valid: torch.Tensor | None = None,
    *,
    side_weight: float = 0.5,
    resized_targets: dict | None = None,
    known: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fused loss plus `side_weight` x mean side-output loss (deep supervision).

    target (B, K, H, W) float; known: (B, K, H, W) float labelled pixels (hint strokes) or None
    (every pixel labelled). Every output is scored against the target area-resized to the
    output's own resolution, which is much cheaper than upsampling outputs to full size.
    `resized_targets` (a dict kept with a cached training view) memoises those resizes.
    """

    def resize(size) -> tuple[torch.Tensor, torch.Tensor | None]:
        if known is None:
            return F.interpolate(target, size=size, mode="area"), None
        # The target's share among the labelled pixels of each output pixel (the target is 0
        # wherever nothing is labelled).
        small_known = F.interpolate(known, size=size, mode="area")
        small = F.interpolate(target * known, size=size, mode="area")
        return small / small_known.clamp(min=1e-6), small_known

    def resized(size) -> tuple[torch.Tensor, torch.Tensor | None]:
        size = tuple(size)
        if size == tuple(target.shape[-2:]):
            return target, known
        if resized_targets is not None and size in resized_targets:
            return resized_targets[size]
        small = resize(size)
        if resized_targets is not None:
            resized_targets[size] = small
        return small

    def scored(logits: torch.Tensor) -> torch.Tensor:
        small_target, small_known = resized(logits.shape[-2:])
        return balanced_bce(logits, small_target, valid, small_known)

    loss = scored(output.logits)
    if side_weight > 0 and output.side_logits:
        side_losses = [scored(side) for side in output.side_logits]
        loss = loss + side_weight * torch.stack(side_losses).mean()
    return loss
