"""Where marlpipe's log lines go: the ``marlpipe`` logger, set up by the CLI and stage scripts.

Library modules log through ``logging.getLogger(__name__)`` (children of ``marlpipe``) and add
no handler. Lines that tell users about their files (a run resumed, a partial run moved aside,
no GIF logged) are warnings, so they reach stderr even when nothing set logging up (Python's
last-resort handler). ``marlpipe`` and the DVC stage scripts call :func:`configure`: INFO and
up to stderr as plain ``%(message)s`` lines (``-v``: DEBUG, ``-q``: WARNING).
"""

from __future__ import annotations

import logging
import sys

LOGGER = "marlpipe"
"""The package's logger; every module's logger is its child."""


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test's capture, click's
    runner), not to the stream of the moment it was made."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure(level: int = logging.INFO) -> logging.Logger:
    """Send the ``marlpipe`` logger's lines of ``level`` and up to stderr as ``%(message)s``;
    calling it again replaces the handler it added, never adds a second one."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        if isinstance(handler, StderrHandler):
            logger.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)
    return logger


__all__ = ["LOGGER", "StderrHandler", "configure"]
