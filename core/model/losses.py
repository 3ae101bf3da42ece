"""Class-balanced binary cross-entropy with deep supervision, as in OSVOS."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.model.network import HeadOutput

# Clamp on the foreground fraction: keeps an empty (object absent) or full target from getting
# zero weight on one class, which would make the loss blind to false positives there.
_MIN_FRACTION = 0.02


def balanced_bce(
    logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """Class-balanced BCE per (image, object), averaged.

    logits, target: (B, K, H, W); target float in [0, 1]. valid: (B, K) bool/float, 1 where the
    object is annotated on that image (others add nothing). Foreground pixels are weighted by the
    background fraction and vice versa, normalised so a half/half target has weight 1.
    """
    fg_fraction = target.mean(dim=(2, 3), keepdim=True).clamp(_MIN_FRACTION, 1 - _MIN_FRACTION)
    weight = target * (1 - fg_fraction) + (1 - target) * fg_fraction
    weight = weight * 2.0
    per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none") * weight
    per_map = per_pixel.mean(dim=(2, 3))  # (B, K)
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
) -> torch.Tensor:
    """Fused loss plus `side_weight` x mean side-output loss (deep supervision).

    target (B, K, H, W) float; every output is scored against the target area-resized to the
    output's own resolution, which is much cheaper than upsampling outputs to full size.
    `resized_targets` (a dict kept with a cached training view) memoises those resizes.
    """

    def resized(size) -> torch.Tensor:
        size = tuple(size)
        if size == tuple(target.shape[-2:]):
            return target
        if resized_targets is not None and size in resized_targets:
            return resized_targets[size]
        small = F.interpolate(target, size=size, mode="area")
        if resized_targets is not None:
            resized_targets[size] = small
        return small

    loss = balanced_bce(output.logits, resized(output.logits.shape[-2:]), valid)
    if side_weight > 0 and output.side_logits:
        side_losses = []
        for side in output.side_logits:
            side_losses.append(balanced_bce(side, resized(side.shape[-2:]), valid))
        loss = loss + side_weight * torch.stack(side_losses).mean()
    return loss
