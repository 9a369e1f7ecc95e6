"""Building blocks shared by the evolvable networks (``networks.py`` MLP, ``cnn.py`` CNN).

Activations by name, the ``nn.Linear``-style uniform initialisation drawn from an optional
generator, copying the overlap of two differently shaped tensors, bound checks and the plan of
a width (node or channel) mutation. The bound defaults both networks use come from
:class:`marlpipe.config.NetConfig`, so a default-built network and ``params.yaml`` agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from marlpipe.config.params import NetConfig
from marlpipe.registry import ACTIVATIONS

Gen = torch.Generator | None
DEFAULT_BOUNDS = NetConfig()
"""``NetConfig``'s defaults: the bounds of a network built without explicit ones."""


def _identity(x: Tensor) -> Tensor:
    return x


# Plain functions rather than modules: activations stay out of the state_dict and can be
# swapped by name without touching any parameter.
_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "ReLU": torch.relu,  # F.relu's own Python layer costs a third of a small layer
    "ELU": F.elu,
    "GELU": F.gelu,
    "Tanh": torch.tanh,
    "LeakyReLU": F.leaky_relu,
    "Sigmoid": torch.sigmoid,
    "Softplus": F.softplus,
    "Identity": _identity,
}
_ACTIVATIONS = {name: _FUNCTIONS[name] for name in ACTIVATIONS}  # exactly the registry's names


def get_activation(name: str | None) -> Callable[[Tensor], Tensor]:
    """Return the activation function called ``name`` (``None`` means identity)."""
    if name is None:
        return _identity
    if name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; choose one of {list(ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _gen_device(gen: Gen) -> torch.device:
    # torch draws with a generator only on that generator's own device.
    return gen.device if gen is not None else torch.device("cpu")


def uniform_init(shape: Sequence[int], fan_in: int, gen: Gen, like: Tensor) -> Tensor:
    """Draw ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` and return it on ``like``'s device/dtype."""
    bound = 1.0 / math.sqrt(fan_in)
    # Draw on the generator's device and move afterwards: a CPU generator then gives the same
    # numbers whether the network lives on CPU or GPU.
    t = torch.empty(tuple(shape), dtype=like.dtype, device=_gen_device(gen))
    return t.uniform_(-bound, bound, generator=gen).to(like.device)


def copy_overlap(dst: Tensor, src: Tensor) -> None:
    """Copy the leading overlapping block of ``src`` into ``dst`` (any rank, same ndim)."""
    idx = tuple(slice(0, min(a, b)) for a, b in zip(dst.shape, src.shape, strict=True))
    with torch.no_grad():
        dst[idx].copy_(src[idx])


def _randint(high: int, gen: Gen) -> int:
    return int(torch.randint(high, (1,), generator=gen, device=_gen_device(gen)))


def skipped(requested: str, reason: str) -> dict[str, Any]:
    """The report of a mutation that changed nothing (a bound was reached)."""
    return {"op": "none", "requested": requested, "reason": reason}


def check_range(name: str, value: int, low: int, high: int) -> None:
    """ValueError unless ``low <= value <= high``, naming ``name`` and the bounds."""
    if not low <= value <= high:
        raise ValueError(f"{name}={value} outside the bounds [{low}, {high}]")


def plan_width_change(
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
    target = sizes[layer] + num
    size = min(max(target, bounds[0]), bounds[1])  # clip to the bounds rather than refuse
    if size == sizes[layer]:
        return None, skipped(op, f"layer {layer} already at its bound ({size})")
    new = [*sizes[:layer], size, *sizes[layer + 1 :]]
    return new, {"op": op, "layer": layer, unit: abs(size - sizes[layer]), "old": sizes, "new": new}
