"""Merged experience: members train independently of each other within a generation.

With ``population.experience: merged`` every member trains for one generation from the shared
replay buffer as it stood at the generation's start plus its own new transitions only, and the
driver appends every member's new transitions to the shared buffer in member order once all have
trained. A member's turn is the pure function :func:`~marlpipe.training.member.train_member`:
its env reset seed, its exploration and target noise (the agent's generators, re-seeded) and its
buffer sampling come from streams of ``(run seed, generation, member position)`` only, so which
process trains it, and in which order, never changes the result. :class:`LocalTrainer` runs the
turns one after another in this process; ``marlpipe.training.ray_trainer.RayTrainer`` runs them
on Ray actors. Both give byte-identical populations. A trainer whose ``evaluates`` is true
(the Ray one) also plays each member's fitness episodes where the member trained, right after its
turn, so the driver only reads the scores; the local trainer leaves them to the loop. The scores
are the same either way. The arrows point one way: this module and
``ray_trainer`` both import the turn from ``member.py``, and only :func:`make_trainer` imports
``ray_trainer`` (lazily).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from marlpipe.training.member import (
    Evaluation,
    MemberResult,
    MemberTask,
    agent_from,
    member_task,
    train_member,
)
from marlpipe.training.rollout import EpsilonSchedule, RolloutStats
from marlpipe.training.state import LoopState

if TYPE_CHECKING:
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.env_factory import EnvFactory
    from marlpipe.envs.protocols import VecEnv


class Trainer(Protocol):
    """Runs the members' turns of one generation (in any order, anywhere). One whose
    ``evaluates`` attribute is true also plays the tasks' fitness episodes (an absent attribute
    counts as false: the loop evaluates)."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: VecEnv) -> list[MemberResult]:  # fmt: skip
        """One result per task, in the tasks' order."""
        ...

    def close(self) -> None:
        """Release what the trainer holds (workers)."""
        ...


class LocalTrainer:
    """The turns one after another in this process, on the loop's own vec env."""

    ship_s = 0.0
    """Seconds the last ``train`` spent shipping the buffer and weights (none here)."""
    evaluates = False
    """The loop evaluates the members on the driver afterwards, as with the shared buffer."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: VecEnv) -> list[MemberResult]:  # fmt: skip
        """Run each task on ``env``."""
        return [train_member(task, snapshot, env) for task in tasks]

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class MergedGeneration:
    """What :func:`train_merged` hands back to the loop."""

    population: list[Agent]
    """The trained members, rebuilt from their results, in population order."""
    rollouts: list[RolloutStats]
    workers: list[str | None]
    """Who trained each member."""
    extra: dict[str, float]
    """``slowest_member_s``, ``ship_s`` (tasks and snapshot out), ``merge_s`` (members
    rebuilt and transitions appended), ``reruns`` (turns rerun after their worker died) and
    ``wait_s`` (the driver waiting for the turns: the trainer's time less its shipping)."""
    results: list[MemberResult]
    """The members' results (their ``node``, ``reruns`` and ``fitness``; transitions and state
    dropped once merged), in population order."""

    @property
    def fitnesses(self) -> list[float] | None:
        """The scores the trainer's workers gave (already in the members' fitness histories);
        ``None`` when the loop must evaluate."""
        scores = [r.fitness for r in self.results]
        return None if any(f is None for f in scores) else [float(f) for f in scores]

    def where(self, i: int) -> dict[str, Any]:
        """Where member ``i``'s turn (and its fitness episodes, if there) ran, as the fields
        ``worker``, ``node``, ``evaluated_on`` and ``reruns`` of its ``MemberRecord``."""
        result = self.results[i]
        evaluated_on = result.worker if result.fitness is not None else None
        return {"worker": result.worker, "node": result.node, "evaluated_on": evaluated_on,
                "reruns": result.reruns}  # fmt: skip


def train_merged(
    trainer: Trainer,
    env: VecEnv,
    population: Sequence[Agent],
    memory: MultiAgentReplayBuffer,
    state: LoopState,
    env_steps: int,
    epsilon: EpsilonSchedule,
    agents: Sequence[str] | None = None,
    evaluation: Evaluation | None = None,
) -> MergedGeneration:
    """Train every member from ``memory`` as it stands now, then append each member's new
    transitions to ``memory`` in member order (``state`` is read, not advanced). ``agents``:
    the scored agents of the members' episode returns (``None``: all). ``evaluation``: the
    generation's fitness episodes, played after each turn if the trainer ``evaluates``."""
    started = time.perf_counter()
    snapshot = memory.snapshot()
    if not getattr(trainer, "evaluates", False):
        evaluation = None
    tasks = [member_task(agent, pos, state, env_steps, epsilon, agents, evaluation)
             for pos, agent in enumerate(population)]  # fmt: skip
    ship = time.perf_counter() - started
    results = trainer.train(tasks, snapshot, env)
    merging = time.perf_counter()
    wait = merging - started - ship - float(getattr(trainer, "ship_s", 0.0))
    trained = [agent_from(r.metadata, r.state, str(a.device))
               for r, a in zip(results, population, strict=True)]  # fmt: skip
    for result in results:
        memory.extend(result.transitions, result.count)
        result.transitions, result.state = {}, {}  # merged: not held through the generation
    extra = {
        "slowest_member_s": max(r.seconds for r in results),
        "ship_s": ship + float(getattr(trainer, "ship_s", 0.0)),
        "merge_s": time.perf_counter() - merging,
        "reruns": sum(r.reruns for r in results),
        "wait_s": wait,
    }
    return MergedGeneration(trained, [r.stats for r in results], [r.worker for r in results],
                            extra, list(results))  # fmt: skip


def make_trainer(population: Any, env: EnvFactory) -> Trainer | None:
    """The trainer ``population`` (a ``PopulationConfig``) asks for: ``None`` for the shared
    buffer (the loop's own turns), a :class:`LocalTrainer`, or a Ray trainer whose workers each
    build ``env.vec_env()`` once (a task's reset seed then takes over)."""
    if population.experience == "shared":
        return None
    if population.backend == "local":
        return LocalTrainer()
    from marlpipe.training.ray_trainer import RayTrainer

    return RayTrainer.for_env(env, population)


__all__ = [
    "LocalTrainer",
    "MergedGeneration",
    "Trainer",
    "make_trainer",
    "train_merged",
]
