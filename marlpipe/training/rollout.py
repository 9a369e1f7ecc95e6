"""Experience collection: one member steps a vectorised env, fills the shared buffer, learns.

Its size (over 300 lines) is earned: :func:`collect` and the schedules and loss sums it steps
are one procedure, the order of env steps, buffer writes and learn calls that fixes a run's
numbers, kept readable top to bottom in one file.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.protocols import VecEnv


@dataclass
class RolloutStats:
    """What one member's turn at the env produced."""

    env_steps: int = 0
    """Env transitions collected (vector steps x env copies)."""
    learn_calls: int = 0
    """``learn()`` calls made."""
    episode_returns: list[float] = field(default_factory=list)
    """Return of every episode that finished during the turn, summed over the scored agents
    (:func:`collect`'s ``agents``; every agent by default)."""
    last_learn_stats: dict[str, float] | None = None
    """Losses of the last ``learn()`` call, if any."""
    actor_loss: dict[str, float] = field(default_factory=dict)
    """Mean actor loss per agent id over the turn's ``learn()`` calls that updated the actors
    (MATD3 does so on every ``policy_freq``-th call); empty when none did."""
    critic_loss: dict[str, float] = field(default_factory=dict)
    """Mean critic loss per agent id over the turn's ``learn()`` calls; empty without any."""
    epsilon: float = 0.0
    """Exploration epsilon of the turn's last vector step (discrete actions)."""

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


@dataclass(frozen=True)
class EpsilonSchedule:
    """Epsilon-greedy exploration (discrete actions) that follows a member's own experience.

    After ``n`` transitions of a member (``agent.steps``, which offspring inherit), epsilon is
    ``max(end, start * decay ** n)``: with the config's defaults (1.0, 0.1, 0.9999) it reaches
    0.1 after 23,025 transitions, a little more than one generation of the default run.
    """

    start: float
    """Epsilon of a member that has collected nothing yet."""
    end: float
    """The floor it decays to."""
    decay: float
    """Multiplicative decay per transition the member collects."""

    @classmethod
    def from_config(cls, evolution: Any) -> EpsilonSchedule:
        """The schedule of an ``EvolutionConfig`` (``epsilon_start``, ``_end``, ``_decay``)."""
        return cls(evolution.epsilon_start, evolution.epsilon_end, evolution.epsilon_decay)

    def __call__(self, transitions: int) -> float:
        """Epsilon after ``transitions`` of the member's own transitions."""
        return max(self.end, self.start * self.decay ** int(transitions))

    def transitions_to_end(self) -> int:
        """How many transitions it takes to reach ``end``."""
        if self.start <= self.end:
            return 0
        if self.decay >= 1.0:
            raise ValueError("an epsilon decay of 1.0 never reaches epsilon_end")
        return math.ceil(math.log(self.end / self.start) / math.log(self.decay))


