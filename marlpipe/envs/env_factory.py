"""The one env factory: :class:`EnvFactory` is the only place that chooses a vector env's backend
and the fast mpe2 path, and it makes every env the package plays on: the training vector env,
the evaluation env, the env a GIF is drawn from, and the spec the envspec stage records.

It is a small frozen dataclass of plain values (BenchMARL's ``Task.get_env_fun`` is the model),
so it pickles: Ray workers get the factory, not a dict of arguments to rebuild it from.
The rules it applies are each written once elsewhere: a task's family from its name and the
backends a family takes in :mod:`marlpipe.registry`, whether the fast path can drive an env in
:mod:`marlpipe.envs.mpe_fast`. Every env it makes is a :class:`~marlpipe.envs.protocols.VecEnv`
(one contract) and keeps the factory as ``env.factory``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.envs.async_vector import AsyncVecEnv
from marlpipe.envs.batching import check_vec_args
from marlpipe.envs.factory import make_env
from marlpipe.envs.mpe_fast import FastMpeVecEnv, drives, fast_path_available
from marlpipe.envs.openmp import default_workers, warn_if_spinning, would_spin
from marlpipe.envs.protocols import VecEnv
from marlpipe.envs.spec import EnvSpec
from marlpipe.envs.vector import SyncVecEnv
from marlpipe.envs.vmas_env import VmasVecEnv, check_kwargs
from marlpipe.registry import BACKENDS, SYNC_ONLY, env_backends, env_family
from marlpipe.seeding import derive_seed

if TYPE_CHECKING:
    from marlpipe.config import Params

log = logging.getLogger(__name__)

EVAL_REWARDS = np.float64
"""Reward dtype of the evaluation env: episode returns summed at the env's own precision."""


