"""The frozen backbone run by ONNX Runtime instead of torch (`--backend onnx`, opt-in).

At Fast and Balanced only the head trains, so every frame and every training view goes through
the same backbone weights. ONNX Runtime can run that backbone in fp32 with the same results up
to float rounding. On the dev CPU torch is as fast or faster once glibc keeps freed blocks mapped
(main.tune_allocator), so torch is the default; ONNX Runtime stays a choice for CPUs where it
wins (docs/BENCHMARKS.md, "Backbone backends"). It needs the optional `onnx` extra.

A graph is exported per input shape: efficientnet_lite_pytorch computes its stride-2 "same"
padding in Python, so tracing bakes the shape in. Sessions live in a small process-wide cache
keyed by a digest of the backbone's weights, so each shot model (a copy of the parent) reuses the
parent's sessions instead of exporting again. Any failure to export or run falls back to torch
for the rest of the process, with one warning in the log.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import warnings
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

from core.errors import RotoshotError
from core.model.inference import fold_batchnorm, parameters_fingerprint
from core.model.network import OSVOSNet

log = logging.getLogger(__name__)

# What --backend accepts. torch (default): bf16 where the CPU has it natively; torch-fp32: fp32
# only; onnx: ONNX Runtime for the frozen backbone on a CPU (torch when it is not installed, on
# CUDA, or after a failure), the head in torch.
BACKENDS = ("torch", "torch-fp32", "onnx")
# Sessions kept per process: a few working sizes (test-time scales add sizes) and models.
_MAX_SESSIONS = 6

_sessions: OrderedDict[tuple, object] = OrderedDict()
_sessions_lock = threading.Lock()
_broken: list[str] = []  # the first failure's message; ONNX Runtime is not tried again


def onnx_available() -> bool:
    """True when ONNX Runtime (and the onnx package torch's exporter needs) can be imported and
    no earlier export or run failed in this process."""
    if _broken:
        return False
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def check_backend(name: str) -> str:
    """`name` when it is one of BACKENDS; RotoshotError (one line for the user) otherwise."""
    if name not in BACKENDS:
        raise RotoshotError(f"unknown --backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return name


def use_onnx(backend: str, device: torch.device) -> bool:
    """Whether the frozen backbone runs in ONNX Runtime (segmentation, and fine-tunes that train
    only the head, encode their views with it)."""
    return check_backend(backend) == "onnx" and device.type == "cpu" and onnx_available()


def _weights_digest(backbone: nn.Module) -> str:
    """sha1 over the backbone's parameters and buffers: equal weights, equal digest."""
    h = hashlib.sha1()
    for name, tensor in (*backbone.named_parameters(), *backbone.named_buffers()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class _Features(nn.Module):
    """The backbone as a traceable module: x -> the five stages' features as a tuple."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.backbone(x))


def _export(model: OSVOSNet, shape: tuple[int, ...], threads: int):
    """An ONNX Runtime session of `model`'s BatchNorm-folded backbone for inputs of `shape`."""
    import onnxruntime as ort

    folded = _Features(fold_batchnorm(model).backbone).to(memory_format=torch.contiguous_format)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # The tracer warns about the Python-computed padding; that is why graphs are per shape.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            folded, (torch.zeros(shape),), buffer, input_names=["x"], opset_version=17, dynamo=False
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's warnings would go to stderr
    return ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])


class OnnxBackbone:
    """Runs one model's backbone in ONNX Runtime: `features(x)` for x (1, C, H, W) float32
    normalised (C = 3, or 4 for a guided network) -> [(1, C_s, H/2^(s+1), W/2^(s+1))] float32 for
    the five stages, as `model.backbone(x)` gives, or None when ONNX Runtime failed (the caller
    then uses torch; the failure is logged once). Only for a backbone that does not train while
    in use: its weights are digested again whenever they change."""

    def __init__(self, model: OSVOSNet) -> None:
        self.model = model
        self._fingerprint: tuple | None = None
        self._digest = ""

    def _current_digest(self) -> str:
        fingerprint = parameters_fingerprint(self.model.backbone)
        if fingerprint != self._fingerprint:
            self._digest = _weights_digest(self.model.backbone)
            self._fingerprint = fingerprint
        return self._digest

    def _session(self, shape: tuple[int, ...]):
        threads = torch.get_num_threads()
        key = (self._current_digest(), shape, threads)
        with _sessions_lock:
            session = _sessions.get(key)
            if session is not None:
                _sessions.move_to_end(key)
                return session
        session = _export(self.model, shape, threads)
        with _sessions_lock:
            _sessions[key] = session
            while len(_sessions) > _MAX_SESSIONS:
                _sessions.popitem(last=False)
        return session

    def features(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        if not onnx_available():
            return None
        try:
            session = self._session(tuple(x.shape))
            array = np.ascontiguousarray(x.detach().float().cpu().numpy())
            outputs = session.run(None, {"x": array})
        except Exception as exc:  # any exporter or runtime failure: torch still works
            _broken.append(str(exc))
            log.warning("ONNX Runtime backbone failed (%s); using torch from now on", exc)
            return None
        return [torch.from_numpy(o) for o in outputs]
