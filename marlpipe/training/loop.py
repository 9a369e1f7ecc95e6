"""The evolution loop: generations of train -> evaluate -> select -> mutate.

:func:`evolve` is the one loop. It repeats :func:`run_generation` for ``evolution.generations``
generations or until the elite reaches ``evolution.target``, and hands every finished
generation to its tracker (the record, then the checkpoint: the pipeline's trackers write the
reports, MLflow's runs and the resumable checkpoint from them) and to ``on_generation``. Who
trains the members is the trainer's business (:mod:`marlpipe.training.trainers`): a generation
has one body.
:func:`~marlpipe.training.agilerl_style.train_multi_agent` is the AgileRL-style convenience over
it. Everything a generation does is fixed by the population, the buffer, the selection and
mutation generators and a :class:`LoopState`, so saving those and resuming replays the run
exactly.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.config.params import EvolutionConfig
from marlpipe.evolution.fitness import evaluate_population, scored_agents
from marlpipe.evolution.population import recent_fitness
from marlpipe.training.member import Evaluation
from marlpipe.training.progress import GenerationProgress
from marlpipe.training.rollout import EpsilonSchedule
from marlpipe.training.state import LoopState
from marlpipe.training.tracker import (
    GenerationRecord,
    MemberRecord,
    NullTracker,
    Tracker,
    birth_mutation,
    child_record,
    hyperparameters_of,
    mutation_count,
)
from marlpipe.training.trainers import SharedTrainer, Trainer

if TYPE_CHECKING:
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.protocols import VecEnv

EVAL_STREAM = 2**31 - 1
"""Spawn-key slot of the evaluation seed, far from the member positions."""


@dataclass
class GenerationResult:
    """What :func:`run_generation` hands back."""

    population: list[Agent]
    """The next generation (selected and mutated)."""
    elite: Any
    """An independent clone of the member selection kept as the best, as it was evaluated (see
    ``TournamentSelection.select``); training the next population never changes it."""
    elite_fitness: float
    """Its selection fitness."""
    fitnesses: list[float]
    """This generation's evaluation score per member, in the order of the trained population."""
    record: GenerationRecord
    """What the tracker received."""


OnGeneration = Callable[[GenerationResult, LoopState], None]
"""Called after every generation with its result and the loop state already advanced past it
(what a checkpoint must hold to resume with the next generation)."""


def run_generation(
    env: VecEnv,
    population: Sequence[Agent],
    memory: MultiAgentReplayBuffer,
    state: LoopState,
    evolution: EvolutionConfig,
    *,
    eval_env: Any,
    tournament: Any = None,
    mutation: Any = None,
    tracker: Tracker | None = None,
    trainer: Trainer | None = None,
) -> GenerationResult:
    """Train each member for ``evolution.steps_per_generation`` env steps, evaluate, select, mutate.

    The ``trainer`` trains the members (see :mod:`marlpipe.training.trainers`): by default a
    :class:`~marlpipe.training.trainers.SharedTrainer`, the members taking turns at ``env`` in
    population order, all filling the shared ``memory``; with merged experience each trains from
    ``memory`` as it stood at the generation's start plus its own transitions, and their new
    transitions are appended in member order afterwards (the trainer's ``extra`` figures join
    the record's). Each member is then scored on ``eval_env`` over ``evolution.eval_episodes``
    episodes of at most ``evolution.eval_max_steps`` steps, unless its trainer played them where
    it trained (Ray), with the same seed and numbers. Without ``tournament`` the population
    carries on unselected (the elite is then a clone of its fittest member); without
    ``mutation`` nothing is mutated. The tracker's record holds the members as they trained
    (``members``) and the next population as selection and mutation made it (``children``).
    ``state`` is advanced in place. Discrete exploration follows each member's own experience
    (:class:`~marlpipe.training.rollout.EpsilonSchedule`). ``extra["eval_s"]``: the driver's
    evaluation time.
    """
    started = time.perf_counter()
    population = list(population)
    hyperparameters = [hyperparameters_of(agent) for agent in population]
    epsilon = EpsilonSchedule.from_config(evolution)
    scored = None  # fitness and the training returns count the same agents (None: all)
    if evolution.fitness_agents is not None:
        scored = scored_agents(population[0].agent_ids, evolution.fitness_agents)
    evaluation = Evaluation(evolution.eval_episodes, evolution.eval_max_steps,
                            state.seed_for(EVAL_STREAM), scored)  # fmt: skip
    trained = (trainer if trainer is not None else SharedTrainer()).train_generation(
        env, population, memory, state, evolution.steps_per_generation, epsilon, scored, evaluation
    )
    population, rollouts = trained.population, trained.rollouts
    state.env_steps += sum(r.env_steps for r in rollouts)
    collect_time = time.perf_counter() - started
    fitnesses = trained.fitnesses
    if fitnesses is None:  # the driver plays every member's fitness episodes here
        fitnesses = evaluate_population(population, eval_env, episodes=evaluation.episodes,
            max_steps=evaluation.max_steps, seed=evaluation.seed, agents=scored)  # fmt: skip
    eval_s = time.perf_counter() - started - collect_time
    last = tournament.config.eval_last if tournament is not None else 1
    selection = [recent_fitness(agent, last) for agent in population]
    members = [
        MemberRecord(
            index=int(agent.index),
            fitness=fitnesses[i],
            selection_fitness=selection[i],
            parent=agent.lineage.get("parent"),
            mutation=birth_mutation(agent),
            hyperparameters=hyperparameters[i],
            train_return=rollouts[i].mean_return,
            learn_calls=rollouts[i].learn_calls,
            actor_loss=rollouts[i].actor_loss,
            critic_loss=rollouts[i].critic_loss,
            **trained.where(i),
        )
        for i, agent in enumerate(population)
    ]
    best = int(np.argmax(selection))
    elite_index, elite_fitness = int(population[best].index), selection[best]
    if tournament is not None:
        elite, population = tournament.select(population)
    else:
        elite = population[best].clone()  # the member itself trains on; the elite must not
    mutations_before = [mutation_count(agent) for agent in population]
    if mutation is not None:
        population = mutation.mutation(population)
    children = [
        child_record(agent, before)
        for agent, before in zip(population, mutations_before, strict=True)
    ]
    record = GenerationRecord(
        generation=state.generation,
        env_steps=state.env_steps,
        members=members,
        elite_index=elite_index,
        elite_fitness=elite_fitness,
        wall_time=time.perf_counter() - started,
        epsilon=float(np.mean([r.epsilon for r in rollouts])),
        extra={
            "collect_time": collect_time,
            "collect_env_steps_per_s": sum(r.env_steps for r in rollouts) / max(collect_time, 1e-9),
            "eval_s": eval_s,
            **trained.extra,
        },
        children=children,
    )
    (tracker or NullTracker()).log_generation(record)
    state.generation += 1
    return GenerationResult(population, elite, elite_fitness, fitnesses, record)


