"""moekit for PyTorch: sparse Mixture-of-Experts layers with every moekit gate
(softmax, noisy Top-k, Switch, Hash, DSelect-k, COMET, THOR's random experts),
COMET's permutation local search, dispatch/combine ops and THOR's losses, run
by moekit's C++ core.

>>> import torch, moekit
>>> layer = moekit.MoELayer(d_model=16, hidden=32, n_experts=4, gate="comet", k=2)
>>> y, aux_loss = layer(torch.randn(8, 16))
"""
from torch import nn

from . import _C, gates, losses, ops
from ._C import Error
from .layer import MoELayer
from .routing import Routing

__all__ = ["Error", "MoELayer", "Routing", "gates", "losses", "ops", "step_schedules",
           "set_steps_per_epoch"]
__version__ = "0.1.0"


def step_schedules(model: nn.Module) -> None:
    """Calls ``optimizer_step()`` on every moekit module in ``model``: call it
    after each ``optimizer.step()`` so local search counts optimiser steps."""
    from ._cpp_module import CppModule
    for module in model.modules():
        if isinstance(module, CppModule):
            module.optimizer_step()


def set_steps_per_epoch(model: nn.Module, steps: int) -> None:
    """Lets every moekit module turn ``search_epochs`` into optimiser steps."""
    from ._cpp_module import CppModule
    for module in model.modules():
        if isinstance(module, CppModule):
            module.set_steps_per_epoch(steps)
