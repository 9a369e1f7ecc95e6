"""Checks a stage makes before any work: the params' device exists here, the tracking store opens.

The config package is torch-free and cannot know what this machine has; these checks run where
the device is used (the ``init_population``, ``evolve``, ``evaluate`` stages and ``marlpipe
render``), so a run that cannot work stops with one line before it reads or writes anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from marlpipe.errors import UserError

if TYPE_CHECKING:
    from marlpipe.config import Params


def check_device(device: str, key: str = "population.device") -> str:
    """Return ``device`` if torch can use it on this machine, else raise a one-line
    :class:`UserError` naming ``key``, what this machine lacks and what to use instead."""
    import torch

    try:
        kind = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise UserError(
            f"{key}: expected a torch device (cpu, cuda, cuda:N or mps), got {device!r}"
        ) from None
    if kind.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(
                f"{key}: {device!r} needs CUDA, but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use cpu"
            )
        count = torch.cuda.device_count()
        if kind.index is not None and kind.index >= count:
            raise UserError(
                f"{key}: {device!r}: expected a CUDA device index below {count} (this machine "
                f"has {count} CUDA device{'s' if count != 1 else ''}); use cuda:0 or cpu"
            )
    elif kind.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(
            f"{key}: {device!r} needs Apple's Metal (MPS), but MPS is not available on this "
            "machine (torch.backends.mps.is_available() is False); use cpu"
        )
    return device


def check_tracking_store(params: Params, root: str | Path = ".") -> None:
    """With ``tracking.enabled``, fail now if the MLflow store (local store in ``root``, see
    ``store_root``) cannot be used (:meth:`~marlpipe.tracking.MlflowTracker.check_store`)."""
    if params.tracking.enabled:
        from marlpipe.tracking import MlflowTracker

        MlflowTracker(params.tracking.experiment, root=root).check_store()


def check_stage(
    params: Params,
    root: str | Path = ".",
    *,
    tracking: bool = False,
    store: str | Path | None = None,
) -> Params:
    """Every check before a stage's work: the device, and with ``tracking`` the MLflow store
    (its local store in ``store``, default ``root``). Returns ``params``."""
    check_device(params.population.device)
    if tracking:
        check_tracking_store(params, store or root)
    return params


__all__ = ["check_device", "check_stage", "check_tracking_store"]
