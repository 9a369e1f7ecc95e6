"""The local MLflow store (``sqlite:///<root>/mlflow.db``): its checks, its lock, its creation.

- Is the file there an SQLite database? A file that is not (a stray download, a truncated copy,
  ``echo garbage > mlflow.db``) would make MLflow fail deep in SQLAlchemy with a long trace. This
  check only reads the file's first 16 bytes; it never changes, moves or deletes it.
- Its lock (``mlflow.db.lock``, an inter-process file lock): MLflow creates and migrates an empty
  SQLite store's tables on first use without one, so two processes opening a fresh store at once
  (``dvc queue start -j 2``) raced and one failed. :func:`prepare_sqlite_store` creates the
  tables once, under the lock; promoting an alias (``model_registry.promote``) takes it too.
- Does the store belong to this repo? The store records absolute artefact locations; a copied or
  moved repo's ``mlflow.db`` still points at the original folder (:func:`check_artifact_location`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from marlpipe.errors import UserError

LOCK_TIMEOUT = 300.0
"""Seconds to wait for another process that creates the store or moves an alias."""

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


def lock_path(tracking_uri: str) -> Path | None:
    """The lock file of a ``sqlite:`` store (``<db>.lock``; ``None``: not a local SQLite file)."""
    path = sqlite_path(tracking_uri)
    return None if path is None else path.with_name(path.name + ".lock")


@contextlib.contextmanager
def store_lock(tracking_uri: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the inter-process lock of a ``sqlite:`` store for the block (other stores: no-op).

    ``filelock`` locks with ``flock``: a process that dies releases it; the file stays, empty.
    """
    path = lock_path(tracking_uri)
    if path is None:
        yield
        return
    from filelock import FileLock, Timeout

    try:
        with FileLock(path, timeout=timeout):
            yield
    except Timeout:
        raise UserError(
            f"{path}: another process held MLflow's local store lock for {timeout:.0f} s "
            "(creating the store or moving an alias); try again when it is done"
        ) from None


_PREPARED: set[str] = set()


def prepare_sqlite_store(tracking_uri: str) -> None:
    """Create (or finish creating) a ``sqlite:`` store's tables once, under :func:`store_lock`,
    before anything else in this process uses it; other URIs are left alone.

    MLflow makes an empty store's tables on first use, the tracking and the registry tables
    apart, without a lock: two processes doing it at once fail ("table ... already exists",
    "Online migration expected to match one row"). Done here through MLflow's own public calls,
    the stores it caches per URI are then ready in this process, so the work is not redone.
    """
    path = sqlite_path(tracking_uri)
    if path is None or tracking_uri in _PREPARED:
        return
    from mlflow.tracking import MlflowClient

    with store_lock(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)  # the tracking tables
        client.search_registered_models(max_results=1)  # the model registry's
    _PREPARED.add(tracking_uri)


def file_location(location: str | None) -> Path | None:
    """The local folder of an artefact location (``file:`` URI or plain path; else ``None``)."""
    if not location:
        return None
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and os.path.isabs(location):
        return Path(location)
    return None


def is_repo_store(tracking_uri: str, root: str | os.PathLike) -> bool:
    """Is ``tracking_uri`` the SQLite file ``<root>/mlflow.db`` (the repo's own local store)?"""
    path = sqlite_path(tracking_uri)
    return path is not None and path.resolve() == (Path(root).resolve() / "mlflow.db")


def check_artifact_location(
    location: str | None, root: str | os.PathLike, experiment: str
) -> None:
    """Raise a one-line :class:`UserError` when experiment ``experiment`` of the repo's own store
    in ``root`` keeps its artefacts outside ``root``: the repo (and its ``mlflow.db``) was
    copied or moved, and MLflow would go on writing into the original folder."""
    folder = file_location(location)
    root = Path(root).resolve()
    if folder is None or folder.resolve().is_relative_to(root):
        return
    fix = "move mlflow.db and mlartifacts/ aside to start a fresh store here"
    original = folder.parent.parent if folder.parent.name == "mlartifacts" else None
    if original is not None and (original / "mlflow.db").is_file():
        fix += f", or set MLFLOW_TRACKING_URI=sqlite:///{original}/mlflow.db to log there"
    raise UserError(
        f"{root / 'mlflow.db'}: experiment {experiment!r} keeps its artefacts in {folder}, "
        f"outside this repo (was the repo copied or moved?); {fix}"
    )


def check_repo_store(tracking_uri: str, root: str | os.PathLike, experiment: str) -> None:
    """:func:`check_artifact_location` for an existing repo store, read with ``sqlite3`` alone
    (read-only, no MLflow): the check before any work. Other stores are left alone."""
    if not is_repo_store(tracking_uri, root):
        return
    path = Path(root).resolve() / "mlflow.db"
    if not path.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            row = db.execute(
                "SELECT artifact_location FROM experiments WHERE name = ? "
                "AND lifecycle_stage = 'active'",
                (experiment,),
            ).fetchone()
    except sqlite3.Error:  # no tables yet, or a schema MLflow will report itself
        return
    if row is not None:
        check_artifact_location(row[0], root, experiment)


__all__ = [
    "LOCK_TIMEOUT",
    "SQLITE_HEADER",
    "check_artifact_location",
    "check_repo_store",
    "check_sqlite_store",
    "file_location",
    "is_repo_store",
    "lock_path",
    "prepare_sqlite_store",
    "sqlite_path",
    "store_lock",
]
