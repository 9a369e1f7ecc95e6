"""Who trains the members in a generation: one :class:`Trainer` interface, three trainers.

The loop hands a generation's members to its trainer (:meth:`Trainer.train_generation`) and
gets them back trained, with their rollout figures (a :class:`TrainedGeneration`); what
follows (fitness, selection, mutation, the record) is the same for every trainer.

- :class:`SharedTrainer` (``population.experience: shared``, the default): the members take
  turns at the loop's own vec env in population order, each learning from the shared replay
  buffer as the earlier members left it.
- Merged experience (``population.experience: merged``, :class:`MergedTrainer`): every member
  trains for one generation from the shared buffer as it stood at the generation's start plus
  its own new transitions only, and the driver appends every member's new transitions to the
  shared buffer in member order once all have trained. A member's turn is the pure function
  :func:`~marlpipe.training.member.train_member`: its env reset seed, its exploration and target
  noise (the agent's generators, re-seeded) and its buffer sampling come from streams of ``(run
  seed, generation, member position)`` only, so which process trains it, and in which order,
  never changes the result. :class:`LocalTrainer` runs the turns one after another in this
  process; ``marlpipe.training.ray_trainer.RayTrainer`` runs them on Ray actors. Both give
  byte-identical populations. A merged trainer whose ``evaluates`` is true (the Ray one) also
  plays each member's fitness episodes where the member trained, right after its turn, so the
  driver only reads the scores; the others leave them to the loop. The scores are the same
  either way.

The arrows point one way: this module and ``ray_trainer`` both import the turn from
``member.py``, and ``ray_trainer`` imports :class:`MergedTrainer` from here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from marlpipe.training.member import (
    Evaluation,
    MemberResult,
    MemberTask,
    agent_from,
    member_task,
    train_member,
)
from marlpipe.training.rollout import EpsilonSchedule, RolloutStats, collect
from marlpipe.training.state import LoopState

if TYPE_CHECKING:
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.protocols import VecEnv


@dataclass
class TrainedGeneration:
    """What a trainer hands back to the loop."""

    population: list[Agent]
    """The trained members, in population order."""
    rollouts: list[RolloutStats]
    """Each member's collection figures, in population order."""
    extra: dict[str, float] = field(default_factory=dict)
    """The trainer's own figures for the record (merged: ``slowest_member_s``, ``ship_s``
    (tasks and snapshot out), ``merge_s`` (members rebuilt and transitions appended),
    ``reruns`` (turns rerun after their worker died) and ``wait_s`` (the driver waiting for the
    turns: the trainer's time less its shipping))."""
    results: list[MemberResult] | None = None
    """Merged: the members' results (their ``worker``, ``node``, ``reruns`` and ``fitness``;
    transitions and state dropped once merged), in population order."""

    @property
    def fitnesses(self) -> list[float] | None:
        """The scores the trainer's workers gave (already in the members' fitness histories);
        ``None`` when the loop must evaluate."""
        scores = [r.fitness for r in self.results or []]
        if not scores or any(f is None for f in scores):
            return None
        return [float(f) for f in scores]

    def where(self, i: int) -> dict[str, Any]:
        """Where member ``i``'s turn (and its fitness episodes, if there) ran, as the fields
        ``worker``, ``node``, ``evaluated_on`` and ``reruns`` of its ``MemberRecord`` (none:
        this process)."""
        if self.results is None:
            return {}
        result = self.results[i]
        evaluated_on = result.worker if result.fitness is not None else None
        return {"worker": result.worker, "node": result.node, "evaluated_on": evaluated_on,
                "reruns": result.reruns}  # fmt: skip