class LossSums:
    """Running sums of the per-agent losses in the ``LearnStats`` that ``learn()`` returns.

    Each :meth:`add` is one fused in-place add per kind of loss on the device, no sync; the
    losses are only read, so training is unchanged. :meth:`finish` turns the sums into means
    (and the last call's stats into floats) with a single device-to-host copy. Results that
    are not ``LearnStats``-like (no ``critic_losses``) are counted nowhere.
    """

    def __init__(self) -> None:
        self.critic: list[Any] | None = None
        self.actor: list[Any] | None = None
        self.critic_calls = 0
        self.actor_calls = 0
        self.agent_ids: list[str] = []

    def add(self, result: Any) -> None:
        """Add one ``learn()`` result's losses."""
        critic = getattr(result, "critic_losses", None)
        if critic is None:
            return
        if self.critic is None:
            self.agent_ids = list(critic)
        self.critic = _accumulate(self.critic, critic)
        self.critic_calls += 1
        actor = getattr(result, "actor_losses", None)
        if actor is not None:  # None on the calls that left the actors alone (policy delay)
            self.actor = _accumulate(self.actor, actor)
            self.actor_calls += 1

    def finish(self, stats: RolloutStats) -> None:
        """Set ``stats.critic_loss``, ``stats.actor_loss`` and a float ``last_learn_stats``."""
        import torch

        last = stats.last_learn_stats
        tensors, names = [], []
        if self.critic is not None:
            tensors += self.critic
            names += [("critic", a) for a in self.agent_ids]
        if self.actor is not None:
            tensors += self.actor
            names += [("actor", a) for a in self.agent_ids]
        last_names: list[str] = []
        if hasattr(last, "critic_losses"):
            for kind, losses in (("critic", last.critic_losses), ("actor", last.actor_losses)):
                for agent_id, value in (losses or {}).items():
                    tensors.append(value)
                    last_names.append(f"{kind}_loss/{agent_id}")
        if not tensors:
            return
        values = torch.stack(tensors).tolist()  # the one sync
        counts = {"critic": self.critic_calls, "actor": self.actor_calls}
        for (kind, agent_id), value in zip(names, values[: len(names)], strict=True):
            getattr(stats, f"{kind}_loss")[agent_id] = value / counts[kind]
        if last_names:
            stats.last_learn_stats = dict(zip(last_names, values[len(names) :], strict=True))


def _accumulate(sums: list[Any] | None, losses: dict[str, Any]) -> list[Any]:
    """``sums`` plus the 0-d tensors of ``losses`` (added in place; copied on the first call)."""
    import torch

    values = list(losses.values())
    if sums is None:
        return [v.detach().clone() for v in values]
    torch._foreach_add_(sums, values)
    return sums


def _learn(
    agent: Agent, memory: MultiAgentReplayBuffer, calls: int, stats: RolloutStats, losses: LossSums
) -> None:
    for _ in range(calls):
        result = agent.learn(memory.sample(agent.batch_size))
        stats.learn_calls += 1
        stats.last_learn_stats = result
        losses.add(result)


PARTS = 2
"""Runs of env copies that :func:`collect` acts for and steps in turn (see there)."""


