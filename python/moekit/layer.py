"""The MoE FFN layer."""
from typing import Any, Optional, Tuple, Union

import torch

from . import _C
from ._cpp_module import CppModule
from .routing import Routing


class MoELayer(CppModule):
    """A sparse Mixture-of-Experts FFN: a gate from the registry and
    ``n_experts`` two-layer FFN experts (d_model -> hidden -> d_model).

    Rows are sorted by expert and every expert runs once on its own rows only.
    Gate options (``gamma``, ``entropy_weight``, ``noisy``, ``search_epochs``, ...:
    :func:`moekit.gates.options`) are keywords; ``local_search=True`` adds COMET's
    permutation local search to any gate (then call :meth:`optimizer_step` or
    :func:`moekit.step_schedules` after every optimiser step).

    Parameters: ``gate.*`` and ``experts.w1`` [E, d, H], ``experts.b1`` [E, H],
    ``experts.w2`` [E, H, d], ``experts.b2`` [E, d].
    """

    def __init__(self, d_model: int, hidden: int, n_experts: int, gate: str = "comet",
                 k: int = 2, local_search: bool = False, activation: str = "relu",
                 **gate_options: Any) -> None:
        options = dict(gate_options, k=int(k), local_search=bool(local_search))
        super().__init__(_C.make_moe_layer(int(d_model), int(hidden), int(n_experts), gate,
                                           activation, options))
        self.gate_name = gate
        self._summary = (f"d_model={d_model}, hidden={hidden}, n_experts={n_experts}, "
                         f"gate={gate!r}, k={k}, local_search={local_search}")

    def extra_repr(self) -> str:
        return self._summary

    def forward(self, x: torch.Tensor, ids: Optional[torch.Tensor] = None,
                seq: Optional[torch.Tensor] = None, return_routing: bool = False
                ) -> Union[Tuple[torch.Tensor, torch.Tensor],
                           Tuple[torch.Tensor, torch.Tensor, Routing]]:
        """x [..., d_model] -> (y [..., d_model], aux_loss) and, when asked, the
        :class:`Routing` of the flattened rows. Add aux_loss to the training loss."""
        y, routing = self._cpp.forward(x, ids, seq)
        routing = Routing(*routing)
        if return_routing:
            return y, routing.aux_loss, routing
        return y, routing.aux_loss
