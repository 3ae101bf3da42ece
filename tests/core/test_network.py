"""The network's fast paths compute what the plain formulation computes."""

import torch
import torch.nn.functional as F

from core.model.build import build_network
from core.model.inference import InferenceCopy, fold_batchnorm


def test_fusion_equals_upsample_concat_then_1x1():
    torch.manual_seed(0)
    model = build_network(imagenet=False)
    model.set_num_objects(2)
    head = model.head
    sides = [torch.randn(1, 16, 24 // 2**i, 40 // 2**i) for i in range(4)]
    ups = [sides[0]] + [
        F.interpolate(s, size=sides[0].shape[-2:], mode="bilinear", align_corners=False)
        for s in sides[1:]
    ]
    reference = head.fuse(torch.cat(ups, dim=1))
    assert torch.allclose(head._fuse_at_stride4(sides), reference, atol=1e-5)


def _randomise_batchnorm(model):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)


@torch.no_grad()
def test_folded_copy_matches_the_model_and_follows_its_weights():
    torch.manual_seed(0)
    model = build_network(imagenet=False).eval()
    _randomise_batchnorm(model)
    x = torch.randn(1, 3, 70, 98)  # odd sizes: the stride-2 "same" padding is asymmetric
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(folded(x).logits, model(x).logits, atol=1e-3)

    copy = InferenceCopy(model)
    first = copy.get()
    assert copy.get() is first  # unchanged weights: no rebuild
    model.head.fuse.bias.add_(1.0)  # an optimiser step changes a weight in place
    second = copy.get()
    assert second is not first
    assert torch.allclose(second(x).logits, model(x).logits, atol=1e-3)
