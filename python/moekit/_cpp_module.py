"""A torch.nn.Module over a moekit C++ module.

The C++ module keeps its tensors; this module registers *the same tensors*
(not copies) as its parameters and buffers, so optimisers, ``state_dict()``,
``load_state_dict()`` and in-place updates reach the C++ code directly.
"""
from typing import Iterator, Tuple

import torch
from torch import nn


class CppModule(nn.Module):
    """Base of every moekit Python module: mirrors ``cpp``'s parameters and
    buffers under their C++ names (``gate.split_weight``, ``experts.w1``)."""

    def __init__(self, cpp) -> None:
        super().__init__()
        self._cpp = cpp
        for name, tensor in cpp.named_parameters():
            # A Parameter made with nn.Parameter(t) would be a new tensor that
            # the C++ forward never reads; re-classing keeps the same one.
            tensor.__class__ = nn.Parameter
            owner, leaf = self._owner(name)
            owner.register_parameter(leaf, tensor)
        for name, tensor in cpp.named_buffers():
            owner, leaf = self._owner(name)
            owner.register_buffer(leaf, tensor)
        cpp.train(self.training)

    def _owner(self, dotted: str) -> Tuple[nn.Module, str]:
        *path, leaf = dotted.split(".")
        module: nn.Module = self
        for part in path:
            if part not in module._modules:
                module.add_module(part, nn.Module())
            module = module._modules[part]
        return module, leaf

    def _cpp_tensors(self) -> Iterator[Tuple[str, torch.Tensor, bool]]:
        for name, tensor in self._cpp.named_parameters():
            yield name, tensor, True
        for name, tensor in self._cpp.named_buffers():
            yield name, tensor, False

    def train(self, mode: bool = True) -> "CppModule":
        super().train(mode)
        self._cpp.train(mode)
        return self

    def _apply(self, fn):
        # nn.Module converts parameters in place (same tensor) where it can, but
        # replaces buffers and moved tensors: hand those back to the C++ module.
        super()._apply(fn)
        for name, cpp_tensor, is_parameter in self._cpp_tensors():
            owner, leaf = self._owner(name)
            table = owner._parameters if is_parameter else owner._buffers
            current = table[leaf]
            if current is cpp_tensor:
                continue
            with torch.no_grad():
                cpp_tensor.data = current.data
            cpp_tensor.requires_grad_(current.requires_grad)
            if is_parameter:
                cpp_tensor.__class__ = nn.Parameter
            table[leaf] = cpp_tensor
        return self

    def optimizer_step(self) -> None:
        """Advances schedules counted in optimiser steps (local search's search
        phase); call it after every ``optimizer.step()``, or use
        :func:`moekit.step_schedules` on the whole model."""
        self._cpp.optimizer_step()

    def set_steps_per_epoch(self, steps: int) -> None:
        """Turns ``search_epochs`` into optimiser steps (call once before training)."""
        self._cpp.set_steps_per_epoch(int(steps))

    def extra_repr(self) -> str:
        return repr(self._cpp)
