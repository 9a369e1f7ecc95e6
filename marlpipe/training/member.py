"""One member's turn of a merged-experience generation, as a pure function of plain data.

:func:`train_member` trains one member from a buffer snapshot; its env reset seed, its
exploration and target noise and its buffer sampling come from :class:`MemberSeeds`, streams of
``(run seed, generation, member position)`` only. Every merged trainer runs it: ``LocalTrainer``
in this process (:mod:`marlpipe.training.trainers`), ``ProcessTrainer`` in a pool of processes
on this machine (:mod:`marlpipe.training.process_trainer`) and ``RayTrainer`` on Ray actors
(:mod:`marlpipe.training.ray_trainer`), the last two through a :class:`MemberRunner` per
worker; all import it from here, below them. A task that
carries an :class:`Evaluation` also plays the member's fitness episodes right after its turn,
where it trained (the Ray workers do; the local trainer leaves that to the loop, as before).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marlpipe.evolution.fitness import evaluate_population
from marlpipe.training.rollout import EpsilonSchedule, RolloutStats, collect
from marlpipe.training.state import LoopState

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.env_factory import EnvFactory
    from marlpipe.envs.protocols import VecEnv

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
class Evaluation:
    """The fitness episodes of a generation: the same for every member (see
    :func:`~marlpipe.evolution.fitness.evaluate_population`)."""

    episodes: int
    max_steps: int
    seed: int | None
    """The generation's evaluation seed (the loop's ``EVAL_STREAM``): common to all members."""
    agents: list[str] | None = None
    """The scored agents (``None``: all)."""


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
    evaluation: Evaluation | None = None
    """Fitness episodes to play right after the turn (``None``: the loop evaluates)."""


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
    """Who trained it (a Ray actor's ``node-ip:pid``; ``None`` in this process)."""
    fitness: float | None = None
    """Its score on the task's :class:`Evaluation`, already in its fitness history (``None``:
    not evaluated here)."""
    node: str | None = None
    """The Ray node id the turn ran on (``None`` in this process)."""
    reruns: int = 0
    """How often the turn was rerun after the worker running it died."""


def member_task(
    agent: Agent,
    position: int,
    state: LoopState,
    env_steps: int,
    epsilon: EpsilonSchedule,
    agents: Sequence[str] | None = None,
    evaluation: Evaluation | None = None,
) -> MemberTask:
    """The task of ``agent`` at ``position`` in ``state``'s current generation (``agents``: the
    scored agents of its episode returns, ``None`` for all; ``evaluation``: fitness episodes to
    play after the turn)."""
    return MemberTask(
        position=position, metadata=agent.metadata(), state=agent.state_dicts(),
        seeds=MemberSeeds.of(state, position), env_steps=int(env_steps), epsilon=epsilon,
        device=str(agent.device), agents=None if agents is None else list(agents),
        evaluation=evaluation,
    )  # fmt: skip


def agent_from(metadata: dict[str, Any], state: dict[str, dict[str, Any]], device: str) -> Any:
    """A new agent of the algorithm ``metadata`` names, loaded with ``state``."""
    from marlpipe.registry import algorithm_class

    return algorithm_class(metadata["algo"]).from_state(metadata, state, device)


class MemberRunner:
    """A worker's envs, built once, and the members' turns on them: ``factory``'s vec env, and an
    evaluation env per episode count, built when first needed. Both parallel trainers' workers
    (a Ray actor, a process of the pool) are one of these."""

    def __init__(self, factory: EnvFactory, torch_threads: int) -> None:
        import torch

        if torch_threads > 0:
            torch.set_num_threads(int(torch_threads))
        self.factory = factory
        self.env = factory.vec_env()
        self.eval_envs: dict[int, Any] = {}
        # torch imports its compiler stack (about 0.6 s) at the first optimizer built in a
        # process: here, while the driver is still setting up, not inside the first turn.
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])

    def train(self, task: MemberTask, snapshot: dict[str, Any]) -> MemberResult:
        """One member's turn and, if the task asks, its fitness episodes (see
        :func:`train_member`)."""
        eval_env = None
        if task.evaluation is not None:
            episodes = int(task.evaluation.episodes)
            if episodes not in self.eval_envs:
                self.eval_envs[episodes] = self.factory.eval_env(episodes)
            eval_env = self.eval_envs[episodes]
        return train_member(task, snapshot, self.env, eval_env)


def train_member(task: MemberTask, snapshot: dict[str, Any], env: VecEnv,
                 eval_env: Any = None) -> MemberResult:  # fmt: skip
    """Train one member for one generation from the buffer ``snapshot`` (see
    ``MultiAgentReplayBuffer.snapshot``) on the vec env ``env`` (reset with the task's seed);
    with a ``task.evaluation``, then score it on ``eval_env`` (seeded with the evaluation's seed,
    so the score is what the driver would get) and record the score in its fitness history.

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
    fitness, ev = None, task.evaluation
    if ev is not None:
        if eval_env is None:
            raise ValueError("train_member: a task with an evaluation needs an eval_env")
        (fitness,) = evaluate_population([agent], eval_env, episodes=ev.episodes,
                                         max_steps=ev.max_steps, seed=ev.seed, agents=ev.agents)
    return MemberResult(
        position=task.position, metadata=agent.metadata(), state=agent.state_dicts(),
        transitions=memory.newest(count), count=count, stats=stats,
        seconds=time.perf_counter() - started, fitness=fitness,
    )  # fmt: skip


__all__ = [
    "BUFFER_STREAM",
    "NOISE_STREAM",
    "Evaluation",
    "MemberResult",
    "MemberRunner",
    "MemberSeeds",
    "MemberTask",
    "agent_from",
    "member_task",
    "train_member",
]
