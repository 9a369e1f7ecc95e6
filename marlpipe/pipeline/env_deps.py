"""Whether ``dvc.yaml`` reruns a stage when the user's own env module is edited.

``env.name: "mygame:make_env"`` names a module outside ``marlpipe`` that no stage of the
pipeline's ``dvc.yaml`` lists as a dep: editing it would rerun nothing. The stages that build the
env (``envspec``, ``evolve``, ``evaluate``) call :func:`warn_if_env_module_not_a_dep` first: when
the module's file lies inside the repository (``root``, where ``dvc.yaml`` is) and no dep of that
stage covers it, one warning line says what to add where. Modules of installed packages outside
the repository and the env names of mpe2, PettingZoo and VMAS are never mentioned; without a
``dvc.yaml`` (or one without the stage) nothing is said.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

KNOWN_PACKAGES = ("mpe2", "pettingzoo", "vmas")
"""Env packages installed as dependencies: their modules are never the user's to list."""


def env_module_file(name: str) -> Path | None:
    """The source file of the module that ``env.name`` (``"pkg.module"`` or
    ``"pkg.module:factory"``) names, found with :func:`importlib.util.find_spec` without running
    that module (a dotted name's parent packages are imported, as building the env would);
    ``None`` for mpe2, PettingZoo and VMAS names and for a module that is not found or has no
    file (building the env reports a bad name)."""
    if not isinstance(name, str):
        return None
    module = name.partition(":")[0].strip()
    if not module or module.split(".")[0] in KNOWN_PACKAGES:
        return None
    if not all(part.isidentifier() for part in module.split(".")):
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.has_location or not spec.origin:
        return None
    return Path(spec.origin)


def _stage_deps(root: Path, stage: str) -> tuple[Path, list[str]] | None:
    """The folder ``stage``'s deps are relative to and the deps, from ``root/dvc.yaml``."""
    import yaml

    try:
        stages = yaml.safe_load((root / "dvc.yaml").read_text()).get("stages") or {}
        spec: Any = stages[stage]
        entries = spec.get("deps") or []
        base = root / spec.get("wdir", ".")
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return None  # no dvc.yaml, or not a pipeline that has this stage
    deps = [d for e in entries for d in ([e] if isinstance(e, str) else e)]
    return base, deps


def missing_env_dep(name: str, stage: str, root: str | Path = ".") -> str | None:
    """The warning line for ``stage`` when the module of env ``name`` lies inside the repository
    ``root`` and no dep of the stage in ``root/dvc.yaml`` covers it; ``None`` otherwise."""
    file = env_module_file(name)
    if file is None:
        return None
    root = Path(root).resolve()
    file = file.resolve()
    if not file.is_relative_to(root):
        return None  # an installed package, or a module outside the repository
    found = _stage_deps(root, stage)
    if found is None:
        return None
    base, deps = found
    base = base.resolve()
    if any(file.is_relative_to((base / dep).resolve()) for dep in deps):
        return None
    dep = Path(os.path.relpath(file, base)).as_posix()
    return (
        f"{stage}: env.name {name!r} is built by {dep}, which no dep of stage {stage} covers: "
        f'add "- {dep}" under stages.{stage}.deps in dvc.yaml so that editing it reruns the '
        f"stages that build the env"
    )


def warn_if_env_module_not_a_dep(name: str, stage: str, root: str | Path = ".") -> None:
    """Log :func:`missing_env_dep`'s line as one warning, if there is one."""
    line = missing_env_dep(name, stage, root)
    if line is not None:
        log.warning("%s", line)
