"""Reading and writing ``params.yaml``: strict YAML in, complete YAML out, overrides merged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marlpipe.config.params import DEFAULT_PARAMS_NAME, Params, params_from_dict
from marlpipe.config.validation import ConfigError


def load_params(path: str | Path | None = None) -> Params:
    """Read and validate ``path`` (default: ./params.yaml, else the package defaults)."""
    import yaml

    if path is None:
        if not Path(DEFAULT_PARAMS_NAME).is_file():
            return Params()
        path = DEFAULT_PARAMS_NAME
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_unique_key_loader())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML ({err.problem}{where})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    return params_from_dict(data, str(path))


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

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    return params_from_dict(merge(params.to_dict(), overrides), source)
