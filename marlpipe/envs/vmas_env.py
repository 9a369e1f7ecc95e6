"""VMAS tasks (``env.name: vmas.<scenario>``): ``num_envs`` copies in ONE batched simulator.

:class:`VmasVecEnv` keeps the one vector-env contract (:class:`~marlpipe.envs.protocols.VecEnv`):
per-agent batched numpy observations, rewards, terminations and truncations kept apart,
auto-reset with the true final observation in ``infos["final_obs"]``, ``step_async`` /
``step_wait``, pickling. VMAS has no agent masks, so ``infos`` never carries masking info, and
no single-env form: :func:`~marlpipe.envs.factory.make_env` refuses a VMAS name.

Decisions where VMAS and marlpipe differ:

- Episodes end by truncation at ``max_steps`` (an ``env.kwargs`` key; default
  :data:`DEFAULT_MAX_STEPS` = 25, mpe2's ``max_cycles``), by termination when the scenario
  says it is done; VMAS runs with ``terminated_truncated=True`` so the two stay apart.
- Actions are clamped by VMAS (``clamp_actions=True``): continuous actions to
  ``[-u_range, u_range]`` for movement and ``[0, 1]`` for communication, the bounds the
  :class:`EnvSpec` records; discrete actions are one index per agent (VMAS's flat product of
  movement and communication choices).
- The numpy boundary: VMAS computes in torch; the rest of marlpipe (buffer, agents) takes
  numpy per agent, so observations are handed over with ``Tensor.numpy()`` (no copy on CPU)
  and actions come back through ``torch.from_numpy``. ``benchmarks/bench_envs.py`` measures it.
- Randomness: VMAS draws from torch's, numpy's and Python's global generators (its
  ``local_seed`` swaps in one state shared by every VMAS env). Each :class:`VmasVecEnv` keeps
  its own copy of that state and swaps it in around every VMAS call, so two envs never share a
  stream and the caller's global generators are left as they were.
- ``reset(seed=s)`` seeds the simulator's one stream and resets all copies in one batched
  call: the same seed and ``num_envs`` give the same observations byte for byte, but copy
  ``k``'s start depends on ``num_envs``. ``reset(seed=s, seeds=[...])`` then resets every copy
  again on its own seed (one VMAS ``reset_at`` per copy: slower), so a copy seeded with ``x``
  starts the same whatever the batch; batched evaluation
  (:func:`marlpipe.algos.episodes.run_episodes`) uses it. Some scenarios also draw state that
  all copies share on the batched reset only (speaker-listener's goal landmark is one for the
  whole batch), hence the batched reset from ``s`` first: such state is the same for every
  batch size when the scenario draws it before its per-copy state, as speaker-listener does.
  Without any seed VMAS seeds its stream with 0, so an unseeded env repeats too.
  Auto-resets draw from the stream: one batched reset when every copy ends at once (the usual
  case, all episodes last ``max_steps``), else one ``reset_at`` per finished copy.
- Pickling: VMAS loads its scenario classes from their files (no importable module), its
  scenarios and simulator keep lambdas, and our scenario class is made when first asked for, so
  plain pickle cannot name them: the simulator is pickled by value with ``cloudpickle`` (what
  Ray ships functions with). VMAS's shared random state is left out and bound again on loading.

Its size (over 300 lines) is earned: it is one adapter, :class:`VmasVecEnv`, whose decisions
above (numpy boundary, random state, seeding, auto-reset) act together on every call; split up,
they would have to be read across files.
"""

from __future__ import annotations

import importlib.util
import pickle
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from marlpipe.envs.batching import check_vec_args, copies_slice
from marlpipe.envs.errors import EnvNameError
from marlpipe.envs.protocols import VecEnv
from marlpipe.envs.spec import EnvSpec
from marlpipe.registry import VMAS_PREFIX
from marlpipe.seeding import spawn_seeds

DEFAULT_MAX_STEPS = 25
"""Episode length when ``env.kwargs`` gives no ``max_steps`` (mpe2's ``max_cycles``)."""

