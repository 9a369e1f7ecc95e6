"""The one entry point to vectorised envs: :func:`make_vec_env` picks the ``"sync"`` backend
(:class:`~marlpipe.envs.vector.SyncVecEnv`, or for mpe2 tasks its fast form
:class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv`) or the ``"async"`` one
(:class:`~marlpipe.envs.async_vector.AsyncVecEnv`); both batch per agent and auto-reset as the
:mod:`marlpipe.envs.vector` module doc describes."""

from __future__ import annotations

from typing import Any

from marlpipe.envs.async_vector import AsyncVecEnv
from marlpipe.envs.factory import make_env
from marlpipe.envs.mpe_fast import fast_path_available, sync_vec_env
from marlpipe.envs.vmas_env import VmasVecEnv, is_vmas_name


def make_vec_env(
    name: str,
    num_envs: int,
    backend: str = "sync",
    seed: int | None = None,
    channels_last: bool = False,
    device: str = "cpu",
    fast: bool = True,
    **env_kwargs: Any,
):
    """Return ``num_envs`` copies of environment ``name`` batched per agent (see the
    :mod:`marlpipe.envs.vector` module doc). A VMAS name (``vmas.<scenario>``) gives one batched
    simulator of ``num_envs`` copies (:class:`~marlpipe.envs.vmas_env.VmasVecEnv`) on torch
    ``device``, which only the ``"sync"`` backend takes: there are no copies to spread over
    worker processes. The mpe2 envs are numpy code and ignore ``device``; with ``fast`` (the
    default; ``env.fast`` in ``params.yaml``) both backends step them through mpe2's own scenario
    and world code rather than PettingZoo's wrappers
    (:class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv`, byte-identical numbers)."""
    if is_vmas_name(name):
        if backend != "sync":
            raise ValueError(
                f"env.backend {backend!r}: a VMAS env ({name!r}) steps all its copies in one "
                'batched simulator in this process; use backend "sync"'
            )
        return VmasVecEnv(
            name, num_envs, seed=seed, channels_last=channels_last, device=device, **env_kwargs
        )
    if backend == "sync":
        return sync_vec_env(
            name, num_envs, fast, seed=seed, channels_last=channels_last, **env_kwargs
        )
    if backend == "async":
        fast = fast and fast_path_available(name)  # warned here once, not in every worker
        return AsyncVecEnv(
            name, num_envs, seed=seed, channels_last=channels_last, fast=fast, **env_kwargs
        )
    raise ValueError(f'backend must be "sync" or "async", got {backend!r}')


def make_eval_env(name: str, episodes: int, device: str = "cpu", **env_kwargs: Any):
    """The env evaluation plays ``episodes`` greedy episodes on: for a VMAS name one batched
    simulator with a copy per episode on torch ``device`` (played as parallel copies, see
    :func:`marlpipe.algos.episodes.run_episodes`), else one PettingZoo ``ParallelEnv``."""
    if is_vmas_name(name):
        return VmasVecEnv(name, max(1, int(episodes)), device=device, **env_kwargs)
    return make_env(name, **env_kwargs)
