"""Evolvable CNN encoder for image observations: conv layers, then an evolvable MLP head."""

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
from marlpipe.algos.networks import EvolvableMLP


class EvolvableCNN(nn.Module):
    """Conv encoder (``nn.Conv2d`` + activation) -> flatten -> :class:`EvolvableMLP` head.

    Input is channels-first ``(B, C, H, W)``. Architecture mutations grow the encoder (an
    agent's "new layer" is :meth:`add_conv_layer` here, its "new nodes" :meth:`add_channels`; see
    :func:`marlpipe.algos.architecture.mutate_architecture`); the head keeps its initial shape.
    When the flattened size changes, the head's first layer keeps its overlapping slice.
    Flattening is channel-major, so channels added to the last conv layer map exactly onto
    appended head inputs.
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
        min_hidden_layers: int = DEFAULT_BOUNDS.min_hidden_layers,
        max_hidden_layers: int = DEFAULT_BOUNDS.max_hidden_layers,
        min_nodes: int = DEFAULT_BOUNDS.min_nodes,
        max_nodes: int = DEFAULT_BOUNDS.max_nodes,
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
        check_range("number of conv layers", n, max(min_conv_layers, 1), max_conv_layers)
        for c in channel_sizes:
            check_range("channels", c, min_channels, max_channels)
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

    @property
    def output_activation(self) -> str | None:
        """The head's output activation (what ``pre_activation`` leaves out)."""
        return self.head.output_activation

    def forward(self, x: Tensor, pre_activation: bool = False) -> Tensor:
        """Map ``(B, C, H, W)`` observations to ``(B, output_dim)`` (``pre_activation``: before
        the head's ``output_activation``)."""
        act = get_activation(self.activation)
        for conv in self.convs:
            x = act(conv(x))
        return self.head(x.flatten(1), pre_activation)

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
                conv.weight.copy_(uniform_init(conv.weight.shape, in_c * k * k, gen, like))
                conv.bias.copy_(uniform_init(conv.bias.shape, in_c * k * k, gen, like))
            convs.append(conv)
            in_c = out_c
        return convs

    def _rebuild_convs(self, gen: Gen) -> None:
        """Rebuild the convs from ``conv_specs`` keeping overlaps; resize the head if needed."""
        ref = self.convs[0].weight
        convs = self._make_convs(gen, ref)
        for old, new in zip(self.convs, convs, strict=False):  # by index: extra layers are new
            copy_overlap(new.weight, old.weight)
            copy_overlap(new.bias, old.bias)
        self.convs = convs.requires_grad_(ref.requires_grad)
        flat = self._flat_dim()
        if flat != self.head.input_dim:
            self.head._resize(self.head.hidden_sizes, input_dim=flat, gen=gen)

    def add_conv_layer(self, generator: Gen = None) -> dict[str, Any]:
        """Append a 3x3/stride-1/padding-1 conv layer: spatial size and head stay unchanged."""
        old = self.channel_sizes
        if len(old) >= self.max_conv_layers:
            return skipped("add_conv_layer", f"max_conv_layers={self.max_conv_layers} reached")
        self.conv_specs.append([old[-1], 3, 1, 1])
        self._rebuild_convs(generator)
        return {"op": "add_conv_layer", "old": old, "new": self.channel_sizes}

    def add_channels(
        self, layer: int | None = None, num: int | None = None, generator: Gen = None
    ) -> dict[str, Any]:
        """Widen conv ``layer`` by ``num`` channels (each random if None), capped at the max."""
        return self._change_channels("add_channels", layer, num, generator)

    def _change_channels(
        self, op: str, layer: int | None, num: int | None, gen: Gen
    ) -> dict[str, Any]:
        bounds = (self.min_channels, self.max_channels)
        new, report = plan_width_change(
            op, "channels", self.channel_sizes, layer, num, self.CHANNEL_CHOICES, bounds, gen
        )
        if new is not None:
            for spec, channels in zip(self.conv_specs, new, strict=True):
                spec[0] = channels
            self._rebuild_convs(gen)
        return report

    def change_activation(self, name: str) -> dict[str, Any]:
        """Switch the activation of the conv stack and of the head's hidden layers."""
        return self.head.change_activation(name)  # the conv stack reads it from the head

    def clone(self) -> EvolvableCNN:
        """Return an independent deep copy (no shared tensors)."""
        return copy.deepcopy(self)
