"""Fitness evaluation: greedy episodes of every member on a separate evaluation env."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def evaluate_population(
    population: Sequence[Any],
    eval_env: Any,
    *,
    eval_loop: int = 1,
    max_steps: int = 25,
    seed: int | None = None,
) -> list[float]:
    """Score each member with ``agent.test`` over ``eval_loop`` episodes; return the scores.

    ``eval_env`` may be a PettingZoo ParallelEnv or a vec env. With ``seed`` the env is reset
    with it before every member, so all members of a generation face the same starting states
    (common random numbers make the tournament fairer) and the scores do not depend on what the
    env did before. Each score is also appended to the member's ``fitness`` by ``test``.
    """
    scores = []
    for agent in population:
        if seed is not None:
            eval_env.reset(seed=seed)
        scores.append(float(agent.test(eval_env, max_steps=max_steps, loop=eval_loop)))
    return scores


def greedy_score(
    agent: Any, eval_env: Any, *, episodes: int = 10, max_steps: int = 25, seed: int | None = None
) -> float:
    """Mean greedy return of ``agent`` over ``episodes`` episodes, leaving its fitness untouched."""
    history = list(agent.fitness)
    if seed is not None:
        eval_env.reset(seed=seed)
    try:
        return float(agent.test(eval_env, max_steps=max_steps, loop=episodes))
    finally:
        agent.fitness = history


__all__ = ["evaluate_population", "greedy_score"]
