"""Vectorised PettingZoo parallel environments: N copies stepped together, batched per agent
(the contract of :class:`~marlpipe.envs.protocols.VecEnv`).

Finished copies are reset inside ``step`` (auto-reset). As in Gymnasium's same-step convention the
returned observation of such a copy is its reset observation, while ``infos["final_obs"]`` holds,
for every copy, the observation to store as ``next_state``: the true final observation of a copy
that just finished and the ordinary next observation elsewhere. Storing the reset observation
instead would corrupt the last transition of every episode.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np
from gymnasium.utils import EzPickle

from marlpipe.envs.batching import (
    batch_masks,
    check_vec_args,
    copies_slice,
    observation_dtype,
)
from marlpipe.envs.factory import make_env
from marlpipe.envs.protocols import VecEnv
from marlpipe.envs.spec import EnvSpec
from marlpipe.seeding import spawn_seeds


def random_actions(spec: EnvSpec, num_envs: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniformly random batched actions for every agent, drawn in bulk."""
    actions = {}
    for agent in spec.agent_ids:
        act = spec.actions[agent]
        if act.discrete:
            actions[agent] = rng.integers(0, act.n, size=num_envs)
        else:
            low, high = np.asarray(act.low, np.float32), np.asarray(act.high, np.float32)
            actions[agent] = rng.uniform(low, high, size=(num_envs, *act.shape)).astype(np.float32)
    return actions


