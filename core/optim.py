"""A minimal Adam for the one-shot fine-tune.

Written by hand on purpose: constructing any `torch.optim` optimiser imports torch._dynamo (and
sympy, mpmath, ... ~830 modules) on first use, which measured **2.0 s** on this 2-core machine —
a quarter of the fixed cost of a fast-end `main.py segment` run and most of the app's
first-overlay budget (docs/BENCHMARKS.md). The fine-tune needs nothing but plain Adam with
per-group learning rates, which is a dozen tensor operations. Parent training, which runs for
an hour, keeps `torch.optim.Adam` (resumable optimiser state).
"""

from __future__ import annotations

import math

import torch


class Adam:
    """Adam (Kingma & Ba 2015) with the same defaults and update as `torch.optim.Adam`
    (no weight decay, no amsgrad). `param_groups` is a list of {"params": [...], "lr": float};
    change a group's "lr" between steps to schedule it."""

    def __init__(
        self, param_groups: list[dict], *, betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:  # fmt: skip
        self.param_groups = [dict(g, params=list(g["params"])) for g in param_groups]
        self.betas = betas
        self.eps = eps
        self._step = 0
        self._state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self._step += 1
        beta1, beta2 = self.betas
        bias1 = 1 - beta1**self._step
        bias2_sqrt = math.sqrt(1 - beta2**self._step)
        for group in self.param_groups:
            step_size = group["lr"] / bias1
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state.get(id(p))
                if state is None:
                    state = (torch.zeros_like(p), torch.zeros_like(p))
                    self._state[id(p)] = state
                exp_avg, exp_avg_sq = state
                exp_avg.lerp_(p.grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / bias2_sqrt).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
