"""Evolvable networks for MADDPG/MATD3 with evolutionary hyperparameter optimisation.

Two modules are provided:

* :class:`EvolvableMLP` -- an ensemble of ``E`` identical-architecture MLPs evaluated with one
  batched matmul per layer (e.g. all twin critics of all agents in a single forward).
* :class:`EvolvableCNN` -- a conv encoder followed by an :class:`EvolvableMLP` head.

Every architecture mutation works in place, keeps trained weights wherever the old and new
tensors overlap (bit-identical slices) and initialises only the new part, with the same
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` scheme as ``nn.Linear``. All randomness (initialisation
and random choices inside mutations) is drawn from an optional ``torch.Generator``; with
``None`` the global torch RNG is used, so pass a generator whenever reproducibility matters.
Mutations replace the Parameter objects, so callers must rebuild their optimisers afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _identity(x: Tensor) -> Tensor:
    return x


# Plain functions (not modules) so activations never appear in the state_dict and can be swapped
# by name without touching parameters.
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


def _uniform(
    shape: Sequence[int],
    fan_in: int,
    generator: torch.Generator | None,
    device: torch.device,
    dtype: torch.dtype,
) -> Tensor:
    """Draw ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` on the generator's device, then move it."""
    bound = 1.0 / math.sqrt(fan_in)
    # A generator can only fill tensors on its own device; drawing there keeps a CPU generator
    # usable (and its stream identical) for a network that lives on the GPU.
    draw_device = generator.device if generator is not None else torch.device("cpu")
    t = torch.empty(tuple(shape), device=draw_device, dtype=dtype)
    return t.uniform_(-bound, bound, generator=generator).to(device)


def _copy_overlap(dst: Tensor, src: Tensor) -> None:
    """Copy the leading overlapping block of ``src`` into ``dst`` (any rank, same ndim)."""
    idx = tuple(slice(0, min(a, b)) for a, b in zip(dst.shape, src.shape, strict=True))
    with torch.no_grad():
        dst[idx].copy_(src[idx])


def _randint(high: int, generator: torch.Generator | None) -> int:
    device = generator.device if generator is not None else torch.device("cpu")
    return int(torch.randint(high, (1,), generator=generator, device=device).item())


def _skipped(requested: str, reason: str) -> dict[str, Any]:
    return {"op": "none", "requested": requested, "reason": reason}


def _pick(
    sizes: Sequence[int],
    layer: int | None,
    num: int | None,
    choices: Sequence[int],
    generator: torch.Generator | None,
) -> tuple[int, int]:
    """Resolve a (layer, amount) pair for a width mutation, drawing missing values randomly."""
    # Draw the layer before the amount so the generator stream is consumed in a fixed order.
    if layer is None:
        layer = _randint(len(sizes), generator)
    if not 0 <= layer < len(sizes):
        raise IndexError(f"layer {layer} out of range for {len(sizes)} layers")
    if num is None:
        num = choices[_randint(len(choices), generator)]
    if num <= 0:
        raise ValueError(f"amount must be positive, got {num}")
    return layer, num


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name}={value} outside the bounds [{low}, {high}]")


class EvolvableMLP(nn.Module):
    """Ensemble of ``ensemble_size`` MLPs with identical, mutable architecture.

    Layer ``i`` stores ``weights.i`` of shape ``(E, in, out)`` and ``biases.i`` of shape
    ``(E, 1, out)``. ``forward`` accepts ``(..., in)`` when ``E == 1``; otherwise either
    ``(E, B, in)`` (one batch per member) or ``(B, in)`` (broadcast to every member), returning
    ``(E, B, out)``.
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
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        hidden = [int(h) for h in hidden_sizes]
        if min(input_dim, output_dim, ensemble_size, min_hidden_layers, min_nodes) < 1:
            raise ValueError("dimensions, ensemble_size and lower bounds must be >= 1")
        _check_range("number of hidden layers", len(hidden), min_hidden_layers, max_hidden_layers)
        for h in hidden:
            _check_range("hidden size", h, min_nodes, max_nodes)
        for name in (activation, output_activation):
            get_activation(name)  # fail fast on typos, not at the first forward
        self.input_dim, self.output_dim, self.ensemble_size = input_dim, output_dim, ensemble_size
        self.hidden_sizes = hidden
        self.activation, self.output_activation = activation, output_activation
        self.min_hidden_layers, self.max_hidden_layers = min_hidden_layers, max_hidden_layers
        self.min_nodes, self.max_nodes = min_nodes, max_nodes
        ws, bs = self._fresh(input_dim, hidden, generator, torch.device("cpu"), torch.float32)
        self.weights = nn.ParameterList(nn.Parameter(w) for w in ws)
        self.biases = nn.ParameterList(nn.Parameter(b) for b in bs)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments; ``EvolvableMLP(**config)`` rebuilds the architecture."""
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
        """Evaluate every ensemble member; see the class docstring for accepted shapes."""
        act, out_act = get_activation(self.activation), get_activation(self.output_activation)
        last = len(self.weights) - 1
        if self.ensemble_size == 1:
            lead = x.shape[:-1]
            h = x.reshape(-1, x.shape[-1])
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.addmm(b[0], h, w[0])
                h = out_act(h) if i == last else act(h)
            return h.reshape(*lead, self.output_dim)
        if x.dim() == 2:
            x = x.expand(self.ensemble_size, *x.shape)  # a view: members share the input memory
        elif x.dim() != 3 or x.shape[0] != self.ensemble_size:
            raise ValueError(f"expected (B, in) or ({self.ensemble_size}, B, in), got {tuple(x.shape)}")
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            x = out_act(x) if i == last else act(x)
        return x

    def _fresh(
        self,
        input_dim: int,
        hidden: Sequence[int],
        generator: torch.Generator | None,
        device: torch.device,
        dtype: torch.dtype,
    ) -> tuple[list[Tensor], list[Tensor]]:
        sizes = [input_dim, *hidden, self.output_dim]
        ws, bs = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
            ws.append(_uniform((self.ensemble_size, fan_in, fan_out), fan_in, generator, device, dtype))
            bs.append(_uniform((self.ensemble_size, 1, fan_out), fan_in, generator, device, dtype))
        return ws, bs

    def _resize(
        self,
        hidden: Sequence[int],
        input_dim: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        """Rebuild for a new architecture, keeping overlapping slices of the old parameters."""
        ref = self.weights[0]
        input_dim = self.input_dim if input_dim is None else input_dim
        ws, bs = self._fresh(input_dim, hidden, generator, ref.device, ref.dtype)
        _transfer(list(self.weights), list(self.biases), ws, bs)
        self.input_dim, self.hidden_sizes = input_dim, [int(h) for h in hidden]
        self.weights = nn.ParameterList(nn.Parameter(w, ref.requires_grad) for w in ws)
        self.biases = nn.ParameterList(nn.Parameter(b, ref.requires_grad) for b in bs)

    def add_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Append a hidden layer as wide as the current last one (freshly initialised)."""
        old = list(self.hidden_sizes)
        if len(old) >= self.max_hidden_layers:
            return _skipped("add_layer", f"already at max_hidden_layers={self.max_hidden_layers}")
        self._resize([*old, old[-1]], generator=generator)
        return {"op": "add_layer", "old": old, "new": list(self.hidden_sizes)}

    def remove_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Drop the last hidden layer; the output layer keeps its overlapping input slice."""
        old = list(self.hidden_sizes)
        if len(old) <= self.min_hidden_layers:
            return _skipped("remove_layer", f"already at min_hidden_layers={self.min_hidden_layers}")
        self._resize(old[:-1], generator=generator)
        return {"op": "remove_layer", "old": old, "new": list(self.hidden_sizes)}

    def add_nodes(
        self,
        layer: int | None = None,
        num_nodes: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Widen hidden ``layer`` by ``num_nodes`` (random when ``None``), capped at max_nodes."""
        layer, num_nodes = _pick(self.hidden_sizes, layer, num_nodes, self.NODE_CHOICES, generator)
        return self._set_width("add_nodes", layer, self.hidden_sizes[layer] + num_nodes, generator)

    def remove_nodes(
        self,
        layer: int | None = None,
        num_nodes: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:
        """Narrow hidden ``layer`` by ``num_nodes`` (random when ``None``), not below min_nodes."""
        layer, num_nodes = _pick(self.hidden_sizes, layer, num_nodes, self.NODE_CHOICES, generator)
        return self._set_width("remove_nodes", layer, self.hidden_sizes[layer] - num_nodes, generator)

    def _set_width(
        self, op: str, layer: int, size: int, generator: torch.Generator | None
    ) -> dict[str, Any]:
        old = list(self.hidden_sizes)
        size = min(max(size, self.min_nodes), self.max_nodes)
        if size == old[layer]:
            return _skipped(op, f"layer {layer} already at its bound ({size} nodes)")
        new = old.copy()
        new[layer] = size
        self._resize(new, generator=generator)
        return {"op": op, "layer": layer, "nodes": abs(size - old[layer]), "old": old, "new": new}

    def change_activation(self, name: str) -> dict[str, Any]:
        """Switch the hidden activation (the output activation is left alone)."""
        get_activation(name)
        old, self.activation = self.activation, name
        return {"op": "change_activation", "old": old, "new": name}

    def clone(self) -> EvolvableMLP:
        """Return an independent deep copy (no shared tensors)."""
        return copy.deepcopy(self)

    def extra_repr(self) -> str:
        return (
            f"{self.input_dim} -> {self.hidden_sizes} -> {self.output_dim}, "
            f"activation={self.activation}, ensemble_size={self.ensemble_size}"
        )


def _transfer(
    src_w: Sequence[Tensor], src_b: Sequence[Tensor], dst_w: Sequence[Tensor], dst_b: Sequence[Tensor]
) -> None:
    """Copy overlapping slices layer by layer, matching layers by role, not by index.

    Hidden layer ``i`` maps to hidden layer ``i`` and the output layer to the output layer, so
    adding/removing the last hidden layer keeps the trained output layer.
    """
    pairs = [(i, i) for i in range(min(len(src_w), len(dst_w)) - 1)]
    pairs.append((len(src_w) - 1, len(dst_w) - 1))
    for s, d in pairs:
        _copy_overlap(dst_w[d], src_w[s])
        _copy_overlap(dst_b[d], src_b[s])


def preserve_parameters(old: EvolvableMLP, new: EvolvableMLP) -> EvolvableMLP:
    """Copy every overlapping parameter slice of ``old`` into ``new`` in place; return ``new``."""
    _transfer(list(old.weights), list(old.biases), list(new.weights), list(new.biases))
    return new


class EvolvableCNN(nn.Module):
    """Conv encoder (``nn.Conv2d`` + activation) -> flatten -> :class:`EvolvableMLP` head.

    Input is channels-first ``(B, C, H, W)``. Head mutations (``add_layer``, ``add_nodes``, ...)
    delegate to ``self.head``; conv mutations resize ``self.convs`` and, when the flattened size
    changes, the head's first layer keeps its overlapping slice. Because flattening is
    channel-major, added/removed last-layer channels map to appended/dropped head inputs.
    """

    CHANNEL_CHOICES: tuple[int, ...] = (8, 16, 32)

    def __init__(
        self,
        input_shape: Sequence[int],
        output_dim: int,
        channel_sizes: Sequence[int] = (16, 32),
        kernel_sizes: Sequence[int] = (3, 3),
        stride_sizes: Sequence[int] = (1, 1),
        hidden_sizes: Sequence[int] = (64,),
        activation: str = "ReLU",
        output_activation: str | None = None,
        min_conv_layers: int = 1,
        max_conv_layers: int = 4,
        min_channels: int = 8,
        max_channels: int = 256,
        min_hidden_layers: int = 1,
        max_hidden_layers: int = 4,
        min_nodes: int = 16,
        max_nodes: int = 512,
        padding_sizes: Sequence[int] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        n = len(channel_sizes)
        padding_sizes = [0] * n if padding_sizes is None else padding_sizes
        if not len(kernel_sizes) == len(stride_sizes) == len(padding_sizes) == n:
            raise ValueError("channel, kernel, stride and padding sizes must have equal lengths")
        _check_range("number of conv layers", n, max(min_conv_layers, 1), max_conv_layers)
        for c in channel_sizes:
            _check_range("channels", c, min_channels, max_channels)
        get_activation(activation)
        self.input_shape = [int(s) for s in input_shape]
        self.output_dim = output_dim
        self.channel_sizes = [int(c) for c in channel_sizes]
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.stride_sizes = [int(s) for s in stride_sizes]
        self.padding_sizes = [int(p) for p in padding_sizes]
        self.activation = activation
        self.min_conv_layers, self.max_conv_layers = min_conv_layers, max_conv_layers
        self.min_channels, self.max_channels = min_channels, max_channels
        self.convs = self._make_convs(generator, torch.device("cpu"), torch.float32)
        self.head = EvolvableMLP(
            self._flat_dim(), output_dim, hidden_sizes, activation, output_activation, 1,
            min_hidden_layers, max_hidden_layers, min_nodes, max_nodes, generator,
        )  # fmt: skip

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments; ``EvolvableCNN(**config)`` rebuilds the architecture."""
        head = self.head.config
        return {
            "input_shape": list(self.input_shape),
            "output_dim": self.output_dim,
            "channel_sizes": list(self.channel_sizes),
            "kernel_sizes": list(self.kernel_sizes),
            "stride_sizes": list(self.stride_sizes),
            "padding_sizes": list(self.padding_sizes),
            "hidden_sizes": head["hidden_sizes"],
            "activation": self.activation,
            "output_activation": head["output_activation"],
            "min_conv_layers": self.min_conv_layers,
            "max_conv_layers": self.max_conv_layers,
            "min_channels": self.min_channels,
            "max_channels": self.max_channels,
            **{k: head[k] for k in ("min_hidden_layers", "max_hidden_layers")},
            **{k: head[k] for k in ("min_nodes", "max_nodes")},
        }

    @property
    def hidden_sizes(self) -> list[int]:
        """Hidden sizes of the MLP head."""
        return self.head.hidden_sizes

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` observations to ``(B, output_dim)``."""
        act = get_activation(self.activation)
        for conv in self.convs:
            x = act(conv(x))
        return self.head(x.flatten(1))

    def _flat_dim(self) -> int:
        h, w = self.input_shape[1:]
        for k, s, p in zip(self.kernel_sizes, self.stride_sizes, self.padding_sizes, strict=True):
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if h < 1 or w < 1:
                raise ValueError(f"conv stack shrinks input {self.input_shape} to nothing")
        return self.channel_sizes[-1] * h * w

    def _make_convs(
        self, generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
    ) -> nn.ModuleList:
        convs, in_c = nn.ModuleList(), self.input_shape[0]
        layers = zip(
            self.channel_sizes, self.kernel_sizes, self.stride_sizes, self.padding_sizes, strict=True
        )
        for out_c, k, s, p in layers:
            # skip_init avoids nn.Conv2d's default init, which would consume the global RNG.
            conv = nn.utils.skip_init(
                nn.Conv2d, in_c, out_c, k, stride=s, padding=p, device=device, dtype=dtype
            )
            fan_in = in_c * k * k
            with torch.no_grad():
                conv.weight.copy_(_uniform(conv.weight.shape, fan_in, generator, device, dtype))
                conv.bias.copy_(_uniform(conv.bias.shape, fan_in, generator, device, dtype))
            convs.append(conv)
            in_c = out_c
        return convs

    def _rebuild_convs(self, generator: torch.Generator | None) -> None:
        """Rebuild the conv stack from the size lists, keeping overlaps; resize the head input."""
        ref = self.convs[0].weight
        convs = self._make_convs(generator, ref.device, ref.dtype)
        for old, new in zip(self.convs, convs, strict=False):  # index-wise: extra layers are new
            _copy_overlap(new.weight, old.weight)
            _copy_overlap(new.bias, old.bias)
        convs.requires_grad_(ref.requires_grad)
        self.convs = convs
        flat = self._flat_dim()
        if flat != self.head.input_dim:
            self.head._resize(self.head.hidden_sizes, input_dim=flat, generator=generator)

    def add_conv_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Append a 3x3/stride-1/padding-1 conv layer (spatial size and head input unchanged)."""
        old = list(self.channel_sizes)
        if len(old) >= self.max_conv_layers:
            return _skipped("add_conv_layer", f"already at max_conv_layers={self.max_conv_layers}")
        self.channel_sizes.append(old[-1])
        self.kernel_sizes.append(3)
        self.stride_sizes.append(1)
        self.padding_sizes.append(1)
        self._rebuild_convs(generator)
        return {"op": "add_conv_layer", "old": old, "new": list(self.channel_sizes)}

    def remove_conv_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Drop the last conv layer; the head's first layer keeps its overlapping slice."""
        old = list(self.channel_sizes)
        if len(old) <= max(self.min_conv_layers, 1):
            return _skipped("remove_conv_layer", f"already at min_conv_layers={self.min_conv_layers}")
        for sizes in (self.channel_sizes, self.kernel_sizes, self.stride_sizes, self.padding_sizes):
            sizes.pop()
        self._rebuild_convs(generator)
        return {"op": "remove_conv_layer", "old": old, "new": list(self.channel_sizes)}

    def add_channels(
        self, layer: int | None = None, num: int | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Any]:
        """Widen conv ``layer`` by ``num`` channels (random when ``None``), capped at max_channels."""
        layer, num = _pick(self.channel_sizes, layer, num, self.CHANNEL_CHOICES, generator)
        return self._set_channels("add_channels", layer, self.channel_sizes[layer] + num, generator)

    def remove_channels(
        self, layer: int | None = None, num: int | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Any]:
        """Narrow conv ``layer`` by ``num`` channels (random when ``None``), not below min_channels."""
        layer, num = _pick(self.channel_sizes, layer, num, self.CHANNEL_CHOICES, generator)
        return self._set_channels("remove_channels", layer, self.channel_sizes[layer] - num, generator)

    def _set_channels(
        self, op: str, layer: int, size: int, generator: torch.Generator | None
    ) -> dict[str, Any]:
        old = list(self.channel_sizes)
        size = min(max(size, self.min_channels), self.max_channels)
        if size == old[layer]:
            return _skipped(op, f"conv layer {layer} already at its bound ({size} channels)")
        self.channel_sizes[layer] = size
        self._rebuild_convs(generator)
        return {
            "op": op, "layer": layer, "channels": abs(size - old[layer]),
            "old": old, "new": list(self.channel_sizes),
        }  # fmt: skip

    def add_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Add a hidden layer to the MLP head (see :meth:`EvolvableMLP.add_layer`)."""
        return self.head.add_layer(generator)

    def remove_layer(self, generator: torch.Generator | None = None) -> dict[str, Any]:
        """Remove the head's last hidden layer (see :meth:`EvolvableMLP.remove_layer`)."""
        return self.head.remove_layer(generator)

    def add_nodes(
        self, layer: int | None = None, num_nodes: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Widen a head hidden layer (see :meth:`EvolvableMLP.add_nodes`)."""
        return self.head.add_nodes(layer, num_nodes, generator)

    def remove_nodes(
        self, layer: int | None = None, num_nodes: int | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Narrow a head hidden layer (see :meth:`EvolvableMLP.remove_nodes`)."""
        return self.head.remove_nodes(layer, num_nodes, generator)

    def change_activation(self, name: str) -> dict[str, Any]:
        """Switch the activation of the conv stack and the head's hidden layers."""
        result = self.head.change_activation(name)  # validates the name before we change anything
        self.activation = name
        return result

    def clone(self) -> EvolvableCNN:
        """Return an independent deep copy (no shared tensors)."""
        return copy.deepcopy(self)
