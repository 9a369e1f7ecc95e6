"""User errors: what the CLI and the DVC stage scripts report as one line instead of a trace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any


class UserError(Exception):
    """An error the user can fix from its one-line message (no traceback shown)."""


def require(module: str, purpose: str) -> Any:
    """Import ``module`` from the ``pipeline`` extra, or say in one line how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module.split(".")[0]:
            raise
        raise UserError(
            f"{purpose} needs {err.name}, which is not installed: pip install 'marlpipe[pipeline]'"
        ) from None


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "fix your params or files", not "bug in marlpipe"."""
    from marlpipe.algos.checkpoint import CheckpointError
    from marlpipe.config import ConfigError
    from marlpipe.envs import EnvNameError, UnsupportedSpaceError

    return (
        UserError, ConfigError, EnvNameError, UnsupportedSpaceError, CheckpointError,
        FileNotFoundError, *_mlflow_error_types(),
    )  # fmt: skip


def _mlflow_error_types() -> tuple[type[BaseException], ...]:
    # A tracking store that can't be reached or a URI MLflow doesn't know is the user's to fix.
    # Only looked up when mlflow is already loaded: importing it just for this costs ~1.5 s.
    module = sys.modules.get("mlflow.exceptions")
    return (module.MlflowException,) if module is not None else ()


def one_line(err: BaseException) -> str:
    """The first line of ``err``'s message (its type name when it has none)."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    if isinstance(err, _mlflow_error_types()):
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        store = f"MLFLOW_TRACKING_URI={uri}" if uri else "the local store (mlflow.db)"
        line = f"MLflow tracking failed with {store}: {line}"
    return line


def run_stage(main: Callable[[], Any], name: str = "marlpipe") -> Any:
    """Call ``main`` and return what it returns; on a user error print ``<name>: error: <one
    line>`` and exit with 2. ``MARLPIPE_DEBUG=1`` shows the full traceback instead.

    The DVC stage scripts and every ``marlpipe`` CLI command report errors through this.
    """
    try:
        return main()
    except Exception as err:
        if os.environ.get("MARLPIPE_DEBUG") or not isinstance(err, user_error_types()):
            raise
        print(f"{name}: error: {one_line(err)}", file=sys.stderr)
        sys.exit(2)
