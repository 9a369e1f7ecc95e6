"""The evolutionary training loop: generations of train -> evaluate -> select -> mutate.

:func:`run_generation` does one generation and is what a pipeline calls when it checkpoints
between generations; :func:`train_multi_agent` repeats it until the env-step budget is spent or
the elite reaches a target. Everything a generation does is fixed by the population, the buffer,
the selection and mutation generators and a :class:`LoopState`, so saving those four and
resuming replays the run exactly.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from marlpipe.evolution.population import recent_fitness
from marlpipe.training.evaluate import evaluate_population
from marlpipe.training.rollout import RolloutStats, collect
from marlpipe.training.state import LoopState
from marlpipe.training.tracker import (
    ChildRecord,
    GenerationRecord,
    MemberRecord,
    NullTracker,
    Tracker,
)

OnGeneration = Callable[[int, list[Any], Any], None]
_EVAL_STREAM = 2**31 - 1  # spawn-key slot of the evaluation seed, far from member positions


@dataclass
class GenerationResult:
    """What :func:`run_generation` hands back."""

    population: list[Any]
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


def _hyperparameters(agent: Any) -> dict[str, Any]:
    hps = agent.hyperparameters() if hasattr(agent, "hyperparameters") else {}
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in hps.items()}


def _last_mutation(agent: Any) -> dict[str, Any] | None:
    mutations = agent.lineage.get("mutations") or []
    born = agent.lineage.get("generation", 0)
    return mutations[-1] if mutations and mutations[-1].get("generation") == born else None


def _mutation_count(agent: Any) -> int:
    return len(agent.lineage.get("mutations") or [])


def _child_record(agent: Any, mutations_before: int) -> ChildRecord:
    """The record of one next-generation member; its mutation is the entry added after selection."""
    lineage = agent.lineage
    mutations = lineage.get("mutations") or []
    return ChildRecord(
        index=int(agent.index),
        parent=lineage.get("parent"),
        generation=int(lineage.get("generation", 0)),
        elite=bool(lineage.get("elite", False)),
        mutation=copy.deepcopy(mutations[-1]) if len(mutations) > mutations_before else None,
        hyperparameters=_hyperparameters(agent),
    )


def run_generation(
    env: Any,
    population: Sequence[Any],
    memory: Any,
    state: LoopState,
    *,
    evo_steps: int,
    eval_env: Any,
    eval_loop: int = 1,
    eval_steps: int = 25,
    tournament: Any = None,
    mutation: Any = None,
    eps_end: float = 0.1,
    eps_decay: float = 0.995,
    tracker: Tracker | None = None,
    on_generation: OnGeneration | None = None,
) -> GenerationResult:
    """Train each member for ``evo_steps`` env steps, evaluate all, then select and mutate.

    Members take turns at ``env`` in population order (see :func:`~marlpipe.training.rollout.
    collect`), all filling the shared ``memory``. Each is then scored on ``eval_env`` over
    ``eval_loop`` episodes of at most ``eval_steps`` steps. Without ``tournament`` the population
    carries on unselected (the elite is then a clone of its fittest member); without
    ``mutation`` nothing is mutated. The tracker's record holds the members as they trained
    (``members``) and the next population as selection and mutation made it (``children``).
    ``state`` is advanced in place; epsilon decays once per generation.
    """
    started = time.perf_counter()
    population = list(population)
    hyperparameters = [_hyperparameters(agent) for agent in population]
    rollouts: list[RolloutStats] = []
    collect_started = time.perf_counter()
    for position, agent in enumerate(population):
        stats = collect(
            agent, env, memory, evo_steps, epsilon=state.epsilon, seed=state.seed_for(position)
        )
        state.env_steps += stats.env_steps
        rollouts.append(stats)
    collect_time = time.perf_counter() - collect_started
    fitnesses = evaluate_population(
        population, eval_env, eval_loop=eval_loop, max_steps=eval_steps,
        seed=state.seed_for(_EVAL_STREAM),
    )  # fmt: skip
    last = tournament.eval_loop if tournament is not None else 1
    selection = [recent_fitness(agent, last) for agent in population]
    members = [
        MemberRecord(
            index=int(agent.index),
            fitness=fitnesses[i],
            selection_fitness=selection[i],
            parent=agent.lineage.get("parent"),
            mutation=_last_mutation(agent),
            hyperparameters=hyperparameters[i],
            train_return=rollouts[i].mean_return,
            learn_calls=rollouts[i].learn_calls,
        )
        for i, agent in enumerate(population)
    ]
    best = int(np.argmax(selection))
    elite_index, elite_fitness = int(population[best].index), selection[best]
    if tournament is not None:
        elite, population = tournament.select(population)
    else:
        elite = population[best].clone()  # the member itself trains on; the elite must not
    mutations_before = [_mutation_count(agent) for agent in population]
    if mutation is not None:
        population = mutation.mutation(population)
    children = [
        _child_record(agent, before)
        for agent, before in zip(population, mutations_before, strict=True)
    ]
    wall_time = time.perf_counter() - started
    record = GenerationRecord(
        generation=state.generation,
        env_steps=state.env_steps,
        members=members,
        elite_index=elite_index,
        elite_fitness=elite_fitness,
        wall_time=wall_time,
        epsilon=state.epsilon,
        extra={
            "collect_time": collect_time,
            "collect_env_steps_per_s": sum(r.env_steps for r in rollouts) / max(collect_time, 1e-9),
        },
        children=children,
    )
    (tracker or NullTracker()).log_generation(record)
    if on_generation is not None:
        on_generation(state.generation, population, elite)
    state.generation += 1
    state.epsilon = max(eps_end, state.epsilon * eps_decay)
    return GenerationResult(population, elite, elite_fitness, fitnesses, record)


def train_multi_agent(
    env: Any,
    pop: Sequence[Any],
    memory: Any,
    *,
    max_steps: int,
    evo_steps: int,
    eval_loop: int = 1,
    eval_env: Any = None,
    eval_steps: int = 25,
    target: float | None = None,
    tournament: Any = None,
    mutation: Any = None,
    eps_start: float = 1.0,
    eps_end: float = 0.1,
    eps_decay: float = 0.995,
    tracker: Tracker | None = None,
    progress: bool = True,
    on_generation: OnGeneration | None = None,
    seed: int | None = None,
    state: LoopState | None = None,
) -> tuple[list[Any], list[list[float]]]:
    """Evolve ``pop`` on the vec env ``env`` until ``max_steps`` env steps in all or ``target``.

    Budgets are counted in env transitions (vector steps x env copies), with two scopes:

    * ``evo_steps`` is **per member, per generation**: each member collects at least
      ``evo_steps`` transitions (rounded up to whole vector steps) before evaluation.
    * ``max_steps`` is the **total over all members and generations** (``LoopState.env_steps``):
      a population of P members spends about ``P * evo_steps`` per generation, so the run has
      about ``max_steps / (P * evo_steps)`` generations. It is checked between generations, so
      the last one is finished and the total may pass ``max_steps`` by up to one generation.

    Unlike ``max_steps`` in AgileRL's ``train_multi_agent`` (a per-episode step cap, with the
    budget given as episodes per member), nothing here caps training episodes: they end when
    the env terminates or truncates them; ``eval_steps`` caps the evaluation episodes.

    Each generation is one :func:`run_generation`: every member collects its ``evo_steps`` into
    the shared ``memory`` (learning once per ``learn_step`` of its transitions, counted across
    generations, once the buffer holds a batch), is scored on ``eval_env`` (built from
    ``env.spec`` as a single ParallelEnv when not given), then ``tournament`` and ``mutation``
    make the next generation. Stops early once the elite's selection fitness reaches
    ``target``. Pass ``state`` (e.g. restored from a checkpoint) to resume; ``seed`` is used
    only for a fresh state. Image channel order is handled by the agents from the env's spec.
    Returns ``(population, fitness_history)`` with one list of evaluation scores per generation.
    """
    state = state or LoopState.start(seed, eps_start)
    own_eval_env = eval_env is None
    if own_eval_env:
        from marlpipe.envs.factory import make_env  # only needed when the caller gave none

        eval_env = make_env(env.spec.env_name, **env.spec.env_kwargs)
    population, history = list(pop), []
    bar = tqdm(
        total=int(max_steps), initial=min(state.env_steps, int(max_steps)), unit="step",
        desc="evolving", disable=None if progress else True, dynamic_ncols=True,
    )  # fmt: skip
    try:
        while state.env_steps < max_steps:
            before = state.env_steps
            result = run_generation(
                env, population, memory, state,
                evo_steps=evo_steps, eval_env=eval_env, eval_loop=eval_loop,
                eval_steps=eval_steps, tournament=tournament, mutation=mutation,
                eps_end=eps_end, eps_decay=eps_decay, tracker=tracker,
                on_generation=on_generation,
            )  # fmt: skip
            population = result.population
            history.append(result.fitnesses)
            bar.update(min(state.env_steps, int(max_steps)) - min(before, int(max_steps)))
            bar.set_postfix(gen=state.generation, elite=f"{result.elite_fitness:.2f}")
            if target is not None and result.elite_fitness >= target:
                break
    finally:
        bar.close()
        if own_eval_env:
            eval_env.close()
    return population, history


__all__ = ["GenerationResult", "LoopState", "OnGeneration", "run_generation", "train_multi_agent"]
