"""Merged experience: members train independently of each other within a generation.

With ``population.experience: merged`` every member trains for one generation from the shared
replay buffer as it stood at the generation's start plus its own new transitions only, and the
driver appends every member's new transitions to the shared buffer in member order once all have
trained. A member's turn is the pure function :func:`train_member`: its env reset seed, its
exploration and target noise (the agent's generators, re-seeded) and its buffer sampling come from
streams of ``(run seed, generation, member position)`` only, so which process trains it, and in
which order, never changes the result. :class:`LocalTrainer` runs the turns one after another in
this process; ``marlpipe.training.ray_trainer.RayTrainer`` runs them on Ray actors. Both give
byte-identical populations.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from marlpipe.training.rollout import EpsilonSchedule, RolloutStats, collect
from marlpipe.training.state import LoopState

NOISE_STREAM = 1
"""Spawn-key slot (after the member position) of a member's re-seeded noise generators."""
BUFFER_STREAM = 2
"""Spawn-key slot (after the member position) of a member's buffer-sampling generator."""


@dataclass(frozen=True)
class MemberSeeds:
    """Every seed a member's turn uses, all from ``(run seed, generation, position)``."""

    env: int
    """Reset seed of the env copies (the same one the ``shared`` loop uses)."""
    noise: int
    """Seed of the agent's numpy and torch generators (exploration, target smoothing)."""
    buffer: int
    """Seed of the sampling generator of the member's private buffer."""

    @classmethod
    def of(cls, state: LoopState, position: int) -> MemberSeeds:
        """The seeds of the member at ``position`` in ``state``'s current generation."""
        return cls(
            env=state.seed_for(position),
            noise=state.seed_for(position, NOISE_STREAM),
            buffer=state.seed_for(position, BUFFER_STREAM),
        )


@dataclass(frozen=True)
class MemberTask:
    """One member's turn, as plain data that can be shipped to another process."""

    position: int
    """The member's position in the population (its seeds and its place in the merge)."""
    metadata: dict[str, Any]
    """``agent.metadata()``: algorithm, architecture, hyperparameters, evolution data."""
    state: dict[str, dict[str, Any]]
    """``agent.state_dicts()``: weights, optimisers, torch generator."""
    seeds: MemberSeeds
    env_steps: int
    """Env transitions to collect."""
    epsilon: EpsilonSchedule
    device: str
    """Torch device to train on."""
    agents: list[str] | None = None
    """The scored agents whose rewards make the turn's episode returns (``None``: all; see
    :func:`~marlpipe.training.rollout.collect`)."""


@dataclass
class MemberResult:
    """What one member's turn gives back."""

    position: int
    metadata: dict[str, Any]
    """The trained member's ``metadata()``."""
    state: dict[str, dict[str, Any]]
    """The trained member's ``state_dicts()``."""
    transitions: dict[str, dict[str, Any]]
    """Its new transitions (the newest ``memory_size`` at most) as numpy arrays per field and
    agent, oldest first (see ``MultiAgentReplayBuffer.newest``)."""
    count: int
    """How many transitions it saved."""
    stats: RolloutStats
    seconds: float
    """Wall time of the turn."""
    worker: str | None = None
    """Who trained it (a Ray actor's ``node:pid``; ``None`` in this process)."""


def member_task(
    agent: Any,
    position: int,
    state: LoopState,
    env_steps: int,
    epsilon: EpsilonSchedule,
    agents: Sequence[str] | None = None,
) -> MemberTask:
    """The task of ``agent`` at ``position`` in ``state``'s current generation (``agents``: the
    scored agents of its episode returns, ``None`` for all)."""
    return MemberTask(
        position=position, metadata=agent.metadata(), state=agent.state_dicts(),
        seeds=MemberSeeds.of(state, position), env_steps=int(env_steps), epsilon=epsilon,
        device=str(agent.device), agents=None if agents is None else list(agents),
    )  # fmt: skip


def agent_from(metadata: dict[str, Any], state: dict[str, dict[str, Any]], device: str) -> Any:
    """A new agent of the algorithm ``metadata`` names, loaded with ``state``."""
    from marlpipe.registry import algorithm_class

    return algorithm_class(metadata["algo"]).from_state(metadata, state, device)


