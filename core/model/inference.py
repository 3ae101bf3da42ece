"""An inference-only copy of the network: BatchNorm folded into the convolutions, NHWC layout.

Segmenting runs the backbone once per frame, and on a 2-core CPU it is most of the per-frame
cost (~0.13 s at 854x480 for EfficientNet-Lite0). Folding each eval-mode BatchNorm into the
convolution before it (torch's own `fuse_conv_bn_eval`) removes a full pass over every feature
map, and the stride-1 "same"-padded convolutions of efficientnet_lite_pytorch (which pad with a
separate `F.pad` copy on every call) become ordinary zero-padded convolutions: identical results
up to float rounding, and faster (docs/BENCHMARKS.md).

The copy is made from the trained model and is stale as soon as the model trains again;
`InferenceCopy.get` rebuilds it when any parameter has changed since.
"""

from __future__ import annotations

import copy

import torch
from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.model.network import OSVOSNet

# (convolution, BatchNorm) attribute pairs of EfficientNet-Lite's MBConv blocks and of our stem.
_CONV_BN_PAIRS = (
    ("_expand_conv", "_bn0"),
    ("_depthwise_conv", "_bn1"),
    ("_project_conv", "_bn2"),
    ("conv", "bn"),
)


def _plain_padding(conv: nn.Conv2d) -> nn.Conv2d:
    """A stride-1 TF-"same" convolution as an ordinary one (odd kernels pad symmetrically)."""
    if not isinstance(conv, Conv2dDynamicSamePadding) or tuple(conv.stride) != (1, 1):
        return conv
    if any(k % 2 == 0 for k in conv.kernel_size) or tuple(conv.dilation) != (1, 1):
        return conv
    plain = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=1,
        padding=tuple(k // 2 for k in conv.kernel_size),
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    plain.weight = conv.weight
    if conv.bias is not None:
        plain.bias = conv.bias
    return plain


def fold_batchnorm(model: OSVOSNet) -> OSVOSNet:
    """An eval-mode deep copy of `model` with every conv+BatchNorm pair folded into one conv,
    in channels_last layout, without gradients. Outputs match `model.eval()` to ~1e-4."""
    folded = copy.deepcopy(model).eval()
    for module in folded.backbone.modules():
        for conv_name, bn_name in _CONV_BN_PAIRS:
            conv = getattr(module, conv_name, None)
            bn = getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, _plain_padding(fuse_conv_bn_eval(conv, bn)))
                setattr(module, bn_name, nn.Identity())
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded.to(memory_format=torch.channels_last)


def parameters_fingerprint(model: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer is replaced or updated in place (optimiser steps,
    load_state_dict, object channels added): tensor identities and in-place version counters."""
    return tuple((id(t), t._version) for t in (*model.parameters(), *model.buffers()))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """True when `a` and `b` are the same module or hold equal parameters and buffers (same
    names, shapes and values)."""
    if a is b:
        return True
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa
    )


class InferenceCopy:
    """Holds the folded copy of one model and rebuilds it when the model's weights change."""

    def __init__(self, model: OSVOSNet) -> None:
        self.model = model
        self._fingerprint: tuple | None = None
        self._folded: OSVOSNet | None = None

    def get(self) -> OSVOSNet:
        fingerprint = parameters_fingerprint(self.model)
        if self._folded is None or fingerprint != self._fingerprint:
            self._folded = fold_batchnorm(self.model)
            self._fingerprint = fingerprint
        return self._folded
