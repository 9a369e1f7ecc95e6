"""Evolvable networks for MADDPG/MATD3 with evolutionary hyperparameter optimisation.

* :class:`EvolvableMLP` -- an ensemble of ``E`` identical-architecture MLPs evaluated with one
  batched matmul per layer (e.g. all twin critics of all agents in a single forward).
* :class:`~marlpipe.algos.cnn.EvolvableCNN` (in ``cnn.py``) -- a conv encoder followed by an
  :class:`EvolvableMLP` head.

Every architecture mutation works in place, keeps trained weights wherever old and new tensors
overlap (bit-identical leading slices) and initialises only the new part with the same
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` scheme as ``nn.Linear``. All randomness (initialisation
and the random choices inside mutations) comes from an optional ``torch.Generator``; ``None``
falls back to the global torch RNG, so pass a generator whenever reproducibility matters.
Mutations replace the Parameter objects: callers must rebuild their optimisers afterwards.
A mutation that would break a bound changes nothing and returns ``{"op": "none", ...}``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from marlpipe.algos.evolvable import (
    DEFAULT_BOUNDS,
    Gen,
    check_range,
    copy_overlap,
    get_activation,
    plan_width_change,
    skipped,
    uniform_init,
)


class EvolvableMLP(nn.Module):
    """Ensemble of ``ensemble_size`` MLPs with identical, mutable architecture.

    Layer ``i`` stores ``weights.i`` of shape ``(E, in, out)`` and ``biases.i`` of shape
    ``(E, 1, out)``. With ``E == 1`` ``forward`` takes ``(..., in)``; with ``E > 1`` it takes
    ``(E, B, in)`` (one batch per member) or ``(B, in)`` (broadcast) and returns ``(E, B, out)``.
    """

    NODE_CHOICES: tuple[int, ...] = (16, 32, 64)

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        hidden_sizes: Sequence[int],
        activation: str = "ReLU",
        output_activation: str | None = None,
        ensemble_size: int = 1,
        min_hidden_layers: int = DEFAULT_BOUNDS.min_hidden_layers,
        max_hidden_layers: int = DEFAULT_BOUNDS.max_hidden_layers,
        min_nodes: int = DEFAULT_BOUNDS.min_nodes,
        max_nodes: int = DEFAULT_BOUNDS.max_nodes,
        generator: Gen = None,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_sizes]
        if min(input_dim, output_dim, ensemble_size, min_hidden_layers, min_nodes) < 1:
            raise ValueError("dimensions, ensemble_size and lower bounds must be >= 1")
        check_range("number of hidden layers", len(hidden), min_hidden_layers, max_hidden_layers)
        for h in hidden:
            check_range("hidden size", h, min_nodes, max_nodes)
        for name in (activation, output_activation):
            get_activation(name)  # fail fast on a typo, not at the first forward
        self.input_dim, self.output_dim, self.ensemble_size = input_dim, output_dim, ensemble_size
        self.hidden_sizes = hidden
        self.activation, self.output_activation = activation, output_activation
        self.min_hidden_layers, self.max_hidden_layers = min_hidden_layers, max_hidden_layers
        self.min_nodes, self.max_nodes = min_nodes, max_nodes
        self.weights, self.biases = self._fresh(input_dim, hidden, generator, torch.empty(0))

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments: ``EvolvableMLP(**config)`` rebuilds the architecture."""
        return {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "hidden_sizes": list(self.hidden_sizes),
            "activation": self.activation,
            "output_activation": self.output_activation,
            "ensemble_size": self.ensemble_size,
            "min_hidden_layers": self.min_hidden_layers,
            "max_hidden_layers": self.max_hidden_layers,
            "min_nodes": self.min_nodes,
            "max_nodes": self.max_nodes,
        }

    def forward(self, x: Tensor, pre_activation: bool = False) -> Tensor:
        """Evaluate every ensemble member; see the class docstring for the accepted shapes.
        ``pre_activation``: the last layer's output before ``output_activation``."""
        act = get_activation(self.activation)
        out_act = get_activation(None if pre_activation else self.output_activation)
        # The parameter dicts, not the ParameterLists: indexing and iterating a ParameterList
        # costs more than the matmuls of a small acting batch. Both keep insertion order.
        layers = zip(
            self.weights._parameters.values(), self.biases._parameters.values(), strict=True
        )
        last = len(self.weights) - 1
        lead = None
        if self.ensemble_size == 1:  # one batched matmul per layer, like the ensemble path
            lead, x = x.shape[:-1], x.reshape(1, -1, x.shape[-1])
        elif x.dim() == 2:
            x = x.expand(self.ensemble_size, *x.shape)  # a view: no per-member copy of the input
        elif x.dim() != 3 or x.shape[0] != self.ensemble_size:
            raise ValueError(f"expected (B, in) or (E={self.ensemble_size}, B, in), got {x.shape}")
        for i, (w, b) in enumerate(layers):
            x = torch.baddbmm(b, x, w)
            x = out_act(x) if i == last else act(x)
        return x if lead is None else x.reshape(*lead, self.output_dim)

    def _fresh(
        self, input_dim: int, hidden: Sequence[int], gen: Gen, like: Tensor
    ) -> tuple[nn.ParameterList, nn.ParameterList]:
        """Freshly initialised parameters for an architecture, matching ``like``'s dtype/device."""
        sizes, e = [input_dim, *hidden, self.output_dim], self.ensemble_size
        ws, bs = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            ws.append(nn.Parameter(uniform_init((e, fan_in, fan_out), fan_in, gen, like)))
            bs.append(nn.Parameter(uniform_init((e, 1, fan_out), fan_in, gen, like)))
        return ws, bs

    def _resize(self, hidden: Sequence[int], input_dim: int | None = None, gen: Gen = None) -> None:
        """Switch to a new architecture, keeping the overlapping slices of the old parameters."""
        ref = self.weights[0]
        input_dim = self.input_dim if input_dim is None else input_dim
        ws, bs = self._fresh(input_dim, hidden, gen, ref)
        _transfer(self.weights, self.biases, ws, bs)
        ws.requires_grad_(ref.requires_grad)  # keep frozen (e.g. target) networks frozen
        bs.requires_grad_(ref.requires_grad)
        self.input_dim, self.hidden_sizes = input_dim, [int(h) for h in hidden]
        self.weights, self.biases = ws, bs

    def add_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Append a hidden layer as wide as the current last one (freshly initialised)."""
        old = list(self.hidden_sizes)
        if len(old) >= self.max_hidden_layers:
            return skipped("add_layer", f"max_hidden_layers={self.max_hidden_layers} reached")
        self._resize([*old, old[-1]], gen=generator)
        return {"op": "add_layer", "old": old, "new": list(self.hidden_sizes)}

    def add_nodes(
        self, layer: int | None = None, num_nodes: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Widen hidden ``layer`` by ``num_nodes`` (each random if None), capped at max_nodes."""
        return self._change_width("add_nodes", layer, num_nodes, generator)

    def _change_width(
        self, op: str, layer: int | None, num: int | None, gen: Gen
    ) -> dict[str, Any]:
        bounds = (self.min_nodes, self.max_nodes)
        new, report = plan_width_change(
            op, "nodes", list(self.hidden_sizes), layer, num, self.NODE_CHOICES, bounds, gen
        )
        if new is not None:
            self._resize(new, gen=gen)
        return report

    def change_activation(self, name: str) -> dict[str, Any]:
        """Switch the hidden activation (the output activation is left alone)."""
        get_activation(name)
        old, self.activation = self.activation, name
        return {"op": "change_activation", "old": old, "new": name}

    def clone(self) -> EvolvableMLP:
        """Return an independent deep copy (no shared tensors)."""
        return copy.deepcopy(self)

    def extra_repr(self) -> str:
        """Summarise the architecture in ``print(net)``."""
        return (
            f"{self.input_dim} -> {self.hidden_sizes} -> {self.output_dim}, "
            f"activation={self.activation}, ensemble_size={self.ensemble_size}"
        )


def _transfer(
    src_w: Sequence[Tensor],
    src_b: Sequence[Tensor],
    dst_w: Sequence[Tensor],
    dst_b: Sequence[Tensor],
) -> None:
    """Copy overlapping slices layer by layer, matching layers by role rather than index.

    Hidden layer ``i`` maps to hidden layer ``i`` and output layer to output layer, so adding or
    removing the last hidden layer keeps the trained output layer.
    """
    pairs = [(i, i) for i in range(min(len(src_w), len(dst_w)) - 1)]
    pairs.append((len(src_w) - 1, len(dst_w) - 1))
    for s, d in pairs:
        copy_overlap(dst_w[d], src_w[s])
        copy_overlap(dst_b[d], src_b[s])