def train_member(task: MemberTask, snapshot: dict[str, Any], env: Any) -> MemberResult:
    """Train one member for one generation from the buffer ``snapshot`` (see
    ``MultiAgentReplayBuffer.snapshot``) on the vec env ``env`` (reset with the task's seed).

    Pure: the result depends on the task and the snapshot only (the snapshot's arrays are
    copied, never written).
    """
    from marlpipe.algos.buffer import MultiAgentReplayBuffer

    started = time.perf_counter()
    agent = agent_from(task.metadata, task.state, task.device)
    agent.reseed(task.seeds.noise)
    memory = MultiAgentReplayBuffer.from_snapshot(snapshot, task.device, seed=task.seeds.buffer)
    before = memory.counter
    stats = collect(agent, env, memory, task.env_steps, epsilon=task.epsilon,
                    seed=task.seeds.env, agents=task.agents)  # fmt: skip
    count = memory.counter - before
    return MemberResult(
        position=task.position, metadata=agent.metadata(), state=agent.state_dicts(),
        transitions=memory.newest(count), count=count, stats=stats,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


class Trainer(Protocol):
    """Runs the members' turns of one generation (in any order, anywhere)."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: Any) -> list[MemberResult]:  # fmt: skip
        """One result per task, in the tasks' order."""
        ...

    def close(self) -> None:
        """Release what the trainer holds (workers)."""
        ...


class LocalTrainer:
    """The turns one after another in this process, on the loop's own vec env."""

    ship_s = 0.0
    """Seconds the last ``train`` spent shipping the buffer and weights (none here)."""

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: Any) -> list[MemberResult]:  # fmt: skip
        """Run each task on ``env``."""
        return [train_member(task, snapshot, env) for task in tasks]

    def close(self) -> None:
        """Nothing to release."""


@dataclass
class MergedGeneration:
    """What :func:`train_merged` hands back to the loop."""

    population: list[Any]
    """The trained members, rebuilt from their results, in population order."""
    rollouts: list[RolloutStats]
    workers: list[str | None]
    """Who trained each member."""
    extra: dict[str, float]
    """``slowest_member_s``, ``ship_s`` (tasks and snapshot out) and ``merge_s`` (members
    rebuilt and transitions appended)."""


def train_merged(
    trainer: Trainer,
    env: Any,
    population: Sequence[Any],
    memory: Any,
    state: LoopState,
    env_steps: int,
    epsilon: EpsilonSchedule,
    agents: Sequence[str] | None = None,
) -> MergedGeneration:
    """Train every member from ``memory`` as it stands now, then append each member's new
    transitions to ``memory`` in member order (``state`` is read, not advanced). ``agents``:
    the scored agents of the members' episode returns (``None``: all)."""
    started = time.perf_counter()
    snapshot = memory.snapshot()
    tasks = [member_task(agent, pos, state, env_steps, epsilon, agents)
             for pos, agent in enumerate(population)]  # fmt: skip
    ship = time.perf_counter() - started
    results = trainer.train(tasks, snapshot, env)
    merging = time.perf_counter()
    trained = [agent_from(r.metadata, r.state, str(a.device))
               for r, a in zip(results, population, strict=True)]  # fmt: skip
    for result in results:
        memory.extend(result.transitions, result.count)
    extra = {
        "slowest_member_s": max(r.seconds for r in results),
        "ship_s": ship + float(getattr(trainer, "ship_s", 0.0)),
        "merge_s": time.perf_counter() - merging,
    }
    return MergedGeneration(trained, [r.stats for r in results], [r.worker for r in results],
                            extra)  # fmt: skip


def make_trainer(population: Any, env_args: dict[str, Any]) -> Trainer | None:
    """The trainer ``population`` (a ``PopulationConfig``) asks for: ``None`` for the shared
    buffer (the loop's own turns), a :class:`LocalTrainer`, or a Ray trainer whose workers each
    build ``make_vec_env(**env_args)`` once (a task's reset seed then takes over)."""
    if population.experience == "shared":
        return None
    if population.backend == "local":
        return LocalTrainer()
    from marlpipe.training.ray_trainer import RayTrainer

    return RayTrainer.for_env(env_args, population)


__all__ = [
    "BUFFER_STREAM",
    "NOISE_STREAM",
    "LocalTrainer",
    "MemberResult",
    "MemberSeeds",
    "MemberTask",
    "MergedGeneration",
    "Trainer",
    "make_trainer",
    "member_task",
    "train_member",
    "train_merged",
]
