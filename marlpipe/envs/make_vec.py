"""The one entry point to vectorised envs: :func:`make_vec_env` picks the ``"sync"`` backend
(:class:`~marlpipe.envs.vector.SyncVecEnv`) or the ``"async"`` one
(:class:`~marlpipe.envs.async_vector.AsyncVecEnv`); both batch per agent and auto-reset as the
:mod:`marlpipe.envs.vector` module doc describes."""

from __future__ import annotations

from typing import Any

from marlpipe.envs.async_vector import AsyncVecEnv
from marlpipe.envs.vector import SyncVecEnv


def make_vec_env(
    name: str,
    num_envs: int,
    backend: str = "sync",
    seed: int | None = None,
    channels_last: bool = False,
    **env_kwargs: Any,
):
    """Return ``num_envs`` copies of environment ``name`` batched per agent (see the
    :mod:`marlpipe.envs.vector` module doc)."""
    if backend == "sync":
        return SyncVecEnv(name, num_envs, seed=seed, channels_last=channels_last, **env_kwargs)
    if backend == "async":
        return AsyncVecEnv(name, num_envs, seed=seed, channels_last=channels_last, **env_kwargs)
    raise ValueError(f'backend must be "sync" or "async", got {backend!r}')
