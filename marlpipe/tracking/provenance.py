"""Provenance tags of a run: who ran what, from which commit, in which DVC experiment."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def git_commit(root: str | os.PathLike = ".") -> str | None:
    """The checked-out commit of the repository holding ``root`` (``None`` outside git)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def run_tags(root: str | os.PathLike = ".") -> dict[str, str]:
    """Provenance tags: the user, what ran, the git commit, the DVC experiment (``dvc exp run``)."""
    tags = {"mlflow.user": _user(), "mlflow.source.name": _source_name()}
    commit = git_commit(root)
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc_exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def _user() -> str:
    """The login name, as MLflow's fluent API records it (``unknown`` when there is none)."""
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment (e.g. some containers)
        return "unknown"


def _source_name() -> str:
    """What ran, as MLflow's ``mlflow.source.name``: ``python -m stages.evolve`` under DVC,
    ``marlpipe`` for the CLI."""
    import sys

    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return f"python -m {spec.name}"
    return Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "marlpipe"
