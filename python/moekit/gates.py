"""Every registered gate as a torch.nn.Module (``moekit gates`` on the CLI)."""
from typing import Any, List, NamedTuple, Optional

import torch

from . import _C
from ._cpp_module import CppModule
from .routing import Routing


class GateInfo(NamedTuple):
    """One registry row: the gate's name, what it is, the options it reads and
    how many experts a row goes to once trained ("dense", "1" or "k")."""

    name: str
    summary: str
    options: List[str]
    routes: str


class GateOption(NamedTuple):
    """One gate option: its keyword, type, default and meaning."""

    name: str
    type: str
    default: str
    doc: str


def list() -> List[GateInfo]:  # noqa: A001 - mirrors `moekit gates`
    """The registered gates, in registry order."""
    return [GateInfo(**row) for row in _C.registered_gates()]


def options() -> List[GateOption]:
    """Every gate option (the keywords of :func:`make` and ``MoELayer``)."""
    return [GateOption(*row) for row in _C.gate_option_table()]


class Gate(CppModule):
    """A moekit gate over inputs of width ``d_in`` and ``n_experts`` experts.

    ``forward(x, ids=None, seq=None)`` maps x [T, d_in] to a :class:`Routing`;
    ``ids`` [T] (int64) feeds key-based gates (hash), ``seq`` [T] THOR's
    per-sequence draws.
    """

    def __init__(self, name: str, d_in: int, n_experts: int, **gate_options: Any) -> None:
        super().__init__(_C.make_gate(name, int(d_in), int(n_experts), dict(gate_options)))
        self.name = name
        self._summary = f"{name!r}, d_in={d_in}, n_experts={n_experts}"

    def extra_repr(self) -> str:
        return self._summary

    def forward(self, x: torch.Tensor, ids: Optional[torch.Tensor] = None,
                seq: Optional[torch.Tensor] = None) -> Routing:
        return Routing(*self._cpp.forward(x, ids, seq))


def make(name: str, d_in: int, n_experts: int, **gate_options: Any) -> Gate:
    """Builds the gate ``name`` (see :func:`list`); ``local_search=True`` wraps it
    in COMET's permutation local search. Unknown names or options and values out
    of range raise :class:`moekit.Error` naming them."""
    return Gate(name, d_in, n_experts, **gate_options)