@dataclass
class EvolutionResult:
    """What :func:`evolve` hands back."""

    population: list[Agent]
    """The population as the last generation left it (selected and mutated)."""
    history: list[list[float]]
    """Every generation's evaluation scores, one list per generation run by this call."""
    last: GenerationResult | None
    """The last generation's result (its elite and record); ``None`` when none ran."""


def evolve(
    env: VecEnv,
    population: Sequence[Agent],
    memory: MultiAgentReplayBuffer,
    evolution: EvolutionConfig,
    *,
    tournament: Any = None,
    mutation: Any = None,
    state: LoopState | None = None,
    seed: int | None = None,
    eval_env: Any = None,
    tracker: Tracker | None = None,
    on_generation: OnGeneration | None = None,
    progress: bool | None = None,
    trainer: Trainer | None = None,
) -> EvolutionResult:
    """Evolve ``population`` on the vec env ``env`` for ``evolution.generations`` generations.

    Each generation is one :func:`run_generation`; the loop stops early once the elite's
    selection fitness reaches ``evolution.target``. Pass ``state`` (e.g. restored from a
    checkpoint) to resume: generations already in it count. A fresh state is seeded from
    ``seed``; without one, from the members' own random streams (read, not drawn from), so a
    seeded population makes a repeatable run. ``eval_env`` defaults to the evaluation env of
    ``env``'s factory (:meth:`~marlpipe.envs.env_factory.EnvFactory.eval_env`).
    After every generation the tracker logs its record, then its checkpoint
    (``tracker.log_checkpoint(result, state)``); ``on_generation(result, state)`` runs last.
    ``progress`` (True or None: shown; False: nothing): on a terminal a bar that advances
    once per generation; otherwise (a log file, a pipe) one line per generation on stderr
    with the generation, the elite's fitness, the env steps so far and the generation's
    seconds.
    ``trainer``: who trains the members (see :func:`run_generation`); ``None``: the shared
    buffer (:class:`~marlpipe.training.trainers.SharedTrainer`).
    """
    _check_batches_fit(population, memory)
    scored_agents(env.spec.agent_ids, evolution.fitness_agents)  # a bad name fails before training
    if mutation is not None and getattr(mutation, "memory_size", 0) is None:
        # batch-size mutations never go past what the buffer can hold (Mutations' docstring)
        mutation.memory_size = int(memory.memory_size)
    if state is None:
        state = LoopState.start(population_seed(population) if seed is None else seed)
    tracker = tracker if tracker is not None else NullTracker()
    own_eval_env = eval_env is None
    if own_eval_env:
        from marlpipe.envs.env_factory import EnvFactory  # only needed when the caller gave none

        eval_env = EnvFactory.of(env).eval_env(evolution.eval_episodes)
    population, history, last = list(population), [], None
    total = evolution.generations
    shown = GenerationProgress(progress, total, state.generation)
    try:
        while state.generation < total:
            last = run_generation(
                env, population, memory, state, evolution, eval_env=eval_env,
                tournament=tournament, mutation=mutation, tracker=tracker, trainer=trainer,
            )  # fmt: skip
            population = last.population
            history.append(last.fitnesses)
            shown.generation_done(state.generation, last.elite_fitness, state.env_steps)
            tracker.log_checkpoint(last, state)
            if on_generation is not None:
                on_generation(last, state)
            if evolution.target is not None and last.elite_fitness >= evolution.target:
                break
    finally:
        shown.close()
        if own_eval_env:
            eval_env.close()
    return EvolutionResult(population, history, last)


def _check_batches_fit(population: Sequence[Agent], memory: MultiAgentReplayBuffer) -> None:
    """A member whose batch is larger than the buffer can ever hold would never learn."""
    capacity = getattr(memory, "memory_size", None)
    for pos, agent in enumerate(population):
        batch = getattr(agent, "batch_size", None)
        if capacity is not None and batch is not None and batch > capacity:
            raise ValueError(
                f"population[{pos}].batch_size: expected <= the replay buffer's memory_size "
                f"({capacity}), got {batch} (the buffer never holds a larger batch)"
            )


def population_seed(population: Sequence[Agent]) -> int | None:
    """A seed read from the members' numpy generator states (``None`` if they have none)."""
    try:
        states = [agent.np_rng.bit_generator.state for agent in population]
    except AttributeError:
        return None
    digest = hashlib.sha256(json.dumps(states, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "little")


__all__ = [
    "EVAL_STREAM",
    "EvolutionResult",
    "GenerationResult",
    "OnGeneration",
    "evolve",
    "population_seed",
    "run_generation",
]
