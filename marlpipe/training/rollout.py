"""Experience collection: one member steps a vectorised env, fills the shared buffer, learns."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RolloutStats:
    """What one member's turn at the env produced."""

    env_steps: int = 0
    """Env transitions collected (vector steps x env copies)."""
    learn_calls: int = 0
    """``learn()`` calls made."""
    episode_returns: list[float] = field(default_factory=list)
    """Summed-over-agents return of every episode that finished during the turn."""
    last_learn_stats: dict[str, float] | None = None
    """Losses of the last ``learn()`` call, if any."""

    @property
    def mean_return(self) -> float | None:
        """Mean of ``episode_returns`` (``None`` when no episode finished)."""
        return float(np.mean(self.episode_returns)) if self.episode_returns else None


class LearnSchedule:
    """Counts env transitions and turns them into ``learn()`` calls, one per ``learn_step``.

    Transitions are counted over all env copies, so 8 copies with ``learn_step=4`` give two calls
    per vector step, and 8 copies with ``learn_step=3`` give 2, 3, 3, 2, ... calls: the remainder
    carries over instead of being rounded away. Until the buffer holds ``batch_size`` transitions
    the calls owed are dropped, but the remainder below ``learn_step`` still carries over.
    ``credit`` starts from a previous schedule's remainder (see :func:`collect`).
    """

    def __init__(self, credit: int = 0) -> None:
        self.credit = int(credit)
        """Transitions counted but not yet turned into a ``learn()`` call."""

    def owed(self, transitions: int, learn_step: int, ready: bool) -> int:
        """Add ``transitions`` and return how many ``learn()`` calls are now due."""
        calls, self.credit = divmod(self.credit + int(transitions), max(1, int(learn_step)))
        return calls if ready else 0


def _learn(agent: Any, memory: Any, calls: int, stats: RolloutStats) -> None:
    for _ in range(calls):
        result = agent.learn(memory.sample(agent.batch_size))
        stats.learn_calls += 1
        stats.last_learn_stats = result


def collect(
    agent: Any,
    env: Any,
    memory: Any,
    env_steps: int,
    *,
    epsilon: float = 0.0,
    seed: int | None = None,
) -> RolloutStats:
    """Let ``agent`` step ``env`` for at least ``env_steps`` transitions, learning as it goes.

    The env is reset (with ``seed``) at the start of the turn so a turn depends only on the
    agent, the buffer and the seed: a run resumed between generations replays exactly. Per vector
    step there is one batched ``get_action``, one buffer save (``infos["final_obs"]`` as next
    state, terminations as done) and the learning then owed. The save and the learning of step
    ``t`` run between ``step_async`` and ``step_wait`` of step ``t + 1``, so that an async env
    steps in its workers meanwhile; they still come after the action of step ``t + 1`` and
    before the save of step ``t + 1``, as in a plain loop. The same order is used with a sync
    env, so both backends give identical results.

    The learn-step remainder lives on the agent (``agent.learn_credit``, 0 when absent): a turn
    starts from the credit the last one left, so with ``env_steps < learn_step`` a member still
    learns once every ``learn_step`` of its transitions, counted across turns. Clones and
    checkpoints carry the credit, so offspring and resumed runs continue the same count.
    """
    num_envs = int(env.num_envs)
    agent_ids = list(env.agent_ids)
    stats = RolloutStats()
    schedule = LearnSchedule(getattr(agent, "learn_credit", 0))
    obs, infos = env.reset(seed=seed)
    running = np.zeros(num_envs, np.float64)

    def store(transition: tuple) -> int:
        """Save one vector step's transitions and return the learn calls now due."""
        last_obs, actions, (_next_obs, rewards, terminations, _truncations, step_infos) = transition
        memory.save_to_memory(
            last_obs, actions, rewards, step_infos["final_obs"], terminations, is_vectorised=True
        )
        running[:] += sum(np.asarray(rewards[a], np.float64) for a in agent_ids)
        finished = np.asarray(step_infos["_final_obs"], bool)
        if finished.any():
            stats.episode_returns.extend(running[finished].tolist())
            running[finished] = 0.0
        agent.steps += num_envs
        stats.env_steps += num_envs
        return schedule.owed(num_envs, agent.learn_step, len(memory) >= agent.batch_size)

    pending = None  # the last vector step, stored while the env takes the next one
    for _ in range(math.ceil(int(env_steps) / num_envs)):
        to_store, for_env = agent.get_action(
            obs,
            epsilon,
            infos.get("agent_mask"),
            infos.get("env_defined_actions"),
            training=True,
        )
        env.step_async(for_env)
        if pending is not None:
            _learn(agent, memory, store(pending), stats)
        result = env.step_wait()
        pending, obs, infos = (obs, to_store, result), result[0], result[4]
    if pending is not None:
        _learn(agent, memory, store(pending), stats)
    agent.learn_credit = schedule.credit
    if hasattr(stats.last_learn_stats, "to_dict"):  # one device sync per turn, not per call
        stats.last_learn_stats = stats.last_learn_stats.to_dict()
    return stats


__all__ = ["LearnSchedule", "RolloutStats", "collect"]
