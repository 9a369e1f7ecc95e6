"""Fitness: every member scored on the same greedy episodes, each score added to its history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marlpipe.algos.episodes import run_episodes


def record_fitness(agent: Any, score: float) -> None:
    """Append ``score`` to the member's fitness history (what selection averages over)."""
    agent.fitness.append(float(score))


def evaluate_population(
    population: Sequence[Any],
    eval_env: Any,
    *,
    episodes: int = 1,
    max_steps: int = 25,
    seed: int | None = None,
) -> list[float]:
    """Score each member over ``episodes`` greedy episodes, record and return the scores.

    A score is the mean over the episodes of the return summed over agents. ``eval_env`` may be
    a PettingZoo ParallelEnv or a vec env. With ``seed`` the env is seeded with it before every
    member, so all members of a generation face the same starting states (common random
    numbers make the tournament fairer) and the scores do not depend on what the env did before.
    """
    scores = []
    for agent in population:
        returns = run_episodes(agent, eval_env, episodes, max_steps, seed)
        score = float(returns.sum(1).mean())
        record_fitness(agent, score)
        scores.append(score)
    return scores


__all__ = ["evaluate_population", "record_fitness"]
