"""The dotted keys of ``params.yaml`` and the marks on them, read from the dataclasses.

A setting is marked once, on its field in :mod:`marlpipe.config.params`: ``neutral=True`` (by
design it changes no result: where members train, how env copies are stepped, where runs are
logged) or ``read_only_by="evaluate"`` (only that stage reads it). A mark on a group covers
every key inside it. What is derived from the marks: the resume fingerprint and
``RESULT_NEUTRAL`` (:mod:`marlpipe.pipeline.resume`), and the check of ``dvc.yaml``'s stage
params (``tests/test_dvc_yaml.py``). Torch-free, like the rest of ``config``.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterable
from typing import Any

from marlpipe.config.params import Params
from marlpipe.config.validation import MARKS, ConfigError


def _leaves(cls: type, prefix: str, inherited: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    hints = typing.get_type_hints(cls)
    out: list[tuple[str, dict[str, Any]]] = []
    for f in dataclasses.fields(cls):
        marks = {**inherited, **{k: v for k, v in f.metadata.items() if k in MARKS}}
        if dataclasses.is_dataclass(hints[f.name]):
            out.extend(_leaves(hints[f.name], f"{prefix}{f.name}.", marks))
        else:
            out.append((f"{prefix}{f.name}", marks))
    return out


def key_marks() -> dict[str, dict[str, Any]]:
    """Every leaf key (:func:`leaf_keys`) -> its marks, its groups' included (``{}``: none)."""
    return dict(_leaves(Params, "", {}))


def leaf_keys() -> tuple[str, ...]:
    """Every key of ``params.yaml`` that holds a value, dotted (``mutation.bounds.min_lr``; a
    mapping such as ``env.kwargs`` is one key), in the dataclasses' order."""
    return tuple(key_marks())


def result_neutral_keys() -> tuple[str, ...]:
    """The leaf keys marked ``neutral``: by design they change no numbers of any stage."""
    return tuple(key for key, marks in key_marks().items() if marks.get("neutral"))


def opt_in_keys() -> tuple[str, ...]:
    """The leaf keys marked ``opt_in``: features off at their default, where they compute what
    the code computed before they existed."""
    return tuple(key for key, marks in key_marks().items() if marks.get("opt_in"))


def off_values() -> dict[str, Any]:
    """Every opt-in key -> the value at which it computes what the code did before it existed:
    its ``off`` mark, else its default."""
    defaults = Params().resolved_dict()
    return {
        key: marks["off"] if "off" in marks else value_at(defaults, key)
        for key, marks in key_marks().items()
        if marks.get("opt_in")
    }


def value_at(data: dict[str, Any], key: str) -> Any:
    """The value of dotted leaf ``key`` in the nested mapping ``data``."""
    for name in key.split("."):
        data = data[name]
    return data


def read_only_by(stage: str) -> tuple[str, ...]:
    """The leaf keys marked as read by ``stage`` alone (``"evaluate"``: ``evaluate.*``)."""
    return tuple(key for key, marks in key_marks().items() if marks.get("read_only_by") == stage)


def generation_keys() -> tuple[str, ...]:
    """The leaf keys that shape the generations the evolve stage trains: every key but the
    neutral ones and those only another stage reads (the resume fingerprint hashes these)."""
    return tuple(
        key for key, marks in key_marks().items()
        if not marks.get("neutral") and marks.get("read_only_by") in (None, "evolve")
    )  # fmt: skip


def expand(key: str) -> tuple[str, ...]:
    """The leaf keys ``key`` names: itself for a leaf, every key inside for a group
    (``tournament`` -> ``tournament.size``, ...); an unknown key is a :class:`ConfigError`."""
    leaves = leaf_keys()
    found = tuple(k for k in leaves if k == key or k.startswith(key + "."))
    if not found:
        raise ConfigError(f"{key}: unknown params key; expected a key or group of params.yaml")
    return found


def select(data: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The nested mapping ``data`` (``Params.to_dict()``) with only the leaf ``keys`` kept; a
    group none of whose keys is kept is left out."""
    out: dict[str, Any] = {}
    for key in keys:
        *groups, name = key.split(".")
        source, target = data, out
        for group in groups:
            source = source[group]
            target = target.setdefault(group, {})
        target[name] = source[name]
    return out


def grouped(keys: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Dotted keys by their top-level group: ``{"env": ("backend", "fast"), ...}``."""
    out: dict[str, tuple[str, ...]] = {}
    for key in keys:
        group, _, rest = key.partition(".")
        out[group] = (*out.get(group, ()), rest)
    return out


__all__ = [
    "expand",
    "generation_keys",
    "grouped",
    "key_marks",
    "leaf_keys",
    "off_values",
    "opt_in_keys",
    "read_only_by",
    "result_neutral_keys",
    "select",
    "value_at",
]
