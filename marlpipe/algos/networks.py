"""Evolvable networks for MADDPG/MATD3 with evolutionary hyperparameter optimisation.

* :class:`EvolvableMLP` -- an ensemble of ``E`` identical-architecture MLPs evaluated with one
  batched matmul per layer (e.g. all twin critics of all agents in a single forward).
* :class:`EvolvableCNN` -- a conv encoder followed by an :class:`EvolvableMLP` head.

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
        last = len(self.weights) - 1
        if self.ensemble_size == 1:
            lead, h = x.shape[:-1], x.reshape(-1, x.shape[-1])
            for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
                h = torch.addmm(b[0], h, w[0])
                h = out_act(h) if i == last else act(h)
            return h.reshape(*lead, self.output_dim)
        if x.dim() == 2:
            x = x.expand(self.ensemble_size, *x.shape)  # a view: no per-member copy of the input
        elif x.dim() != 3 or x.shape[0] != self.ensemble_size:
            raise ValueError(f"expected (B, in) or (E={self.ensemble_size}, B, in), got {x.shape}")
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = torch.baddbmm(b, x, w)
            x = out_act(x) if i == last else act(x)
        return x

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


class EvolvableCNN(nn.Module):
    """Conv encoder (``nn.Conv2d`` + activation) -> flatten -> :class:`EvolvableMLP` head.

    Input is channels-first ``(B, C, H, W)``. ``add_layer``/``remove_layer``/``add_nodes``/
    ``remove_nodes`` act on ``self.head``; the conv mutations resize ``self.convs`` and, when the
    flattened size changes, the head's first layer keeps its overlapping slice. Flattening is
    channel-major, so channels added to/removed from the last conv layer map exactly onto
    appended/dropped head inputs.
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
        generator: Gen = None,
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
        self.input_shape = [int(s) for s in input_shape]
        # One [channels, kernel, stride, padding] list per conv layer, so they change together.
        self.conv_specs = [
            [int(v) for v in spec]
            for spec in zip(channel_sizes, kernel_sizes, stride_sizes, padding_sizes, strict=True)
        ]
        self.min_conv_layers, self.max_conv_layers = min_conv_layers, max_conv_layers
        self.min_channels, self.max_channels = min_channels, max_channels
        self.convs = self._make_convs(generator, torch.empty(0))
        self.head = EvolvableMLP(
            self._flat_dim(),
            output_dim,
            hidden_sizes,
            activation=activation,
            output_activation=output_activation,
            min_hidden_layers=min_hidden_layers,
            max_hidden_layers=max_hidden_layers,
            min_nodes=min_nodes,
            max_nodes=max_nodes,
            generator=generator,
        )

    @property
    def channel_sizes(self) -> list[int]:
        """Output channels of each conv layer."""
        return [spec[0] for spec in self.conv_specs]

    @property
    def hidden_sizes(self) -> list[int]:
        """Hidden sizes of the MLP head."""
        return self.head.hidden_sizes

    @property
    def activation(self) -> str:
        """Activation shared by the conv stack and the head's hidden layers."""
        return self.head.activation

    @property
    def config(self) -> dict[str, Any]:
        """JSON-able constructor arguments: ``EvolvableCNN(**config)`` rebuilds the architecture."""
        head = self.head.config
        kernels, strides, paddings = ([spec[i] for spec in self.conv_specs] for i in (1, 2, 3))
        return {
            "input_shape": list(self.input_shape),
            "output_dim": head["output_dim"],
            "channel_sizes": self.channel_sizes,
            "kernel_sizes": kernels,
            "stride_sizes": strides,
            "padding_sizes": paddings,
            "min_conv_layers": self.min_conv_layers,
            "max_conv_layers": self.max_conv_layers,
            "min_channels": self.min_channels,
            "max_channels": self.max_channels,
            **{k: head[k] for k in ("hidden_sizes", "activation", "output_activation")},
            **{k: head[k] for k in ("min_hidden_layers", "max_hidden_layers")},
            **{k: head[k] for k in ("min_nodes", "max_nodes")},
        }

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` observations to ``(B, output_dim)``."""
        act = get_activation(self.activation)
        for conv in self.convs:
            x = act(conv(x))
        return self.head(x.flatten(1))

    def _flat_dim(self) -> int:
        h, w = self.input_shape[1:]
        for _, k, s, p in self.conv_specs:
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if h < 1 or w < 1:
                raise ValueError(f"conv stack shrinks input {self.input_shape} to nothing")
        return self.channel_sizes[-1] * h * w

    def _make_convs(self, gen: Gen, like: Tensor) -> nn.ModuleList:
        convs, in_c = nn.ModuleList(), self.input_shape[0]
        for out_c, k, s, p in self.conv_specs:
            # skip_init: nn.Conv2d's own init would consume (and depend on) the global RNG.
            conv = nn.utils.skip_init(
                nn.Conv2d, in_c, out_c, k, stride=s, padding=p, device=like.device, dtype=like.dtype
            )
            with torch.no_grad():
                conv.weight.copy_(_uniform(conv.weight.shape, in_c * k * k, gen, like))
                conv.bias.copy_(_uniform(conv.bias.shape, in_c * k * k, gen, like))
            convs.append(conv)
            in_c = out_c
        return convs

    def _rebuild_convs(self, gen: Gen) -> None:
        """Rebuild the convs from ``conv_specs`` keeping overlaps; resize the head if needed."""
        ref = self.convs[0].weight
        convs = self._make_convs(gen, ref)
        for old, new in zip(self.convs, convs, strict=False):  # by index: extra layers are new
            _copy_overlap(new.weight, old.weight)
            _copy_overlap(new.bias, old.bias)
        self.convs = convs.requires_grad_(ref.requires_grad)
        flat = self._flat_dim()
        if flat != self.head.input_dim:
            self.head._resize(self.head.hidden_sizes, input_dim=flat, gen=gen)

    def add_conv_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Append a 3x3/stride-1/padding-1 conv layer: spatial size and head stay unchanged."""
        old = self.channel_sizes
        if len(old) >= self.max_conv_layers:
            return _skipped("add_conv_layer", f"max_conv_layers={self.max_conv_layers} reached")
        self.conv_specs.append([old[-1], 3, 1, 1])
        self._rebuild_convs(generator)
        return {"op": "add_conv_layer", "old": old, "new": self.channel_sizes}

    def remove_conv_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Drop the last conv layer; the head's first layer keeps its overlapping slice."""
        old = self.channel_sizes
        if len(old) <= max(self.min_conv_layers, 1):
            return _skipped("remove_conv_layer", f"min_conv_layers={self.min_conv_layers} reached")
        self.conv_specs.pop()
        self._rebuild_convs(generator)
        return {"op": "remove_conv_layer", "old": old, "new": self.channel_sizes}

    def add_channels(
        self, layer: int | None = None, num: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Widen conv ``layer`` by ``num`` channels (each random if None), capped at the max."""
        return self._change_channels("add_channels", layer, num, generator)

    def remove_channels(
        self, layer: int | None = None, num: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Narrow conv ``layer`` by ``num`` channels (each random if None), not below the min."""
        return self._change_channels("remove_channels", layer, num, generator)

    def _change_channels(
        self, op: str, layer: int | None, num: int | None, gen: Gen
    ) -> dict[str, Any]:
        bounds = (self.min_channels, self.max_channels)
        new, report = _new_widths(
            op, "channels", self.channel_sizes, layer, num, self.CHANNEL_CHOICES, bounds, gen
        )
        if new is not None:
            for spec, channels in zip(self.conv_specs, new, strict=True):
                spec[0] = channels
            self._rebuild_convs(gen)
        return report

    def add_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Add a hidden layer to the head (see :meth:`EvolvableMLP.add_layer`)."""
        return self.head.add_layer(generator)

    def remove_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Remove the head's last hidden layer (see :meth:`EvolvableMLP.remove_layer`)."""
        return self.head.remove_layer(generator)

    def add_nodes(
        self, layer: int | None = None, num_nodes: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Widen a hidden layer of the head (see :meth:`EvolvableMLP.add_nodes`)."""
        return self.head.add_nodes(layer, num_nodes, generator)

    def remove_nodes(
        self, layer: int | None = None, num_nodes: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Narrow a hidden layer of the head (see :meth:`EvolvableMLP.remove_nodes`)."""
        return self.head.remove_nodes(layer, num_nodes, generator)

    def change_activation(self, name: str) -> dict[str, Any]:
        """Switch the activation of the conv stack and of the head's hidden layers."""
        return self.head.change_activation(name)  # the conv stack reads it from the head

    def clone(self) -> EvolvableCNN:
        """Return an independent deep copy (no shared tensors)."""
        return copy.deepcopy(self)
