"""The one root of marlpipe's user errors, at the bottom of the package (imports no marlpipe).

Every error the user can fix from its one-line message derives from :class:`MarlpipeError`
(``ConfigError``, ``EnvNameError``, ``UnsupportedSpaceError``, ``CheckpointError``,
:class:`UserError`); the CLI and the DVC stage scripts catch that root
(:func:`marlpipe.pipeline.errors.run_stage`).
"""

from __future__ import annotations

import importlib
from typing import Any


class MarlpipeError(Exception):
    """An error the user can fix from its one-line message (no traceback shown)."""


class UserError(MarlpipeError):
    """An error the user can fix from its one-line message (no traceback shown)."""


def require(module: str, purpose: str) -> Any:
    """Import ``module`` from the ``pipeline`` extra, or say in one line how to install it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module.split(".")[0]:
            raise
        raise UserError(
            f"{purpose} needs {err.name}, which is not installed: pip install 'marlpipe[pipeline]'"
        ) from None


__all__ = ["MarlpipeError", "UserError", "require"]
