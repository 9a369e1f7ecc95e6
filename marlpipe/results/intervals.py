"""The field's interval estimates for the results table, computed by ``rliable`` (Agarwal et al.,
"Deep RL at the edge of the statistical precipice", NeurIPS 2021): the interquartile mean (IQM)
of a row's seeds with a stratified-bootstrap 95 % interval, and one aggregate across the
cooperative tasks of scores normalised per task between the random policy (0) and the task's
best row (1).

The bootstrap is seeded (:data:`SEED`), so the same cells always give the same ``RESULTS.md``.
With 3 seeds the IQM trims nothing (a quarter of 3 runs rounds down to none) and equals the
mean; from 4 seeds on it drops the best and worst quarter.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

REPS = 10_000
"""Bootstrap resamples per estimate (rliable's default is 50,000; the intervals' ends move by
well under 0.1 on this table's scale between the two, at a fifth of the time)."""

SEED = 0
"""Seed of the bootstrap's random state."""


def _iqm(scores: np.ndarray) -> np.ndarray:
    from rliable import metrics

    return np.array([metrics.aggregate_iqm(scores)])


def iqm_interval(runs_by_tasks: np.ndarray) -> tuple[float, float, float]:
    """IQM of a ``(runs, tasks)`` matrix of scores and its stratified-bootstrap 95 % interval
    (runs resampled within each task): ``(iqm, low, high)``."""
    from rliable import library

    scores = np.asarray(runs_by_tasks, dtype=np.float64)
    if scores.ndim == 1:
        scores = scores[:, None]
    with warnings.catch_warnings():  # arch's notice that rliable's random_state= is old
        warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
        points, intervals = library.get_interval_estimates(
            {"row": scores}, _iqm, reps=REPS, random_state=np.random.RandomState(SEED)
        )
    return float(points["row"][0]), float(intervals["row"][0, 0]), float(intervals["row"][1, 0])


def normalised(score: float, random: float, best: float) -> float:
    """``score`` on the scale where the random policy is 0 and the task's best row is 1."""
    if best == random:
        raise ValueError(f"normalised: the best row ({best}) equals the random policy")
    return (score - random) / (best - random)


def cooperative_aggregates(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per algorithm: the IQM and its interval over the cooperative tasks' normalised scores
    (seeds x tasks, resampled within each task). A row is cooperative when its cells score every
    agent (no ``evolution.fitness_agents``) and it has a random baseline. The best row of a task
    is the one with the highest mean, among every algorithm's rows of that task. Only the seeds
    every task of the algorithm has are used (rliable needs a full matrix)."""
    cooperative = [r for r in rows if r.get("cooperative") and r.get("random") is not None]
    best: dict[str, float] = {}
    for row in cooperative:
        best[row["task"]] = max(best.get(row["task"], -np.inf), row["mean"])
    out: dict[str, dict[str, Any]] = {}
    for algorithm in dict.fromkeys(r["algorithm"] for r in cooperative):
        mine = [r for r in cooperative if r["algorithm"] == algorithm]
        seeds = sorted(set.intersection(*(set(r["seeds"]) for r in mine)))
        columns, tasks = [], []
        for row in mine:
            if best[row["task"]] == row["random"]:
                continue
            by_seed = dict(zip(row["seeds"], row["scores"], strict=True))
            top = best[row["task"]]
            columns.append([normalised(by_seed[s], row["random"], top) for s in seeds])
            tasks.append(row["task"])
        if not columns or not seeds:
            continue
        iqm, low, high = iqm_interval(np.array(columns).T)
        out[algorithm] = {"iqm": iqm, "low": low, "high": high, "tasks": tasks, "seeds": seeds}
    return out


__all__ = ["REPS", "SEED", "cooperative_aggregates", "iqm_interval", "normalised"]
