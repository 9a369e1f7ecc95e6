"""The local MLflow store (``sqlite:///<root>/mlflow.db``): is the file there an SQLite database?

A file that is not (a stray download, a truncated copy, ``echo garbage > mlflow.db``) would make
MLflow fail deep in SQLAlchemy with a long trace. This check only reads the file's first 16
bytes; it never changes, moves or deletes it.
"""

from __future__ import annotations

import os
from pathlib import Path

from marlpipe.errors import UserError

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file."""


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:`` tracking URI (``None``: not SQLite, or in memory)."""
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    name = tracking_uri[len(prefix) :].split("?", 1)[0]
    if not name or name == ":memory:":
        return None
    return Path(name)


def check_sqlite_store(tracking_uri: str) -> None:
    """Raise a one-line :class:`~marlpipe.errors.UserError` when the file of a
    ``sqlite:`` ``tracking_uri`` exists but is not an SQLite database (a missing or empty file is
    fine: MLflow creates the store). Other URIs are left alone."""
    path = sqlite_path(tracking_uri)
    if path is None or not path.exists():
        return
    if os.environ.get("MLFLOW_TRACKING_URI"):
        what, fix = f"MLFLOW_TRACKING_URI={tracking_uri}", "point MLFLOW_TRACKING_URI elsewhere"
    else:
        what, fix = "MLflow's local store", "set MLFLOW_TRACKING_URI"
    try:
        with open(path, "rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except IsADirectoryError:
        header = None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"{path}: cannot read it ({reason}; {what})") from None
    if header == b"" or header == SQLITE_HEADER:
        return
    raise UserError(f"{path}: not an SQLite database ({what}); move it aside or {fix}")


__all__ = ["SQLITE_HEADER", "check_sqlite_store", "sqlite_path"]
