"""The results table's interval estimates (``marlpipe.results.intervals``, rliable underneath):
IQM with a stratified-bootstrap interval per row, and the normalised cooperative aggregate."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from marlpipe.results.aggregate import markdown
from marlpipe.results.intervals import cooperative_aggregates, iqm_interval, normalised


def test_the_iqm_drops_the_best_and_worst_quarter_and_its_interval_is_seeded():
    scores = [-14.0, -15.0, -16.0, -100.0, 0.0]  # one collapse, one lucky seed
    iqm, low, high = iqm_interval(scores)
    assert iqm == pytest.approx(-15.0)  # the middle three of five
    assert iqm == pytest.approx(stats.trim_mean(scores, 0.25))
    assert min(scores) <= low < iqm < high <= max(scores)
    assert iqm_interval(scores) == (iqm, low, high)  # the same cells, the same RESULTS.md
    assert iqm_interval([-14.2, -14.8, -14.0])[0] == pytest.approx(np.mean([-14.2, -14.8, -14.0]))


def test_normalised_puts_random_at_zero_and_the_best_row_at_one():
    assert normalised(-73.0, -73.0, -14.0) == 0.0
    assert normalised(-14.0, -73.0, -14.0) == 1.0
    assert normalised(-43.5, -73.0, -14.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="best row"):
        normalised(1.0, 2.0, 2.0)


def row(task, algorithm, scores, random, *, cooperative=True, seeds=None):
    seeds = list(range(len(scores))) if seeds is None else seeds
    return {
        "task": task, "algorithm": algorithm, "seeds": seeds, "scores": scores,
        "mean": float(np.mean(scores)), "random": random, "cooperative": cooperative,
    }  # fmt: skip


def test_the_cooperative_aggregate_normalises_per_task_and_leaves_scored_teams_out():
    rows = [
        row("a", "MATD3", [-10.0, -20.0, -30.0], -100.0),  # best row of task a: mean -20
        row("a", "MADDPG", [-40.0, -60.0, -50.0], -100.0),
        row("b", "MATD3", [-50.0, -60.0, -70.0, -99.0], -80.0, seeds=[0, 1, 2, 3]),
        row("versus", "MATD3", [5.0, 6.0, 7.0], 20.0, cooperative=False),  # worse than random
    ]
    out = cooperative_aggregates(rows)
    matd3 = out["MATD3"]
    assert matd3["tasks"] == ["a", "b"] and matd3["seeds"] == [0, 1, 2]  # seeds every task has
    a = [normalised(s, -100.0, -20.0) for s in (-10.0, -20.0, -30.0)]
    b = [normalised(s, -80.0, -69.75) for s in (-50.0, -60.0, -70.0)]  # best: its 4-seed mean
    assert matd3["iqm"] == pytest.approx(stats.trim_mean(a + b, 0.25))
    assert matd3["low"] <= matd3["iqm"] <= matd3["high"]
    maddpg = out["MADDPG"]  # against MATD3's best row of task a
    assert maddpg["iqm"] == pytest.approx(normalised(-50.0, -100.0, -20.0))
    assert maddpg["tasks"] == ["a"]
    assert "versus" not in str(out)
    text = markdown([{**r, **_table_fields(r)} for r in rows])
    assert "- MATD3: " in text and "over 2 task(s) x 3 seeds (a, b)" in text


def _table_fields(r):
    """What markdown needs of a row beyond what the aggregate reads."""
    iqm, low, high = iqm_interval(r["scores"])
    return {
        "env": r["task"], "ci95": None, "iqm": iqm, "iqm_ci": (low, high), "zero": None,
        "target": None, "target_text": "", "teams": {}, "random_teams": {}, "versus": {},
        "published": None, "env_steps": 1e6, "wall_s": 60.0, "agents": 2, "team_play": False,
    }  # fmt: skip