class Trainer(Protocol):
    """Trains a generation's members (in any order, anywhere)."""

    def train_generation(
        self,
        env: VecEnv,
        population: Sequence[Agent],
        memory: MultiAgentReplayBuffer,
        state: LoopState,
        env_steps: int,
        epsilon: EpsilonSchedule,
        agents: Sequence[str] | None = None,
        evaluation: Evaluation | None = None,
    ) -> TrainedGeneration:
        """Train every member of ``population`` for ``env_steps`` env steps on ``env`` (or the
        trainer's own copies), filling ``memory``; ``state`` is read, not advanced. ``agents``:
        the scored agents of the members' episode returns (``None``: all). ``evaluation``: the
        generation's fitness episodes, for a trainer that plays them."""
        ...

    def close(self) -> None:
        """Release what the trainer holds (workers)."""
        ...


class SharedTrainer:
    """The members take turns at the loop's vec env, all filling and sampling the shared buffer
    (see :func:`~marlpipe.training.rollout.collect`)."""

    def train_generation(
        self,
        env: VecEnv,
        population: Sequence[Agent],
        memory: MultiAgentReplayBuffer,
        state: LoopState,
        env_steps: int,
        epsilon: EpsilonSchedule,
        agents: Sequence[str] | None = None,
        evaluation: Evaluation | None = None,
    ) -> TrainedGeneration:
        """Each member in turn, reset with its seed of ``state``'s generation."""
        rollouts = [
            collect(agent, env, memory, env_steps, epsilon=epsilon,
                    seed=state.seed_for(position), agents=agents)
            for position, agent in enumerate(population)
        ]  # fmt: skip
        return TrainedGeneration(list(population), rollouts)

    def close(self) -> None:
        """Nothing to release."""


class MergedTrainer:
    """Merged experience: every member's turn from the buffer as it stood at the generation's
    start, then the new transitions appended in member order. A subclass runs the turns
    (:meth:`train`)."""

    ship_s = 0.0
    """Seconds the last ``train`` spent shipping the buffer and weights."""
    evaluates = False
    """Whether ``train`` also plays the tasks' fitness episodes (else the loop does)."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: VecEnv) -> list[MemberResult]:  # fmt: skip
        """One result per task, in the tasks' order."""
        raise NotImplementedError

    def train_generation(
        self,
        env: VecEnv,
        population: Sequence[Agent],
        memory: MultiAgentReplayBuffer,
        state: LoopState,
        env_steps: int,
        epsilon: EpsilonSchedule,
        agents: Sequence[str] | None = None,
        evaluation: Evaluation | None = None,
    ) -> TrainedGeneration:
        """Train every member from ``memory`` as it stands now, then append each member's new
        transitions to ``memory`` in member order."""
        started = time.perf_counter()
        snapshot = memory.snapshot()
        if not self.evaluates:
            evaluation = None
        tasks = [member_task(agent, pos, state, env_steps, epsilon, agents, evaluation)
                 for pos, agent in enumerate(population)]  # fmt: skip
        ship = time.perf_counter() - started
        results = self.train(tasks, snapshot, env)
        merging = time.perf_counter()
        wait = merging - started - ship - float(self.ship_s)
        trained = [agent_from(r.metadata, r.state, str(a.device))
                   for r, a in zip(results, population, strict=True)]  # fmt: skip
        for result in results:
            memory.extend(result.transitions, result.count)
            result.transitions, result.state = {}, {}  # merged: not held through the generation
        extra = {
            "slowest_member_s": max(r.seconds for r in results),
            "ship_s": ship + float(self.ship_s),
            "merge_s": time.perf_counter() - merging,
            "reruns": sum(r.reruns for r in results),
            "wait_s": wait,
        }
        return TrainedGeneration(trained, [r.stats for r in results], extra, list(results))

    def close(self) -> None:
        """Nothing to release."""


class LocalTrainer(MergedTrainer):
    """Merged experience with the turns one after another in this process, on the loop's own vec
    env; the loop evaluates the members afterwards, as with the shared buffer."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: VecEnv) -> list[MemberResult]:  # fmt: skip
        """Run each task on ``env``."""
        return [train_member(task, snapshot, env) for task in tasks]


__all__ = [
    "LocalTrainer",
    "MergedTrainer",
    "SharedTrainer",
    "TrainedGeneration",
    "Trainer",
]