@dataclass(frozen=True)
class EnvFactory:
    """How to build one task's envs; ``params.yaml``'s ``env`` group names every field but
    ``seed`` and ``device`` (see :meth:`from_params`)."""

    name: str
    """The env, as ``env.name`` names it (``package.module[:factory]`` or ``vmas.<scenario>``)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the env (``env.kwargs``)."""
    num_envs: int = 1
    """Copies of the training env."""
    backend: str = "sync"
    """``"sync"`` or ``"async"`` (worker subprocesses); a VMAS task takes ``"sync"`` only."""
    seed: int | None = None
    """Seed the training env's copies derive their first reset seeds from."""
    channels_last: bool = False
    """Image observations arrive [H, W, C] (recorded in the spec)."""
    device: str = "cpu"
    """Torch device of a VMAS simulator (the numpy envs ignore it)."""
    fast: bool = True
    """Step mpe2 tasks through the fast path (:mod:`marlpipe.envs.mpe_fast`) where it can."""
    num_workers: int | None = None
    """Worker processes of the async backend (default: one per core but one)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kwargs", dict(self.kwargs))  # the caller's dict may change
        if self.backend not in BACKENDS:
            raise ValueError(f'backend must be "sync" or "async", got {self.backend!r}')
        if self.backend not in env_backends(self.name):
            raise ValueError(
                f"env.backend {self.backend!r}: a VMAS env ({self.name!r}) is {SYNC_ONLY}; use "
                'backend "sync"'
            )
        check_vec_args(self.num_envs, num_workers=self.num_workers)
        if self.family == "vmas":
            check_kwargs(self.name, self.kwargs)  # what marlpipe sets itself: one clear line

    @classmethod
    def from_params(cls, params: Params, spec: EnvSpec | None = None) -> EnvFactory:
        """The env of ``params``: the ``env`` group, ``population.device``, and the copies'
        seed from the ``"envs"`` stream of ``seed``. With ``spec`` (the envspec stage's, or an
        agent's), the env name and kwargs recorded there."""
        env = params.env
        name, kwargs = (
            (env.name, env.call_kwargs) if spec is None else (spec.env_name, spec.env_kwargs)
        )
        return cls(
            name, dict(kwargs), num_envs=env.num_envs, backend=env.backend,
            seed=derive_seed(params.seed, "envs"), channels_last=env.channels_last,
            device=params.population.device, fast=env.fast,
        )  # fmt: skip

    @classmethod
    def of(cls, env: VecEnv) -> EnvFactory:
        """The factory that built ``env``; for a backend constructed directly, one for the env
        its spec names, on its device."""
        if getattr(env, "factory", None) is not None:
            return env.factory
        spec = env.spec
        return cls(spec.env_name, dict(spec.env_kwargs), num_envs=env.num_envs,
                   device=getattr(env, "device", "cpu"))  # fmt: skip

    @property
    def family(self) -> str:
        """``"vmas"``, ``"mpe2"`` or ``"pettingzoo"`` (:func:`marlpipe.registry.env_family`)."""
        return env_family(self.name)

    def vec_env(self) -> VecEnv:
        """The training env: :attr:`num_envs` copies seeded from :attr:`seed`, on the backend
        (and, for mpe2 tasks, the path) chosen here once."""
        common = {"seed": self.seed, "channels_last": self.channels_last}
        if self.family == "vmas":
            env: VecEnv = VmasVecEnv(
                self.name, self.num_envs, device=self.device, **common, **self.kwargs
            )
        elif self.backend == "async" and not self._async_would_spin():
            env = AsyncVecEnv(self.name, self.num_envs, num_workers=self.num_workers,
                              fast=self.fast_path(), **common, **self.kwargs)  # fmt: skip
        else:
            backend = FastMpeVecEnv if self.fast_path() else SyncVecEnv
            env = backend(self.name, self.num_envs, **common, **self.kwargs)
        return self._made_here(env)

    def _async_would_spin(self) -> bool:
        """Whether the async backend's workers would share their cores with spinning OpenMP
        threads (torch imported before marlpipe, see :func:`~marlpipe.envs.openmp.would_spin`):
        then the copies step in this process, as the sync backend does (the same numbers; async
        ran at about 0.8x of sync that way on 2 cores), and the log says so once with the ways
        to get async's speed back."""
        workers = default_workers(self.num_envs, self.num_workers)
        if not would_spin(workers):
            return False
        warn_if_spinning(workers, falling_back=True)
        return True

    def eval_env(self, episodes: int) -> VecEnv:
        """The env evaluation plays ``episodes`` greedy episodes on, rewards as float64: for a
        VMAS task one simulator with a copy per episode (played as parallel copies, see
        :func:`marlpipe.algos.episodes.run_episodes`), else one copy played episode after
        episode, on the fast path where the training env would take it (the same returns as
        PettingZoo's path, byte for byte)."""
        if self.family == "vmas":
            return self._made_here(
                VmasVecEnv(self.name, max(1, int(episodes)), channels_last=self.channels_last,
                           device=self.device, reward_dtype=EVAL_REWARDS, **self.kwargs)
            )  # fmt: skip
        backend = FastMpeVecEnv if self.fast_path() else SyncVecEnv
        return self._made_here(
            backend(self.name, 1, channels_last=self.channels_last, reward_dtype=EVAL_REWARDS,
                    **self.kwargs)
        )  # fmt: skip

    def render_env(self) -> VecEnv:
        """One copy that draws RGB frames (``env.render()``): VMAS renders any copy on demand
        (on the CPU); a PettingZoo env is built with ``render_mode="rgb_array"``."""
        if self.family == "vmas":
            env: VecEnv = VmasVecEnv(self.name, 1, reward_dtype=EVAL_REWARDS, **self.kwargs)
        else:
            env = SyncVecEnv(self.name, 1, reward_dtype=EVAL_REWARDS, render_mode="rgb_array",
                             **self.kwargs)  # fmt: skip
        return self._made_here(env)

    def spec(self) -> EnvSpec:
        """The env's :class:`EnvSpec` (one copy is built, read and closed)."""
        if self.family == "vmas":
            vec = VmasVecEnv(self.name, 1, channels_last=self.channels_last, **self.kwargs)
            vec.close()
            return vec.spec
        env = make_env(self.name, **self.kwargs)
        try:
            return EnvSpec.from_env(env, self.channels_last, self.name, self.kwargs)
        finally:
            env.close()

    def fast_path(self) -> bool:
        """Whether the copies step through :class:`FastMpeVecEnv`: :attr:`fast`, an mpe2 task
        of a tested mpe2 version (:func:`fast_path_available`), and an env the path can drive
        (:func:`drives`, read from one copy built here). The one place this is decided."""
        if not (self.fast and fast_path_available(self.name)):
            return False
        probe = make_env(self.name, **self.kwargs)
        try:
            if drives(probe, EnvSpec.from_env(probe, self.channels_last, self.name, self.kwargs)):
                return True
        finally:
            probe.close()
        log.info("%s: not an mpe2 env the fast path can drive; stepping it through PettingZoo",
                 self.name)  # fmt: skip
        return False

    def _made_here(self, env: VecEnv) -> VecEnv:
        env.factory = self
        return env


def make_vec_env(
    name: str,
    num_envs: int,
    backend: str = "sync",
    seed: int | None = None,
    channels_last: bool = False,
    device: str = "cpu",
    fast: bool = True,
    num_workers: int | None = None,
    **env_kwargs: Any,
) -> VecEnv:
    """``num_envs`` copies of environment ``name`` batched per agent:
    ``EnvFactory(name, env_kwargs, ...).vec_env()`` (see :class:`EnvFactory`). A VMAS name
    (``vmas.<scenario>``) gives one batched simulator on torch ``device``, which only the
    ``"sync"`` backend takes; with ``fast`` (the default; ``env.fast`` in ``params.yaml``) both
    backends step mpe2 tasks through mpe2's own scenario and world code (byte-identical
    numbers)."""
    return EnvFactory(
        name, env_kwargs, num_envs=num_envs, backend=backend, seed=seed,
        channels_last=channels_last, device=device, fast=fast, num_workers=num_workers,
    ).vec_env()  # fmt: skip


__all__ = ["EnvFactory", "make_vec_env"]
