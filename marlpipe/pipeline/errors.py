"""User errors: what the CLI and the DVC stage scripts report as one line instead of a trace."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from marlpipe.errors import MarlpipeError


def user_error_types() -> tuple[type[BaseException], ...]:
    """Exception types that mean "fix your params or files", not "bug in marlpipe": the root
    every marlpipe user error derives from, a missing file, and MLflow's (when it is loaded)."""
    return (MarlpipeError, FileNotFoundError, *_mlflow_error_types())


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


__all__ = ["one_line", "run_stage", "user_error_types"]