def split_copies(num_envs: int, parts: int) -> list[slice]:
    """``num_envs`` copies as ``min(parts, num_envs)`` contiguous runs of near-equal size."""
    bounds = np.linspace(0, num_envs, max(1, min(int(parts), num_envs)) + 1).astype(int)
    return [slice(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _take(batch: Any, rows: slice) -> Any:
    """``rows`` of every array in a (nested) dict of per-copy arrays."""
    if isinstance(batch, dict):
        return {key: _take(value, rows) for key, value in batch.items()}
    return batch[rows]


@dataclass
class _VectorStep:
    """One vector step, part by part: the observations acted on, the actions to store, and what
    the env gave back."""

    obs: list[dict[str, np.ndarray]] = field(default_factory=list)
    actions: list[dict[str, np.ndarray]] = field(default_factory=list)
    results: list[tuple | None] = field(default_factory=list)


def collect(
    agent: Agent,
    env: VecEnv,
    memory: MultiAgentReplayBuffer,
    env_steps: int,
    *,
    epsilon: float | EpsilonSchedule = 0.0,
    seed: int | None = None,
    parts: int = PARTS,
    agents: Sequence[str] | None = None,
) -> RolloutStats:
    """Let ``agent`` step ``env`` for at least ``env_steps`` transitions, learning as it goes.

    The env is reset (with ``seed``) at the start of the turn so a turn depends only on the
    agent, the buffer and the seed: a run resumed between generations replays exactly.

    The copies are split into ``parts`` runs (:func:`split_copies`) that are acted for and
    stepped in turn: per vector step and part, one batched ``get_action`` and a ``step_async``
    of that part's copies, so that an async env steps one part while this process acts for the
    next. Once every part of step ``t + 1`` is on its way, step ``t`` is saved to ``memory``
    (``infos["final_obs"]`` as next state, terminations as done; the parts in copy order, as
    one batch would be) and the learning then owed runs, while the env steps. The effects are
    those of a plain loop: every action of step ``t + 1`` comes before the learning owed after
    step ``t``, which comes before any action of step ``t + 2``. A sync env follows the same
    order, so both backends give identical results; ``parts`` does change them (the acting
    batches, and the order exploration noise is drawn in).

    ``epsilon`` (discrete actions) is a constant or an :class:`EpsilonSchedule`, evaluated before
    each vector step at the member's transitions so far (``agent.steps`` as a plain loop would
    have counted them), so it decays as the member collects.

    The learn-step remainder lives on the agent (``agent.learn_credit``, 0 when absent): a turn
    starts from the credit the last one left, so with ``env_steps < learn_step`` a member still
    learns once every ``learn_step`` of its transitions, counted across turns. Clones and
    checkpoints carry the credit, so offspring and resumed runs continue the same count.

    ``agents`` (``None``: every agent) are the ones whose rewards make the episode returns in
    ``stats.episode_returns``, as fitness scores them (see
    :func:`~marlpipe.evolution.fitness.scored_agents`); what is stored and learned is the same.
    """
    num_envs = int(env.num_envs)
    scored = list(env.agent_ids) if agents is None else list(agents)
    copies = split_copies(num_envs, parts)
    stats = RolloutStats()
    losses = LossSums()
    schedule = LearnSchedule(getattr(agent, "learn_credit", 0))
    obs, infos = env.reset(seed=seed)
    ready = [(_take(obs, rows), _take(infos, rows)) for rows in copies]  # what each part acts on
    running = np.zeros(num_envs, np.float64)

    def store(step: _VectorStep) -> int:
        """Save one vector step's transitions and return the learn calls now due."""
        for rows, part_obs, actions, result in zip(
            copies, step.obs, step.actions, step.results, strict=True
        ):
            _next_obs, rewards, terminations, _truncations, step_infos = result
            memory.save_to_memory(
                part_obs, actions, rewards, step_infos["final_obs"], terminations,
                is_vectorised=True,
            )  # fmt: skip
            returns = running[rows]  # a view: updated in place
            returns += sum(np.asarray(rewards[a], np.float64) for a in scored)
            finished = np.asarray(step_infos["_final_obs"], bool)
            if finished.any():
                stats.episode_returns.extend(returns[finished].tolist())
                returns[finished] = 0.0
        agent.steps += num_envs
        stats.env_steps += num_envs
        return schedule.owed(num_envs, agent.learn_step, len(memory) >= agent.batch_size)

    def finish(step: _VectorStep, part: int) -> None:
        """Wait for ``part`` of ``step`` (the oldest step pending) and keep what it gave."""
        result = env.step_wait()
        step.results[part] = result
        ready[part] = (result[0], result[4])

    schedule_epsilon = epsilon if callable(epsilon) else (lambda _steps: float(epsilon))
    first_step = int(agent.steps)
    last: _VectorStep | None = None
    for vector_step in range(math.ceil(int(env_steps) / num_envs)):
        step = _VectorStep(results=[None] * len(copies))
        stats.epsilon = schedule_epsilon(first_step + vector_step * num_envs)
        for part, rows in enumerate(copies):
            if part > 0 and last is not None:
                finish(last, part)
            part_obs, part_infos = ready[part]
            to_store, for_env = agent.get_action(
                part_obs,
                stats.epsilon,
                part_infos.get("agent_mask"),
                part_infos.get("env_defined_actions"),
                training=True,
            )
            env.step_async(for_env, rows)
            step.obs.append(part_obs)
            step.actions.append(to_store)
        if last is not None:
            _learn(agent, memory, store(last), stats, losses)
        finish(step, 0)
        last = step
    if last is not None:
        for part in range(1, len(copies)):
            finish(last, part)
        _learn(agent, memory, store(last), stats, losses)
    agent.learn_credit = schedule.credit
    losses.finish(stats)  # one device sync per turn, not per call
    return stats


__all__ = [
    "PARTS",
    "EpsilonSchedule",
    "LearnSchedule",
    "LossSums",
    "RolloutStats",
    "collect",
    "split_copies",
]
