"""What a gate decides for a batch of rows."""
from typing import NamedTuple

import torch


class Routing(NamedTuple):
    """A gate's routing of T rows over n experts.

    ``weights`` [T, n] is the dense form, exact zeros for experts that are off;
    ``idx`` [T, k] (int64, -1 = empty slot) and ``w`` [T, k] the compact form
    that dispatch reads; ``aux_loss`` is the gate's regulariser, already scaled:
    add it to the training loss.
    """

    weights: torch.Tensor
    idx: torch.Tensor
    w: torch.Tensor
    aux_loss: torch.Tensor

    def active_experts(self) -> float:
        """Mean number of experts per row with weight above 1e-5 (the papers' count)."""
        return float((self.weights > 1e-5).sum(dim=1).double().mean())