RESERVED_KWARGS = ("num_envs", "device", "seed", "dict_spaces", "terminated_truncated")
"""VMAS ``make_env`` arguments marlpipe sets itself; ``env.kwargs`` may not give them."""


def vmas_scenarios() -> list[str]:
    """Names of the scenarios the installed VMAS ships (read from its files: torch-free) and
    marlpipe's own (:mod:`marlpipe.envs.vmas_scenarios`); empty when VMAS is not installed."""
    from marlpipe.envs.vmas_scenarios import OWN_SCENARIOS

    found = importlib.util.find_spec("vmas")
    if found is None or not found.submodule_search_locations:
        return []
    folder = Path(next(iter(found.submodule_search_locations))) / "scenarios"
    shipped = {p.stem for p in folder.rglob("*.py") if not p.stem.startswith("_")}
    return sorted(shipped | set(OWN_SCENARIOS))


def scenario_of(name: str) -> str:
    """The VMAS scenario that ``vmas.<scenario>`` names; errors are one line naming ``name``."""
    scenario = name[len(VMAS_PREFIX) :]
    known = vmas_scenarios()
    if not known:
        raise EnvNameError(
            f"environment {name!r} (env.name) is a VMAS scenario but VMAS is not installed: "
            'pip install "marlpipe[vmas]"'
        )
    if scenario not in known:
        raise EnvNameError(
            f"unknown VMAS scenario {scenario!r} in env.name {name!r}: VMAS {_vmas_version()} "
            f"has {', '.join(known)}"
        )
    return scenario


def check_kwargs(name: str, env_kwargs: dict[str, Any]) -> None:
    """Refuse ``env.kwargs`` that set what marlpipe sets itself (:data:`RESERVED_KWARGS`)."""
    reserved = sorted(set(env_kwargs) & set(RESERVED_KWARGS))
    if reserved:
        raise EnvNameError(
            f"environment {name!r}: env.kwargs may not set {', '.join(reserved)} (marlpipe "
            "sets them: num_envs is env.num_envs, seeds come from the params' seed)"
        )


def _vmas_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vmas")
    except PackageNotFoundError:
        return "?"


def _gymnasium_space(space: Any) -> Any:
    """A VMAS (gym) Box or Discrete as the gymnasium space :class:`EnvSpec` reads; other kinds
    are returned as they are (and refused there with the agent's name)."""
    from gymnasium import spaces

    kind = type(space).__name__
    if kind == "Box":
        return spaces.Box(space.low, space.high, space.shape, space.dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(space.n), start=int(getattr(space, "start", 0)))
    return space