class SyncVecEnv(VecEnv):
    """N copies of one environment stepped in turn in this process, through PettingZoo's API.

    ``step_async(actions, copies)`` may start steps of disjoint runs of copies before the first
    ``step_wait()``, which returns the results in the order the steps were started. Here a copy
    steps only in ``step_wait``; the async backend steps them meanwhile.
    """

    def __init__(
        self,
        name: str,
        num_envs: int,
        seed: int | None = None,
        channels_last: bool = False,
        seeds: list[int | None] | None = None,
        reward_dtype: Any = np.float32,
        **env_kwargs: Any,
    ):
        check_vec_args(num_envs, seeds)
        envs = [make_env(name, **env_kwargs) for _ in range(num_envs)]
        spec = EnvSpec.from_env(envs[0], channels_last, name, env_kwargs)
        seeds = seeds if seeds is not None else spawn_seeds(seed, num_envs)
        self._start(envs, spec, seeds, reward_dtype)

    @classmethod
    def over(cls, env: Any, reward_dtype: Any = np.float64) -> SyncVecEnv:
        """``env`` (a PettingZoo ``ParallelEnv`` built elsewhere) as a one-copy vector env, with
        its rewards as ``reward_dtype`` (default float64: as the env gives them). Closing it
        closes ``env``."""
        vec = cls.__new__(cls)
        vec._start([env], EnvSpec.from_env(env), [None], reward_dtype)
        return vec

    def _start(
        self, envs: list[Any], spec: EnvSpec, seeds: list[int | None], reward_dtype: Any
    ) -> None:
        self.envs = envs
        self.reward_dtype = np.dtype(reward_dtype)
        self.num_envs = len(envs)
        self.spec = spec
        self.agent_ids = spec.agent_ids
        self._seeds = seeds
        self._pending: list[tuple[slice, dict[str, np.ndarray]]] = []
        self._obs_dtypes = {a: observation_dtype(envs[0], spec, a) for a in spec.agent_ids}

    def _empty_obs(self, agent: str, n: int) -> np.ndarray:
        return np.zeros((n, *self.spec.observations[agent].shape), dtype=self._obs_dtypes[agent])

    def _reset_seeds(self, seed: int | None, seeds: list[int | None] | None) -> list[int | None]:
        """Each copy's reset seed: ``seeds``, else derived from ``seed``, else the constructor's
        (first reset only; later resets continue each copy's own stream)."""
        if self._pending:
            raise RuntimeError("reset() called while steps are pending: call step_wait() first")
        check_vec_args(self.num_envs, seeds)
        if seeds is None:
            seeds = spawn_seeds(seed, self.num_envs) if seed is not None else self._seeds
        self._seeds = [None] * self.num_envs
        return seeds

    def reset(
        self, seed: int | None = None, *, seeds: list[int | None] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy: copy ``i`` with ``seeds[i]``, else with its seed derived from
        ``seed``, else (first reset only) from the constructor's; see the module doc."""
        seeds = self._reset_seeds(seed, seeds)
        obs = {a: self._empty_obs(a, self.num_envs) for a in self.agent_ids}
        raw_infos = []
        for i, env in enumerate(self.envs):
            o, info = env.reset(seed=seeds[i])
            for agent in self.agent_ids:
                if agent in o:
                    obs[agent][i] = o[agent]
            raw_infos.append(info)
        return obs, batch_masks(self.spec, raw_infos)

    def step_async(self, actions: dict[str, np.ndarray], copies: slice | None = None) -> None:
        """Start stepping ``copies`` (default: all), with row i of each agent's actions for the
        i-th copy among them."""
        part = copies_slice(copies, self.num_envs, [p for p, _ in self._pending])
        self._pending.append((part, actions))

    def step_wait(self):
        """Results of the oldest pending step, for its copies only; see the module doc."""
        if not self._pending:
            raise RuntimeError("step_wait() called without a pending step_async()")
        part, actions = self._pending.pop(0)
        n, agents = part.stop - part.start, self.agent_ids
        obs = {a: self._empty_obs(a, n) for a in agents}
        rewards = {a: np.zeros(n, self.reward_dtype) for a in agents}
        terms = {a: np.zeros(n, bool) for a in agents}
        truncs = {a: np.zeros(n, bool) for a in agents}
        final_obs = {a: self._empty_obs(a, n) for a in agents}
        finished = np.zeros(n, bool)
        raw_infos = []
        for i, env in enumerate(self.envs[part]):
            live = env.agents
            act = {a: _scalar_if_discrete(actions[a][i]) for a in live}
            o, r, te, tr, info = env.step(act)
            done = True
            for agent in agents:
                if agent in o:
                    final_obs[agent][i] = o[agent]
                    rewards[agent][i] = r.get(agent, 0.0)
                    terms[agent][i] = te.get(agent, False)
                    truncs[agent][i] = tr.get(agent, False)
                    done = done and (terms[agent][i] or truncs[agent][i])
                else:  # an agent that is gone counts as terminated
                    terms[agent][i] = True
            done = done or not env.agents
            if done:
                finished[i] = True
                o, info = env.reset()
            for agent in agents:
                if agent in o:
                    obs[agent][i] = o[agent]
                elif not done:
                    obs[agent][i] = final_obs[agent][i]
            raw_infos.append(info)
        infos = batch_masks(self.spec, raw_infos)
        infos["final_obs"] = final_obs
        infos["_final_obs"] = finished
        return obs, rewards, terms, truncs, infos

    def render(self, index: int = 0) -> Any:
        """Copy ``index``'s frame from its env's ``render()`` (built with a ``render_mode``)."""
        return self.envs[index].render()

    def close(self) -> None:
        for env in self.envs:
            env.close()
        self.envs = []
        self._pending = []

    def __getstate__(self) -> dict[str, Any]:
        """Every attribute, in one pickle written by :class:`_StatePickler` (the copies'
        envs in their current state; objects shared between attributes stay shared)."""
        buffer = io.BytesIO()
        _StatePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(dict(vars(self)))
        return {"state": buffer.getvalue()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        vars(self).update(pickle.loads(state["state"]))


class _StatePickler(pickle.Pickler):
    """Writes an ``EzPickle`` object (mpe2's and Gymnasium's envs) as its own attributes, not as
    the constructor arguments ``EzPickle`` would write: a copy is in the same state, not new.
    The pygame surface and font an mpe2 env draws with are written as new ones of the same size
    (the frame is drawn anew on every ``render()``; a window does not copy)."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, EzPickle):
            return _blank, (type(obj),), vars(obj), None, None, _set_attributes
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        if kind == "pygame.surface.Surface":
            return _surface, (obj.get_size(),)
        if kind == "pygame.freetype.Font":
            return _font, (obj.path, obj.size)
        return NotImplemented


def _surface(size: tuple[int, int]) -> Any:
    import pygame

    return pygame.Surface(size)


def _font(path: str, size: float) -> Any:
    import pygame.freetype

    pygame.freetype.init()
    return pygame.freetype.Font(path, size)


def _blank(cls: type) -> Any:
    """An object of ``cls`` whose ``__init__`` has not run (its attributes follow)."""
    return cls.__new__(cls)


def _set_attributes(obj: Any, state: dict[str, Any]) -> None:
    vars(obj).update(state)  # not EzPickle.__setstate__, which builds the env anew


def _scalar_if_discrete(action):
    return int(action) if np.ndim(action) == 0 else action
