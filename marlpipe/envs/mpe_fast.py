"""The fast path for mpe2 tasks: :class:`FastMpeVecEnv` steps N copies by driving each copy's
unwrapped mpe2 ``SimpleEnv`` (its scenario and world) directly, with byte-identical numbers.

PettingZoo's parallel mpe2 env is an AEC env in three wrappers: every vector step goes through
one wrapper chain per agent, computes each agent's observation twice (``last()`` before the
agent acts, then ``observe`` after the cycle) and checks the action order. Here one call steps
every copy: the actions are checked for the whole batch (as the wrappers would, row by row only
when something is out of bounds) and decoded into forces and utterances for all copies at once
(:mod:`marlpipe.envs.mpe_actions`, from 3 copies on); each copy gets its actions as
``current_actions`` and runs mpe2's own ``_execute_world_step`` (``World.step``, rewards), then
mpe2's truncation and ``is_terminal`` rule, and mpe2's ``Scenario.observation`` is written
straight into the batch; each copy's world, entity states and actions read their attributes
without mpe2's checking getters (:mod:`marlpipe.envs.mpe_speedups`), and during these calls
mpe2's ``np.sum`` skips numpy's Python dispatch layer (:mod:`marlpipe.envs.mpe_numpy`: the same
``np.add.reduce`` call it ends in). No physics, reward or observation code is ours, so the
numbers are mpe2's: tests/envs/test_mpe_fast.py checks them byte for byte against the PettingZoo
path. What is left is mpe2's per-copy Python (``World.step``'s pairwise collision loop, the
scenarios' rewards and observations on 2-vectors): most of this path's time on spread.

Whether a vector env takes this path is decided once, before it is built, by the env factory
(:class:`~marlpipe.envs.env_factory.EnvFactory`), from :func:`fast_path_available` (only tested
mpe2 versions, :data:`SUPPORTED_MPE2`; another version logs one warning) and :func:`drives`
(an env whose mpe2 class changes ``step``, ``reset`` or ``observe``, renders, or is not wrapped
as mpe2 wraps it keeps the PettingZoo path). :class:`FastMpeVecEnv` refuses an env it cannot
drive rather than turning into its parent class while it runs.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from marlpipe.envs.batching import MASK_KEYS, batch_masks, observation_dtype
from marlpipe.envs.mpe_actions import (
    DecodedActions,
    checked_actions,
    decodable,
    decode,
    scalar_bounds,
)
from marlpipe.envs.mpe_numpy import ExactNumpy, mpe2_modules
from marlpipe.envs.mpe_speedups import refresh, speed_up
from marlpipe.envs.spec import EnvSpec
from marlpipe.envs.vector import SyncVecEnv
from marlpipe.registry import env_family

log = logging.getLogger(__name__)

SUPPORTED_MPE2 = ("1.1.1",)
"""mpe2 versions whose ``SimpleEnv`` step this module was checked against (byte-identical)."""

_DECODE_FROM = 3
"""Copies from which decoding the actions in bulk beats mpe2's per-agent ``_set_action``
(measured on spread and speaker-listener: at 1 copy bulk costs 1.5 to 2 times mpe2's way, at 2
about the same, at 3 copies half to two thirds of it)."""

_warned: set[str] = set()  # versions already warned about in this process


def fast_path_available(name: Any) -> bool:
    """Whether ``name`` is an mpe2 env and the installed mpe2 is a tested version; an untested
    version logs one warning line (once per process and version) and gives ``False``."""
    if env_family(name) != "mpe2":
        return False
    try:
        import mpe2
    except ImportError:  # the PettingZoo path then says what is missing
        return False
    version = str(getattr(mpe2, "__version__", "unknown"))
    if version in SUPPORTED_MPE2:
        return True
    if version not in _warned:
        _warned.add(version)
        log.warning(
            "mpe2 %s is not among the versions the fast mpe2 path was tested with (%s): "
            "stepping %s through PettingZoo instead (slower)",
            version, ", ".join(SUPPORTED_MPE2), name,
        )  # fmt: skip
    return False


def drives(env: Any, spec: EnvSpec) -> bool:
    """Whether :class:`FastMpeVecEnv` can step copies like ``env`` (with spec ``spec``): an
    mpe2 env as mpe2 builds it (:func:`unwrapped_simple_env`) whose observations are float32
    vectors and whose agents are named after ``world.agents``, in that order."""
    raw = unwrapped_simple_env(env)
    return (
        raw is not None
        and all(
            observation_dtype(env, spec, a) == np.float32 and spec.observations[a].kind == "vector"
            for a in spec.agent_ids
        )
        and [agent.name for agent in raw.world.agents] == list(spec.agent_ids)
    )


def unwrapped_simple_env(env: Any) -> Any | None:
    """The mpe2 ``SimpleEnv`` under a parallel env built as mpe2 builds it (PettingZoo's
    ``aec_to_parallel`` over ``OrderEnforcingWrapper`` over the bounds wrapper), or ``None``
    when the env differs in any way the fast path relies on."""
    from mpe2._mpe_utils.simple_env import SimpleEnv
    from pettingzoo.utils.conversions import aec_to_parallel_wrapper
    from pettingzoo.utils.wrappers import (
        AssertOutOfBoundsWrapper,
        ClipOutOfBoundsWrapper,
        OrderEnforcingWrapper,
    )

    if type(env) is not aec_to_parallel_wrapper:
        return None
    order = env.aec_env
    if type(order) is not OrderEnforcingWrapper:
        return None
    bounds, raw = order.env, getattr(order.env, "env", None)
    expected = ClipOutOfBoundsWrapper if getattr(raw, "continuous_actions", False) else (
        AssertOutOfBoundsWrapper
    )  # fmt: skip
    if type(bounds) is not expected or not isinstance(raw, SimpleEnv):
        return None
    cls = type(raw)
    same = all(
        getattr(cls, method) is getattr(SimpleEnv, method)
        for method in ("step", "reset", "observe")
    )
    if not same or raw.render_mode is not None or raw.agents != raw.possible_agents:
        return None
    return raw


class FastMpeVecEnv(SyncVecEnv):
    """N copies of an mpe2 task stepped through mpe2's scenario and world code, skipping
    PettingZoo's AEC cycle and wrappers; numbers byte-identical to :class:`SyncVecEnv` (see the
    module doc). Same constructor, methods and auto-reset as :class:`SyncVecEnv`; an env this
    path cannot drive (:func:`drives`) is refused with a ValueError."""

    def __init__(self, name: str, num_envs: int, *args: Any, **kwargs: Any):
        super().__init__(name, num_envs, *args, **kwargs)
        if not drives(self.envs[0], self.spec):
            SyncVecEnv.close(self)
            raise ValueError(
                f"{name}: not an mpe2 env the fast path can drive (it renders, or mpe2 did not "
                "build it as it builds its tasks); step it with SyncVecEnv (env.fast: false)"
            )
        raws = [unwrapped_simple_env(env) for env in self.envs]
        self._raws = raws
        for raw in raws:
            speed_up(raw)
        self._continuous = bool(raws[0].continuous_actions)
        # float32 vectors (checked above), every row written by _observe
        self._obs_sizes = [(a, self.spec.observations[a].shape[0]) for a in self.agent_ids]
        spaces = [self.envs[0].action_space(a) for a in self.agent_ids]
        bounds = [scalar_bounds(space) for space in spaces]
        shapes = [space.shape for space in spaces]
        self._checks = list(zip(self.agent_ids, spaces, bounds, shapes, strict=True))
        self._exact_numpy = ExactNumpy(mpe2_modules())  # mpe2's np.sum, minus its dispatch
        self._setters = None
        if decodable(raws[0]):  # each copy's _set_action answered from the batch (mpe_actions)
            self._setters = [DecodedActions(raw) for raw in raws]

    def reset(self, seed: int | None = None, *, seeds: list[int | None] | None = None):
        """Reset every copy (see :meth:`SyncVecEnv.reset`)."""
        seeds = self._reset_seeds(seed, seeds)
        obs = {a: self._empty_obs(a, self.num_envs) for a in self.agent_ids}
        with self._exact_numpy:
            for i, raw in enumerate(self._raws):
                raw.reset(seed=seeds[i])
                refresh(raw)
                self._observe(raw, obs, i)
        return obs, self._masks([raw.infos for raw in self._raws])

    def _observe(self, raw: Any, out: dict[str, np.ndarray], row: int) -> None:
        """mpe2's observation of every agent of copy ``raw`` into row ``row`` of ``out``
        (the float32 cast of ``SimpleEnv.observe``, done by the assignment)."""
        observation, world = raw.scenario.observation, raw.world
        for agent, name in zip(world.agents, self.agent_ids, strict=True):
            out[name][row] = observation(agent, world)

    def _masks(self, raw_infos: list[dict]) -> dict[str, Any]:
        """:func:`batch_masks` of the copies' infos; mpe2's infos (``{agent: {...}}``) rarely
        hold a masking key, and without one that is ``{}`` at once."""
        for info in raw_infos:
            for key in MASK_KEYS:
                if key in info:
                    return batch_masks(self.spec, raw_infos)
            for part in info.values():
                if part and isinstance(part, dict) and any(key in part for key in MASK_KEYS):
                    return batch_masks(self.spec, raw_infos)
        return {}

    def step_wait(self):
        """Results of the oldest pending step, for its copies only (see :class:`SyncVecEnv`)."""
        if not self._pending:
            raise RuntimeError("step_wait() called without a pending step_async()")
        part, actions = self._pending.pop(0)
        with self._exact_numpy:
            return self._step_copies(part, actions)

    def _step_copies(self, part: slice, actions: dict[str, Any]):
        """Step the copies ``part`` with ``actions`` (mpe2's modules inside :class:`ExactNumpy`)."""
        n, agents, raws = part.stop - part.start, self.agent_ids, self._raws[part]
        columns, batches = checked_actions(actions, self._checks, self._continuous, n)
        setters = self._setters[part] if self._setters is not None else [None] * n
        decoded = None
        if batches is not None and self._setters is not None and n >= _DECODE_FROM:
            decoded = decode(raws[0], batches)
        final_obs = {a: np.empty((n, size), np.float32) for a, size in self._obs_sizes}
        rewards = [[] for _ in agents]  # per agent, over the copies
        finished, truncated, raw_infos = [], [], []
        for i, (raw, setter) in enumerate(zip(raws, setters, strict=True)):
            raw.current_actions = [column[i] for column in columns]
            if decoded is not None:  # the setter answers _set_action only while it decodes
                setter.rows = [(u[i], c[i]) for u, c in decoded]
                raw._set_action = setter
            elif setter is not None:  # mpe2's own method, without a call through the setter
                raw.__dict__.pop("_set_action", None)
            raw._execute_world_step()
            raw.steps += 1  # then SimpleEnv.step's end-of-cycle rule
            end = raw.steps >= raw.max_cycles
            truncated.append(end)
            end = end or raw.scenario.is_terminal(raw.world)
            # the parallel wrapper adds each reward to an int 0 (so -0.0 arrives as 0.0)
            reward = raw.rewards
            for column, a in zip(rewards, agents, strict=True):
                column.append(0 + reward[a])
            self._observe(raw, final_obs, i)
            raw_infos.append(raw.infos)
            if end:  # the reset's infos stand for the copy, as in SyncVecEnv
                finished.append(i)
                raw.reset()
                refresh(raw)
                raw_infos[-1] = raw.infos
        infos = self._masks(raw_infos)
        obs = {a: final_obs[a].copy() for a in agents}
        for i in finished:
            self._observe(raws[i], obs, i)
        done = np.zeros(n, bool)
        flags = np.zeros((2, len(agents), n), bool)  # terminated, truncated: a row per agent
        if finished:  # (most steps end no copy)
            done[finished] = True
            ended = np.array(truncated, bool)
            flags[0], flags[1] = done & ~ended, ended
        infos["final_obs"] = final_obs
        infos["_final_obs"] = done
        by_agent = np.array(rewards, self.reward_dtype)  # (agents, n): a row per agent
        reward = {a: by_agent[k] for k, a in enumerate(agents)}
        terms = {a: flags[0, k] for k, a in enumerate(agents)}
        truncs = {a: flags[1, k] for k, a in enumerate(agents)}
        return obs, reward, terms, truncs, infos

    def close(self) -> None:
        super().close()
        self._raws, self._setters = [], None
