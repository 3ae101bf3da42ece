"""OSVOS network: an EfficientNet-Lite backbone with multi-scale side outputs fused into a mask.

Shapes: images go in as (B, 3, H, W) float32 ImageNet-normalised; logits come out as
(B, K, H, W), one channel per object (K = 1 for the parent network).

The head follows OSVOS (Caelles et al. 2017): every backbone stage (strides 2/4/8/16/32) gets a
small side branch; each side branch predicts the mask on its own (deep supervision) and the side
features of strides 4..32 are fused at stride 4. Fusing at stride 4 instead of full resolution is
what makes it fast on a CPU (see shared/MEASURED.md); a light refinement at stride 2 with the
stride-2 side features brings back thin structures that stride-4 fusion loses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Index of the last block of each stride-2/4/8/16/32 stage (measured, shared/MEASURED.md).
STAGE_ENDS = {
    "efficientnet-lite0": (0, 2, 4, 10, 15),
    "efficientnet-lite1": (0, 3, 6, 14, 20),
    "efficientnet-lite2": (0, 3, 6, 14, 20),
}


class _Stem(nn.Module):
    """EfficientNet stem: conv + BN + activation (stride 2)."""

    def __init__(self, conv: nn.Module, bn: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn, self.act = conv, bn, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Backbone(nn.Module):
    """EfficientNet-Lite split into five stages; `forward` returns features at strides 2..32."""

    def __init__(self, effnet: nn.Module, stage_ends: tuple[int, ...]) -> None:
        super().__init__()
        blocks = list(effnet._blocks)
        stages = []
        start = 0
        for stage_idx, end in enumerate(stage_ends):
            modules = list(blocks[start : end + 1])
            if stage_idx == 0:
                modules.insert(0, _Stem(effnet._conv_stem, effnet._bn0, effnet._swish))
            stages.append(nn.Sequential(*modules))
            start = end + 1
        self.stages = nn.ModuleList(stages)
        self.channels = tuple(blocks[end]._block_args.output_filters for end in stage_ends)

    def forward(
        self,
        x: torch.Tensor | None,
        *,
        start_stage: int = 0,
        stop_stage: int = 5,
        features: list[torch.Tensor] | None = None,
    ) -> list[torch.Tensor]:
        """Features of every stage, [(B, C_s, H/2^(s+1), W/2^(s+1)) for s in 0..4].

        With `start_stage` > 0, `features` must hold the outputs of the earlier stages (cached),
        and `x` is ignored: computation resumes from the last cached feature. Stages from
        `stop_stage` on are not computed.
        """
        feats = list(features[:start_stage]) if start_stage else []
        out = feats[-1] if feats else x
        for stage in self.stages[start_stage:stop_stage]:
            out = stage(out)
            feats.append(out)
        return feats


def _conv(in_ch: int, out_ch: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, k, padding=k // 2)


@dataclass(frozen=True)
class HeadOutput:
    """logits (B, K, H, W) at input resolution (or stride 2, see OSVOSHead.forward);
    side_logits: per stage (B, K, h_s, w_s)."""

    logits: torch.Tensor
    side_logits: list[torch.Tensor]


class OSVOSHead(nn.Module):
    """Side outputs per stage, fused at stride 4, refined at stride 2, one channel per object.

    Only the final 1x1 predictors depend on the number of objects K; everything else is shared,
    so several objects cost almost nothing extra at inference.
    """

    def __init__(
        self, in_channels: tuple[int, ...], *, side_channels: int = 16, fine_channels: int = 8
    ) -> None:
        super().__init__()
        # The stride-2 branch is narrower: at 4x the pixels of stride 4 it would otherwise cost
        # more than the rest of the head together.
        widths = [fine_channels] + [side_channels] * (len(in_channels) - 1)
        self.side_convs = nn.ModuleList(
            nn.Sequential(_conv(c, w, 3), nn.ReLU(inplace=True))
            for c, w in zip(in_channels, widths, strict=True)
        )
        self.side_preds = nn.ModuleList(_conv(w, 1, 1) for w in widths)
        self.fuse = _conv(side_channels * (len(in_channels) - 1), 1, 1)
        # Refinement at stride 2, applied to each object channel separately (objects folded into
        # the batch), so it is shared by all objects.
        self.refine = nn.Sequential(
            _conv(fine_channels + 1, fine_channels, 3),
            nn.ReLU(inplace=True),
            _conv(fine_channels, 1, 3),
        )
        # Zero-initialised residual: until trained (parent training, or the deeper fine-tune
        # modes) the refinement is the identity, so an ImageNet-only model is not perturbed.
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)

    @property
    def num_objects(self) -> int:
        return self.fuse.out_channels

    def set_num_objects(self, num_objects: int, *, template: dict[str, torch.Tensor]) -> None:
        """Resize the per-object predictors to `num_objects` channels.

        Existing channels keep their weights; new channels start from `template` (the one-channel
        parent predictors, see OSVOSNet.predictor_template).
        """
        current = self.num_objects
        if num_objects == current:
            return
        layers = {f"side_preds.{i}": p for i, p in enumerate(self.side_preds)}
        layers["fuse"] = self.fuse
        for name, layer in layers.items():
            weight = layer.weight.data
            bias = layer.bias.data
            if num_objects < current:
                weight, bias = weight[:num_objects], bias[:num_objects]
            else:
                extra = num_objects - current
                t_w = template[f"{name}.weight"].to(weight)
                t_b = template[f"{name}.bias"].to(bias)
                weight = torch.cat([weight, t_w.repeat(extra, 1, 1, 1)])
                bias = torch.cat([bias, t_b.repeat(extra)])
            new = nn.Conv2d(layer.in_channels, num_objects, 1).to(weight.device)
            new.weight.data.copy_(weight)
            new.bias.data.copy_(bias)
            if name == "fuse":
                self.fuse = new
            else:
                self.side_preds[int(name.split(".")[1])] = new

    def _fuse_at_stride4(self, sides: list[torch.Tensor]) -> torch.Tensor:
        """The 1x1 fusion of the stride-4..32 side features, all upsampled to stride 4.

        Computed as sum_s upsample(W_s * side_s) + b, which equals fuse(cat(upsample(side_s)))
        exactly (a 1x1 convolution and bilinear upsampling are both linear) but upsamples K
        channels per side instead of 16: ~20 % off a fast-end training step.
        """
        weights = torch.split(self.fuse.weight, [s.shape[1] for s in sides], dim=1)
        size = sides[0].shape[-2:]
        fused = F.conv2d(sides[0], weights[0], self.fuse.bias)
        for side, weight in zip(sides[1:], weights[1:], strict=True):
            up = F.interpolate(
                F.conv2d(side, weight), size=size, mode="bilinear", align_corners=False
            )
            fused = fused + up
        return fused

    def refinement_parameters(self) -> list[nn.Parameter]:
        """The stride-2 branch's parameters (side conv/predictor 0 and the refine convs): the
        object-agnostic edge refinement, trained in its own stage at the fast end."""
        modules = (self.side_convs[0], self.side_preds[0], self.refine)
        return [p for m in modules for p in m.parameters()]

    def _refine_at_stride2(self, side_s2: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
        """side_s2 (B, C2, H/2, W/2) stride-2 side features, fused (B, K, H/4, W/4) logits ->
        refined logits (B, K, H/2, W/2); each object channel is refined on its own."""
        batch, k = fused.shape[:2]
        up = F.interpolate(fused, size=side_s2.shape[-2:], mode="bilinear", align_corners=False)
        up_flat = up.reshape(batch * k, 1, *up.shape[-2:])
        s2_rep = side_s2.repeat_interleave(k, dim=0)
        refined = up_flat + self.refine(torch.cat([s2_rep, up_flat], dim=1))
        return refined.reshape(batch, k, *refined.shape[-2:])

    def refine_only(self, feat_s2: torch.Tensor, fused: torch.Tensor) -> HeadOutput:
        """The stride-2 branch alone on given stride-4 fused logits (B, K, H/4, W/4) and backbone
        stride-2 features: logits (B, K, H/2, W/2) and the stride-2 side output. Used to train
        the refinement on its own with the rest of the head frozen (core.training)."""
        side = self.side_convs[0](feat_s2)
        return HeadOutput(
            logits=self._refine_at_stride2(side, fused), side_logits=[self.side_preds[0](side)]
        )

    def forward(
        self,
        feats: list[torch.Tensor | None],
        out_size: tuple[int, int] | None = None,
        *,
        refine: bool = True,
    ) -> HeadOutput:
        """Logits at `out_size`, or at their native stride when None (training scores them
        there: the full-resolution upsample adds nothing to learn and costs more than the head).

        refine=False skips the stride-2 branch (feats[0] may then be None) and returns the
        stride-4 fused logits: the fast fine-tune trains only the object-specific stride-4..32
        part and keeps the parent's object-agnostic edge refinement, ~3x cheaper per step.
        """
        first = 0 if refine else 1
        sides = [None] * first + [
            conv(f) for conv, f in zip(self.side_convs[first:], feats[first:], strict=True)
        ]
        side_logits = [
            pred(s) for pred, s in zip(self.side_preds[first:], sides[first:], strict=True)
        ]
        fused = self._fuse_at_stride4(sides[1:])  # (B, K, H/4, W/4)
        logits = self._refine_at_stride2(sides[0], fused) if refine else fused
        if out_size is not None:
            logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
        return HeadOutput(logits=logits, side_logits=side_logits)


class OSVOSNet(nn.Module):
    """Backbone + OSVOS head. `forward(images) -> HeadOutput` with logits (B, K, H, W)."""

    def __init__(self, backbone: Backbone, head: OSVOSHead, *, backbone_name: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.backbone_name = backbone_name
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        self.predictor_template = self.capture_predictor_template()

    def capture_predictor_template(self) -> dict[str, torch.Tensor]:
        """Copy of object channel 0's predictors, used to initialise objects added later."""
        template = {}
        for name, tensor in self.head.state_dict().items():
            if name.startswith(("side_preds.", "fuse.")):
                template[name] = tensor[:1].clone()
        self.predictor_template = template
        return template

    @property
    def num_objects(self) -> int:
        return self.head.num_objects

    def set_num_objects(self, num_objects: int) -> None:
        self.head.set_num_objects(num_objects, template=self.predictor_template)

    @property
    def stem_conv(self) -> nn.Conv2d:
        return self.backbone.stages[0][0].conv

    @property
    def guided(self) -> bool:
        """True when the network takes a 4th input channel: a rough mask of the object
        (MaskTrack guidance, core.guidance)."""
        return self.stem_conv.in_channels == 4

    def make_guided(self) -> None:
        """Add the guidance input channel. Its stem weights start at zero, so a guided copy of a
        trained network gives exactly the old network's output until it is trained with
        guidance (every other layer keeps its weights)."""
        if self.guided:
            return
        conv = self.stem_conv
        weight = conv.weight.data
        extra = torch.zeros_like(weight[:, :1])
        conv.weight = nn.Parameter(torch.cat([weight, extra], dim=1))
        conv.in_channels = 4

    def normalize(
        self, images_uint8: torch.Tensor, guidance: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, 3, H, W) uint8 or float in [0, 255] RGB -> ImageNet-normalised float32.

        A guided network gets a 4th channel: guidance (B, 1, H, W) float in [0, 1] (None = no
        guidance, all 0) mapped to [-1, 1], the scale of the normalised colour channels.
        """
        x = (images_uint8.float() - self.pixel_mean) / self.pixel_std
        if not self.guided:
            return x
        if guidance is None:
            guidance = torch.zeros_like(x[:, :1])
        return torch.cat([x, guidance.to(x) * 2.0 - 1.0], dim=1)

    def forward(self, images: torch.Tensor, *, full_resolution: bool = True) -> HeadOutput:
        """images (B, 3, H, W) normalised float32 -> HeadOutput (logits at full resolution, or
        at stride 2 when not `full_resolution`)."""
        feats = self.backbone(images)
        return self.head(feats, images.shape[-2:] if full_resolution else None)

    def freeze_batchnorm(self) -> None:
        """Keep BatchNorm running statistics fixed (one or a few frames are no batch to learn
        statistics from); affine parameters still train."""
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()

    def train(self, mode: bool = True) -> OSVOSNet:
        super().train(mode)
        if mode:
            self.freeze_batchnorm()
        return self
