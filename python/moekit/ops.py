"""Dispatch and combine for people who bring their own experts.

``plan`` groups a compact routing (idx [T, k], -1 = none) by expert; ``gather``
puts the rows in that order; ``expert_ffn`` runs FFN experts given as stacked
weights, each on its own slice; ``combine`` scatter-adds the weighted outputs
back. All are differentiable (autograd) in their tensor arguments.
"""
import torch

from . import _C

DispatchPlan = _C.DispatchPlan


def plan(idx: torch.Tensor, n_experts: int) -> DispatchPlan:
    """Groups the assignments of idx [T, k] (int64, -1 = none) by expert."""
    return _C.plan_dispatch(idx, int(n_experts))


def gather(x: torch.Tensor, plan: DispatchPlan) -> torch.Tensor:
    """Rows of x [T, ...] in plan order: [A, ...]."""
    return _C.gather_rows(x, plan)


def combine(y: torch.Tensor, w: torch.Tensor, plan: DispatchPlan) -> torch.Tensor:
    """Weighted scatter-add of expert outputs y [A, ...] back to the T rows:
    out[t] = sum over row t's slots j of w[t, j] * y[slot]."""
    return _C.combine(y, w, plan)


def expert_ffn(x_grouped: torch.Tensor, plan: DispatchPlan, w1: torch.Tensor, b1: torch.Tensor,
               w2: torch.Tensor, b2: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """FFN experts act(x W1[e] + b1[e]) W2[e] + b2[e], expert e on its slice of
    x_grouped [A, d] only. w1 [E, d, H], b1 [E, H], w2 [E, H, d_out], b2 [E, d_out]."""
    return _C.expert_ffn(x_grouped, plan, w1, b1, w2, b2, activation)


def moe_ffn(x: torch.Tensor, idx: torch.Tensor, w: torch.Tensor, w1: torch.Tensor,
            b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
            activation: str = "relu") -> torch.Tensor:
    """The whole sparse FFN for a routing (idx, w) [T, k]: plan, gather, experts, combine."""
    p = plan(idx, w1.shape[0])
    return combine(expert_ffn(gather(x, p), p, w1, b1, w2, b2, activation), w, p)
