"""The one vector-env contract: :class:`VecEnv`, the base class of every backend
(:class:`~marlpipe.envs.vector.SyncVecEnv` and its fast mpe2 form
:class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv`, :class:`~marlpipe.envs.async_vector.AsyncVecEnv`,
:class:`~marlpipe.envs.vmas_env.VmasVecEnv`). Training, evolution, evaluation and the stages are
typed against it, never against one backend; ``tests/envs/test_vec_env_contract.py`` runs every
backend through the same cases.

The contract, for ``num_envs`` copies of one multi-agent env:

- Every agent's values are batched along a leading axis of ``num_envs`` rows: observations
  ``(num_envs, *shape)`` of the observation space's dtype (int64 indices for Discrete), rewards
  ``(num_envs,)`` of :attr:`VecEnv.reward_dtype`, terminations and truncations ``(num_envs,)``
  bool, kept apart.
- ``reset(seed=None, *, seeds=None)`` resets every copy and gives ``(obs, infos)``: with
  ``seeds`` copy ``i`` is reset with ``seeds[i]``, so a copy seeded ``x`` starts the same
  whatever the batch; with ``seed`` each copy's seed is derived from it; with neither, the
  constructor's seed on the first reset, then each copy goes on with its own stream.
- ``step_async(actions, copies=None)`` starts a step of a run of copies (row ``i`` of each
  agent's actions for the ``i``-th of them); runs of disjoint copies may be pending together,
  and ``step_wait()`` gives the oldest one's ``(obs, rewards, terminations, truncations,
  infos)``. ``step(actions)`` is both, for every copy.
- Auto-reset: a copy whose episode ends is reset inside the step. Its returned observation is
  the reset one; ``infos["final_obs"]`` holds, for every copy, the observation to store as the
  next state (the true final one where a copy just ended), and ``infos["_final_obs"]`` (bool,
  one per copy) says which copies ended. Reset and step infos also hold ``agent_mask`` and
  ``env_defined_actions`` (batched, see :mod:`marlpipe.envs.batching`) when any copy reports
  either, and nothing else.
- ``close()`` releases the copies (processes, simulators) and may be called again.
- A vector env pickles and deep-copies: the copy is in the same state and, given the same
  actions, steps exactly as the original from there. No backend changes class while running.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from marlpipe.envs.spec import EnvSpec


class VecEnv:
    """``num_envs`` copies of one multi-agent env stepped together (see the module doc)."""

    batched_simulator: ClassVar[bool] = False
    """Whether the copies are one batched simulator that resets state they share (VMAS):
    evaluation then seeds every copy for each episode it plays (see
    :func:`marlpipe.algos.episodes.run_episodes`)."""

    num_envs: int
    spec: EnvSpec
    agent_ids: tuple[str, ...]
    reward_dtype: np.dtype = np.dtype(np.float32)
    """dtype of the batched rewards: float32 (what the replay buffer stores) or float64 (the
    evaluation env's: returns summed at the env's own precision)."""
    device: str = "cpu"
    """Torch device the copies compute on (VMAS only; the numpy envs run on the CPU)."""
    factory: Any = None
    """The :class:`~marlpipe.envs.env_factory.EnvFactory` that built this env (``None`` when a
    backend was constructed directly)."""

    def reset(
        self, seed: int | None = None, *, seeds: list[int | None] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy; ``(obs, infos)`` (see the module doc)."""
        raise NotImplementedError

    def step_async(self, actions: dict[str, np.ndarray], copies: slice | None = None) -> None:
        """Start stepping ``copies`` (default: all)."""
        raise NotImplementedError

    def step_wait(self) -> tuple[Any, ...]:
        """``(obs, rewards, terminations, truncations, infos)`` of the oldest pending step."""
        raise NotImplementedError

    def step(self, actions: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """Step every copy with row ``i`` of each agent's actions; see the module doc."""
        self.step_async(actions)
        return self.step_wait()

    def render(self, index: int = 0) -> Any:
        """An RGB frame of copy ``index`` (backends that can draw one)."""
        raise NotImplementedError(f"{type(self).__name__} does not render")

    def close(self) -> None:
        """Release the copies (processes, simulators); calling it again does nothing."""
        raise NotImplementedError

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["VecEnv"]
