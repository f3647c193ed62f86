"""THOR's losses (Zuo et al., 2022): two forward passes with independent
expert draws, tied by a symmetric KL consistency term."""
from typing import NamedTuple, Optional

import torch

from . import _C


def thor_consistency(logits_a: torch.Tensor, logits_b: torch.Tensor, alpha: float = 1.0,
                     mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """alpha * ½ (KL(p_a‖p_b) + KL(p_b‖p_a)), p = softmax over the last dim,
    summed over classes and averaged over the rows where ``mask`` is true (all
    rows when None). logits [..., V], mask [...]."""
    vocab = logits_a.shape[-1]
    flat_mask = None if mask is None else mask.reshape(-1)
    return alpha * _C.symmetric_kl(logits_a.reshape(-1, vocab), logits_b.reshape(-1, vocab),
                                   flat_mask)


class ThorLoss(NamedTuple):
    total: torch.Tensor
    ce_a: torch.Tensor
    ce_b: torch.Tensor
    consistency: torch.Tensor


def thor_loss(logits_a: torch.Tensor, logits_b: torch.Tensor, target: torch.Tensor,
              pad_id: int = -100, alpha: float = 1.0, label_smoothing: float = 0.1) -> ThorLoss:
    """THOR's training loss: CE_ls(a) + CE_ls(b) + alpha * symmetric KL, each
    averaged over the targets that are not ``pad_id`` (the MoE aux losses are
    yours to add). logits [..., V], target [...] int64."""
    return ThorLoss(*_C.thor_loss(logits_a, logits_b, target, int(pad_id), float(alpha),
                                  float(label_smoothing)))
