"""Learning hyperparameters as the agents take them: :class:`marlpipe.config.InitHP`.

``InitHP`` holds every hyperparameter's one default. :func:`as_init_hp` is the one place that
turns what users give (the dataclass, an AgileRL-style mapping, keyword overrides) into it, and
:func:`algorithm_values` picks and types the values one algorithm uses (its registry entry says
which).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from marlpipe.config.params import InitHP, validated
from marlpipe.registry import AlgorithmInfo

RUN_LEVEL_KEYS = frozenset(
    {"algo", "population_size", "memory_size", "channels_last", "n_agents", "agent_ids", "device"}
)
"""Keys an AgileRL-style ``INIT_HP`` carries that configure the run, not one agent: ignored
(the population's ``device`` is an argument of its own)."""


def _value_type(name: str) -> type:
    """``int`` or ``float``: the type ``InitHP`` declares for ``name`` (``None`` aside)."""
    kind = typing.get_type_hints(InitHP)[name]
    return next(a for a in (*typing.get_args(kind), kind) if a in (int, float))


_TYPES = {f.name: _value_type(f.name) for f in dataclasses.fields(InitHP)}


def as_init_hp(init_hp: InitHP | Mapping[str, Any] | None = None, **overrides: Any) -> InitHP:
    """``init_hp`` as an :class:`InitHP`, with keyword ``overrides`` on top.

    An ``InitHP`` is trusted as validated (``params.yaml``); a plain mapping and keyword
    ``overrides`` get the checks a params file gets, so a typo or a bad value is a ValueError
    naming it. The mapping is the thin convenience for the AgileRL-style API: its keys may be
    snake_case or UPPER_CASE, and run-level keys (``RUN_LEVEL_KEYS``) are ignored. A null
    (``None``) value takes ``InitHP``'s default.
    """
    if not isinstance(init_hp, InitHP):
        given = {str(key).lower(): value for key, value in (init_hp or {}).items()}
        values = {k: v for k, v in given.items() if k not in RUN_LEVEL_KEYS}
        init_hp = validated(InitHP, values, "init_hp")
    if overrides:
        init_hp = validated(InitHP, {**dataclasses.asdict(init_hp), **overrides}, "init_hp")
    defaults = {
        f.name: f.default for f in dataclasses.fields(InitHP) if getattr(init_hp, f.name) is None
    }
    return dataclasses.replace(init_hp, **defaults) if defaults else init_hp


def algorithm_values(info: AlgorithmInfo, hp: InitHP) -> dict[str, int | float]:
    """The values of the hyperparameters ``info``'s algorithm uses, as ``int`` or ``float``."""
    return {name: _TYPES[name](getattr(hp, name)) for name in info.hyperparameters}
