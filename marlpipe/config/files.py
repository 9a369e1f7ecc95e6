"""Reading and writing ``params.yaml``: strict YAML in, complete YAML out, overrides merged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marlpipe.config.params import DEFAULT_PARAMS_NAME, Params, params_from_dict
from marlpipe.config.validation import ConfigError


def load_params(path: str | Path | None = None, sets: list[str] | tuple[str, ...] = ()) -> Params:
    """Read ``path`` (default: ./params.yaml, else the package defaults), apply the ``--set``
    items ``sets`` to what the file says (:func:`parse_overrides`), then validate the result once:
    a bad value in the file that a ``--set`` item replaces is never seen, and an error names the
    ``--set`` item or the file that gave the bad value."""
    if path is None and not Path(DEFAULT_PARAMS_NAME).is_file():
        data, source = {}, "defaults"
    else:
        path = Path(DEFAULT_PARAMS_NAME if path is None else path)
        data, source = read_params_data(path), str(path)
    if not sets:
        return params_from_dict(data, source)
    overrides = parse_overrides(sets)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return params_from_dict(data, source)  # "top level: expected a mapping", naming the file
    try:
        return params_from_dict(_merge(data, overrides), source)
    except ConfigError as err:
        raise _blamed(err, source, sets) from None


def read_params_data(path: str | Path) -> Any:
    """The YAML of the params file ``path`` as read (unvalidated); a missing file or bad YAML
    raises a one-line :class:`ConfigError` naming the file."""
    import yaml

    path = Path(path)
    try:
        return yaml.load(path.read_text(), Loader=_unique_key_loader())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML ({err.problem}{where})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None


_YAML12_EXPONENT_FLOAT = r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$"
"""Floats with an exponent as YAML 1.2 (what DVC reads and ``dvc exp run -S`` writes) spells
them: ``1e-3``, ``2E5``, ``1.5e3``. YAML 1.1 (PyYAML) wants a dot and a signed exponent and
would read these as strings."""


def _unique_key_loader() -> type:
    import re

    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)
        and reads YAML 1.2 exponent floats (``1e-3``) as floats, as DVC does."""

        yaml_implicit_resolvers = {
            first: list(resolvers)
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    exponent_float = re.compile(_YAML12_EXPONENT_FLOAT)
    for first in "+-.0123456789":
        # Checked before YAML 1.1's own resolvers for that first character.
        UniqueKeyLoader.yaml_implicit_resolvers.setdefault(first, []).insert(
            0, ("tag:yaml.org,2002:float", exponent_float)
        )
    return UniqueKeyLoader


def dump_params(params: Params) -> str:
    """``params`` as complete YAML (every key, floats with a dot) that loads back equal."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Block mappings (one key a line, easy to edit and diff), inline lists."""

    Dumper.add_representer(
        list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
    )
    return yaml.dump(params.to_dict(), Dumper=Dumper, sort_keys=False, default_flow_style=False)


def with_overrides(params: Params, overrides: dict[str, Any], source: str = "overrides") -> Params:
    """A copy of ``params`` with nested ``overrides`` merged in, validated like a file."""

    return params_from_dict(_merge(params.to_dict(), overrides), source)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the nested ``extra`` merged in; a mapping value such as ``env.kwargs``
    is replaced whole."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


PRESETS_DIR = "configs"
"""Where ``--preset NAME`` looks for ``NAME.yaml`` (relative to the project directory)."""


def preset_path(preset: str | Path, root: str | Path = ".") -> Path:
    """The file of ``preset``: a path to a YAML file as given, else ``<root>/configs/NAME.yaml``.

    A preset holds only the keys it changes; :func:`load_params` fills in the defaults.
    """
    given = Path(preset)
    if given.suffix in (".yaml", ".yml") or given.parent != Path(".") or given.is_file():
        return given
    path = Path(root) / PRESETS_DIR / f"{preset}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in (Path(root) / PRESETS_DIR).glob("*.yaml"))
        raise ConfigError(
            f"--preset {preset}: {path} not found; expected a path or one of "
            f"{', '.join(names) or f'the presets in {Path(root) / PRESETS_DIR}'}"
        )
    return path


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Nested overrides from ``--set`` items ``a.b.c=value`` (dotted keys, YAML values read as
    params files are, so ``1e-3`` is a float); a malformed item raises a one-line
    :class:`ConfigError` naming it."""
    import yaml

    nested: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"--set {item}: expected KEY=VALUE, e.g. evolution.generations=3")
        try:
            value = yaml.load(text, Loader=_unique_key_loader()) if text.strip() else None
        except yaml.YAMLError as err:
            reason = " ".join(str(getattr(err, "problem", None) or err).split())
            raise ConfigError(f"--set {item}: value is not valid YAML ({reason})") from None
        node = nested
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(
                    f"--set {item}: {'.'.join(parts[: depth + 1])} is also set to a value"
                )
        if isinstance(node.get(parts[-1]), dict) and not isinstance(value, dict):
            raise ConfigError(f"--set {item}: {key} also has keys set below it")
        node[parts[-1]] = value
    return nested


def apply_overrides(
    params: Params, items: list[str] | tuple[str, ...], source: str = "--set"
) -> Params:
    """``params`` with the ``--set`` ``items`` applied (:func:`parse_overrides`, then
    :func:`with_overrides`); an invalid value is one line naming its ``--set`` item. To apply
    them to a file before it is validated, use ``load_params(path, items)``."""
    if not items:
        return params
    try:
        return with_overrides(params, parse_overrides(items), source)
    except ConfigError as err:
        raise _blamed(err, source, items) from None


def _blamed(err: ConfigError, source: str, items: list[str] | tuple[str, ...]) -> ConfigError:
    """``err`` (``"<source>: key: why"``) told as ``"--set <item>: key: why"`` when a ``--set``
    item gave that key (the last one to set it); else ``err`` as it is."""
    message = str(err)
    if not message.startswith(f"{source}: "):
        return err
    rest = message[len(source) + 2 :]
    path = rest.split(":", 1)[0].split("[", 1)[0]
    for item in reversed(items):  # the last item setting a key wins, as in the merge
        key = item.partition("=")[0].strip()
        if path == key or path.startswith(key + ".") or key.startswith(path + "."):
            return ConfigError(f"--set {item}: {rest}")
    return err
