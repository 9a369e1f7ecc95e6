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
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Gen = torch.Generator | None


def _identity(x: Tensor) -> Tensor:
    return x


# Plain functions rather than modules: activations stay out of the state_dict and can be
# swapped by name without touching any parameter.
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "ReLU": F.relu,
    "ELU": F.elu,
    "GELU": F.gelu,
    "Tanh": torch.tanh,
    "LeakyReLU": F.leaky_relu,
    "Sigmoid": torch.sigmoid,
    "Softplus": F.softplus,
    "Identity": _identity,
}
ACTIVATION_NAMES: tuple[str, ...] = tuple(_ACTIVATIONS)


def get_activation(name: str | None) -> Callable[[Tensor], Tensor]:
    """Return the activation function called ``name`` (``None`` means identity)."""
    if name is None:
        return _identity
    if name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {list(ACTIVATION_NAMES)}")
    return _ACTIVATIONS[name]


def _gen_device(gen: Gen) -> torch.device:
    # torch draws with a generator only on that generator's own device.
    return gen.device if gen is not None else torch.device("cpu")


def _uniform(shape: Sequence[int], fan_in: int, gen: Gen, like: Tensor) -> Tensor:
    """Draw ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` and return it on ``like``'s device/dtype."""
    bound = 1.0 / math.sqrt(fan_in)
    # Draw on the generator's device and move afterwards: a CPU generator then gives the same
    # numbers whether the network lives on CPU or GPU.
    t = torch.empty(tuple(shape), dtype=like.dtype, device=_gen_device(gen))
    return t.uniform_(-bound, bound, generator=gen).to(like.device)


def _copy_overlap(dst: Tensor, src: Tensor) -> None:
    """Copy the leading overlapping block of ``src`` into ``dst`` (any rank, same ndim)."""
    idx = tuple(slice(0, min(a, b)) for a, b in zip(dst.shape, src.shape, strict=True))
    with torch.no_grad():
        dst[idx].copy_(src[idx])


def _randint(high: int, gen: Gen) -> int:
    return int(torch.randint(high, (1,), generator=gen, device=_gen_device(gen)))


def _skipped(requested: str, reason: str) -> dict[str, Any]:
    return {"op": "none", "requested": requested, "reason": reason}


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} outside the bounds [{low}, {high}]")


def _new_widths(
    op: str,
    unit: str,
    sizes: list[int],
    layer: int | None,
    num: int | None,
    choices: Sequence[int],
    bounds: tuple[int, int],
    gen: Gen,
) -> tuple[list[int] | None, dict[str, Any]]:
    """Plan a width mutation of ``sizes[layer]``; return ``(new_sizes or None, report)``.

    Shared by node (MLP) and channel (CNN) mutations. Missing ``layer``/``num`` are drawn from
    ``gen`` in that fixed order so the generator stream is reproducible.
    """
    if layer is None:
        layer = _randint(len(sizes), gen)
    if not 0 <= layer < len(sizes):
        raise IndexError(f"layer {layer} out of range for {len(sizes)} layers")
    if num is None:
        num = choices[_randint(len(choices), gen)]
    if num <= 0:
        raise ValueError(f"number of units must be positive, got {num}")
    target = sizes[layer] + num if op.startswith("add") else sizes[layer] - num
    size = min(max(target, bounds[0]), bounds[1])  # clip to the bounds rather than refuse
    if size == sizes[layer]:
        return None, _skipped(op, f"layer {layer} already at its bound ({size})")
    new = [*sizes[:layer], size, *sizes[layer + 1 :]]
    return new, {"op": op, "layer": layer, unit: abs(size - sizes[layer]), "old": sizes, "new": new}


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
        min_hidden_layers: int = 1,
        max_hidden_layers: int = 4,
        min_nodes: int = 16,
        max_nodes: int = 512,
        generator: Gen = None,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_sizes]
        if min(input_dim, output_dim, ensemble_size, min_hidden_layers, min_nodes) < 1:
            raise ValueError("dimensions, ensemble_size and lower bounds must be >= 1")
        _check_range("number of hidden layers", len(hidden), min_hidden_layers, max_hidden_layers)
        for h in hidden:
            _check_range("hidden size", h, min_nodes, max_nodes)
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

    def forward(self, x: Tensor) -> Tensor:
        """Evaluate every ensemble member; see the class docstring for the accepted shapes."""
        act, out_act = get_activation(self.activation), get_activation(self.output_activation)
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
            ws.append(nn.Parameter(_uniform((e, fan_in, fan_out), fan_in, gen, like)))
            bs.append(nn.Parameter(_uniform((e, 1, fan_out), fan_in, gen, like)))
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
            return _skipped("add_layer", f"max_hidden_layers={self.max_hidden_layers} reached")
        self._resize([*old, old[-1]], gen=generator)
        return {"op": "add_layer", "old": old, "new": list(self.hidden_sizes)}

    def remove_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Drop the last hidden layer; the output layer keeps its overlapping input slice."""
        old = list(self.hidden_sizes)
        if len(old) <= self.min_hidden_layers:
            return _skipped("remove_layer", f"min_hidden_layers={self.min_hidden_layers} reached")
        self._resize(old[:-1], gen=generator)
        return {"op": "remove_layer", "old": old, "new": list(self.hidden_sizes)}

    def add_nodes(
        self, layer: int | None = None, num_nodes: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Widen hidden ``layer`` by ``num_nodes`` (each random if None), capped at max_nodes."""
        return self._change_width("add_nodes", layer, num_nodes, generator)

    def remove_nodes(
        self, layer: int | None = None, num_nodes: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Narrow hidden ``layer`` by ``num_nodes`` (each random if None), not below min_nodes."""
        return self._change_width("remove_nodes", layer, num_nodes, generator)

    def _change_width(
        self, op: str, layer: int | None, num: int | None, gen: Gen
    ) -> dict[str, Any]:
        bounds = (self.min_nodes, self.max_nodes)
        new, report = _new_widths(
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
        _copy_overlap(dst_w[d], src_w[s])
        _copy_overlap(dst_b[d], src_b[s])


def preserve_parameters(old: EvolvableMLP, new: EvolvableMLP) -> EvolvableMLP:
    """Copy every overlapping parameter slice of ``old`` into ``new`` in place; return ``new``."""
    _transfer(old.weights, old.biases, new.weights, new.biases)
    return new
