"""Checking a nested mapping against a tree of frozen dataclasses.

Each field's type and its rules (``ge``, ``gt``, ``le``, ``lt``, ``choices``, ``min_len``,
``pattern`` with its ``expected`` wording, given with :func:`option`) are checked; the first
problem raises :class:`ConfigError` with one line that names the source, the key path, what was
expected and what was found.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import field
from typing import Any

from marlpipe.errors import MarlpipeError


class ConfigError(MarlpipeError, ValueError):
    """Invalid parameters; the message is one line naming the file and the key path."""


MARKS = ("neutral", "read_only_by", "opt_in", "off")
"""The marks :func:`option` keeps in a field's metadata beside its rules (read by
:mod:`marlpipe.config.keys`; the checker ignores them)."""


def option(
    default: Any = dataclasses.MISSING,
    factory: Any = dataclasses.MISSING,
    *,
    neutral: bool = False,
    read_only_by: str | None = None,
    opt_in: bool = False,
    off: Any = dataclasses.MISSING,
    **rule: Any,
):
    """A dataclass field with validation rules (ge, gt, le, lt, choices, min_len, pattern,
    expected) as metadata, and three marks: ``neutral=True``, a setting that by design changes no
    result (how or where the run computes, or where it is logged), ``read_only_by``, the one
    stage that reads it (``"evaluate"``), and ``opt_in=True``, a feature that is off at its
    default and then computes exactly what the code did before it existed (so the fingerprint's
    params hash leaves it out while it holds its default); ``off=value`` marks a feature added
    later that computes what the code did before at ``value`` rather than at its default (an
    opt-in whose default is on). A mark on a group covers every key inside it."""
    metadata = dict(rule)
    if neutral:
        metadata["neutral"] = True
    if opt_in or off is not dataclasses.MISSING:
        metadata["opt_in"] = True
    if off is not dataclasses.MISSING:
        metadata["off"] = off
    if read_only_by is not None:
        metadata["read_only_by"] = read_only_by
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def build_dataclass(cls: type, data: Any, source: str, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from mapping ``data``, checking every key against its field's
    type and rules; ``source`` and ``prefix`` start the error message's key path."""
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            f"{source}: {prefix}{unknown[0]}: unknown key; expected one of {', '.join(fields)}"
        )
    values = {
        name: _check(hints[name], data[name], fields[name].metadata, source, f"{prefix}{name}")
        for name in fields
        if name in data
    }
    return cls(**values)


def _check(kind: Any, value: Any, rule: Any, source: str, key: str) -> Any:
    args = typing.get_args(kind)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
        return _check(kind, value, rule, source, key) if value is not None else None
    if dataclasses.is_dataclass(kind):
        return build_dataclass(kind, value, source, f"{key}.")
    if origin is list:
        if not isinstance(value, list) or len(value) < rule.get("min_len", 0):
            _fail(source, key, f"a list (each {_noun(args[0], rule)})", value, rule, min_len=True)
        return [_check(args[0], item, rule, source, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(source, key, "a mapping", value, {})
        return dict(value)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        ok = ok and math.isfinite(value)  # .nan / .inf parse as floats but are never meant
    else:
        ok = isinstance(value, str)
    if ok and "choices" in rule:
        ok = value in rule["choices"]
    if ok and "pattern" in rule:
        ok = re.fullmatch(rule["pattern"], value) is not None
    if ok:
        ok = all(_in_range(value, op, bound) for op, bound in rule.items() if op in _OPS)
    if not ok:
        _fail(source, key, _noun(kind, rule), value, rule)
    return value


_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _in_range(value: Any, op: str, bound: float) -> bool:
    return {"ge": value >= bound, "gt": value > bound, "le": value <= bound, "lt": value < bound}[
        op
    ]


def _noun(kind: Any, rule: Any) -> str:
    if "expected" in rule:
        return rule["expected"]
    if "pattern" in rule:
        return f"a string matching {rule['pattern']!r}"
    if "choices" in rule:
        return "one of " + ", ".join(repr(c) for c in rule["choices"])
    base = {bool: "a boolean (true/false)", int: "an integer", float: "a finite number"}.get(
        kind, "a string"
    )
    limits = [f"{_OPS[op]} {bound}" for op, bound in rule.items() if op in _OPS]
    return " ".join([base, " and ".join(limits)]).strip()


def _fail(source: str, key: str, expected: str, value: Any, rule: Any, min_len: bool = False):
    if min_len and rule.get("min_len"):
        expected += f" (at least {rule['min_len']})"
    hint = ""
    if isinstance(value, str) and _looks_numeric(value):
        hint = " (a number in quotes is a string: write it without quotes)"
    raise ConfigError(f"{source}: {key}: expected {expected}, got {value!r}{hint}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