class VmasVecEnv(VecEnv):
    """``num_envs`` copies of VMAS scenario ``name`` in one batched simulator (see module doc).

    VMAS steps every copy at once: ``step_async`` calls for disjoint runs of copies collect the
    actions, and the first ``step_wait`` once every copy has its action steps them all; the
    results of the other runs wait for their own ``step_wait``.
    """

    batched_simulator = True

    def __init__(
        self,
        name: str,
        num_envs: int,
        seed: int | None = None,
        channels_last: bool = False,
        seeds: list[int | None] | None = None,
        device: str = "cpu",
        reward_dtype: Any = np.float32,
        **env_kwargs: Any,
    ):
        check_vec_args(num_envs, seeds)
        scenario = scenario_of(name)
        check_kwargs(name, env_kwargs)
        import vmas
        from vmas.simulator.environment import Environment

        from marlpipe.envs.vmas_scenarios import OWN_SCENARIOS, own_scenario

        self._shared_state = Environment.vmas_random_state  # what VMAS's local_seed swaps in
        self._rng = list(self._shared_state)
        kwargs = {"max_steps": DEFAULT_MAX_STEPS, **env_kwargs}
        with self._own_rng():
            try:
                self._env = vmas.make_env(
                    own_scenario(scenario) if scenario in OWN_SCENARIOS else scenario,
                    num_envs=num_envs, device=device, seed=_stream_seed(seed),
                    dict_spaces=True, terminated_truncated=True, clamp_actions=True, **kwargs,
                )  # fmt: skip
            except TypeError as err:
                raise EnvNameError(
                    f"environment {name!r} refused its keyword arguments {env_kwargs!r} "
                    f"(env.kwargs): {err}"
                ) from None
        self.num_envs = int(num_envs)
        self.device = device
        self.reward_dtype = np.dtype(reward_dtype)
        self.max_steps = self._env.max_steps
        self.possible_agents = [agent.name for agent in self._env.agents]
        self.agents = list(self.possible_agents)
        self._obs_spaces = {
            a: _gymnasium_space(s) for a, s in self._env.observation_space.spaces.items()
        }
        self._act_spaces = {
            a: _gymnasium_space(s) for a, s in self._env.action_space.spaces.items()
        }
        self.spec = EnvSpec.from_env(self, channels_last, name, env_kwargs)
        self.agent_ids = self.spec.agent_ids
        self._seeds = seeds
        self._first_seed = seed
        # [copies, actions, result]: started steps in order; result None until stepped
        self._queue: list[list[Any]] = []

    # -- the PettingZoo-style view EnvSpec.from_env reads -----------------------------------
    def observation_space(self, agent: str) -> Any:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> Any:
        return self._act_spaces[agent]

    @contextmanager
    def _own_rng(self):
        """Run VMAS calls on this env's random state, leaving the shared one as it was."""
        saved = list(self._shared_state)
        self._shared_state[:] = self._rng
        try:
            yield
        finally:
            self._rng = list(self._shared_state)
            self._shared_state[:] = saved

    def _numpy(self, batch: dict[str, Any]) -> dict[str, np.ndarray]:
        return {a: batch[a].detach().cpu().numpy() for a in self.agent_ids}

    def _observations(self) -> dict[str, np.ndarray]:
        (obs,) = self._env.get_from_scenario(
            get_observations=True, get_rewards=False, get_infos=False, get_dones=False,
            dict_agent_names=True,
        )  # fmt: skip
        return self._numpy(obs)

    def reset(
        self, seed: int | None = None, *, seeds: list[int | None] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy in one batch from the env's stream (seeded first with ``seed``, or
        the constructor's on the first reset); with ``seeds``, then reset each copy again with
        its own entry (``None``: as the batched reset left it). See the module doc."""
        if self._queue:
            raise RuntimeError("reset() called while steps are pending: call step_wait() first")
        if seeds is None and seed is None:
            seeds, self._seeds = self._seeds, None
        check_vec_args(self.num_envs, seeds)
        if seed is None and self._first_seed is not None:
            seed = self._first_seed
        self._first_seed = None
        with self._own_rng():
            if seed is not None:
                self._env.seed(_stream_seed(seed))
            self._env.reset(return_observations=False)
            if seeds is not None:
                for i, copy_seed in enumerate(seeds):
                    if copy_seed is not None:  # else the batched reset's draw stands
                        self._env.seed(int(copy_seed))
                        self._env.reset_at(i, return_observations=False)
            obs = self._observations()
        return obs, {}

    def step_async(self, actions: dict[str, np.ndarray], copies: slice | None = None) -> None:
        """Start stepping ``copies`` (default: all), with row i of each agent's actions for the
        i-th copy among them."""
        part = copies_slice(copies, self.num_envs, [entry[0] for entry in self._queue])
        self._queue.append([part, actions, None])

    def step_wait(self):
        """Results of the oldest pending step, for its copies only (see the class doc)."""
        if not self._queue:
            raise RuntimeError("step_wait() called without a pending step_async()")
        if self._queue[0][2] is None:
            self._step_all([entry for entry in self._queue if entry[2] is None])
        part, _, result = self._queue.pop(0)
        return result

    def _step_all(self, entries: list[list[Any]]) -> None:
        import torch

        covered = sorted((entry[0].start, entry[0].stop) for entry in entries)
        ends = [0] + [hi for _, hi in covered]
        if [lo for lo, _ in covered] != ends[:-1] or ends[-1] != self.num_envs:
            raise RuntimeError(
                f"VMAS steps all {self.num_envs} copies at once, but actions were started for "
                f"copies {', '.join(f'{lo}:{hi}' for lo, hi in covered)} only: call step_async "
                "for the other copies before step_wait()"
            )
        actions = {}
        for agent in self.agent_ids:
            parts = [np.asarray(entry[1][agent]) for entry in sorted(entries, key=_start)]
            batch = np.concatenate(parts) if len(parts) > 1 else parts[0]
            if self.spec.actions[agent].discrete:
                actions[agent] = torch.from_numpy(batch.astype(np.int64).reshape(-1, 1))
            else:
                actions[agent] = torch.from_numpy(np.ascontiguousarray(batch, np.float32))
        with self._own_rng():
            raw_obs, raw_rewards, raw_terms, raw_truncs, _ = self._env.step(
                {a: actions[a].to(self.device) for a in self.agent_ids}
            )
            final_obs = self._numpy(raw_obs)
            term = raw_terms.detach().cpu().numpy().astype(bool)
            trunc = raw_truncs.detach().cpu().numpy().astype(bool)
            finished = term | trunc
            if finished.all():
                self._env.reset(return_observations=False)
            else:
                for i in np.flatnonzero(finished):
                    self._env.reset_at(int(i), return_observations=False)
            obs = (
                self._observations()
                if finished.any()
                else {a: v.copy() for a, v in final_obs.items()}
            )
        rewards = {
            a: raw_rewards[a].detach().cpu().numpy().astype(self.reward_dtype, copy=False)
            for a in self.agent_ids
        }
        for entry in entries:
            rows = entry[0]
            entry[2] = (
                {a: obs[a][rows] for a in self.agent_ids},
                {a: rewards[a][rows] for a in self.agent_ids},
                {a: term[rows].copy() for a in self.agent_ids},
                {a: trunc[rows].copy() for a in self.agent_ids},
                {
                    "final_obs": {a: final_obs[a][rows] for a in self.agent_ids},
                    "_final_obs": finished[rows].copy(),
                },
            )

    def render(self, index: int = 0) -> np.ndarray:
        """An RGB frame (``H x W x 3``) of copy ``index`` (VMAS draws it with pyglet)."""
        with self._own_rng():
            return self._env.render(mode="rgb_array", env_index=index)

    def close(self) -> None:
        self._queue = []
        viewer = getattr(self._env, "viewer", None) if hasattr(self, "_env") else None
        if viewer is not None:
            viewer.close()
            self._env.viewer = None

    def __getstate__(self) -> dict[str, Any]:
        """This env with its simulator pickled by cloudpickle, without VMAS's shared random
        state (see the module doc)."""
        import cloudpickle  # installed with VMAS's extra (and with MLflow and Ray)

        state = {k: v for k, v in vars(self).items() if k not in ("_shared_state", "_env")}
        viewer = getattr(self._env, "viewer", None)
        self._env.viewer = None  # a window does not pickle; the copy opens its own
        try:
            simulator = cloudpickle.dumps(self._env)
        finally:
            self._env.viewer = viewer
        return {**state, "_env": simulator}

    def __setstate__(self, state: dict[str, Any]) -> None:
        from vmas.simulator.environment import Environment

        vars(self).update(state)
        self._env = pickle.loads(state["_env"])
        self._shared_state = Environment.vmas_random_state


def _start(entry: list[Any]) -> int:
    return entry[0].start


def _stream_seed(seed: int | None) -> int | None:
    """A seed of any size as the 32-bit one VMAS's seeding (numpy's included) accepts."""
    return None if seed is None else spawn_seeds(seed, 1)[0]


__all__ = ["DEFAULT_MAX_STEPS", "VmasVecEnv", "scenario_of"]
