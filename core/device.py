"""Pick the torch device from the user's --device choice; what the CPU can do."""

from __future__ import annotations

import torch

from core.errors import RotoshotError


def resolve_device(choice: str = "auto") -> torch.device:
    """ "auto" -> CUDA when available, else CPU; "cuda" fails clearly when there is none."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        raise RotoshotError("--device cuda was asked for, but no CUDA device is available")
    if choice not in ("cpu", "cuda"):
        raise RotoshotError(f"unknown device {choice!r}")
    return torch.device(choice)


def cpu_has_bf16() -> bool:
    """True when this CPU runs bfloat16 matrix maths natively (AVX512-BF16 or AMX)."""
    try:
        capability = torch.backends.cpu.get_cpu_capability()
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and "AVX512" in capability
    except (AttributeError, RuntimeError):
        return False
