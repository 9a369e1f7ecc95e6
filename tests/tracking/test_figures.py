"""The evolve stage's figures: lineage rows, the fitness, family tree and member fitness PNGs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from marlpipe.tracking import figures
from marlpipe.tracking.figures import draw_fitness, draw_lineage, draw_member_fitness
from marlpipe.tracking.summary import fitness_row, lineage_row, mutation_label
from marlpipe.training import GenerationRecord, MemberRecord
from marlpipe.training.tracker import ChildRecord

REPO = Path(__file__).resolve().parents[2]
KINDS = [
    {"kind": "none", "where": None, "old": None, "new": None, "reason": "elite"},
    {"kind": "architecture", "method": "add_layer", "where": ["critic"], "old": {}, "new": {}},
    {"kind": "parameters", "where": "actors", "old": {}, "new": {}},
    {"kind": "rl_hp", "where": "lr_actor", "old": 1e-3, "new": 1.2e-3, "factor": 1.2},
    {"kind": "activation", "where": ["critic"], "old": "ReLU", "new": {"critic": "ELU"}},
]


def synthetic_records(generations: int = 4, size: int = 3) -> list[GenerationRecord]:
    """A made-up run: slot 0 is the elite's clone, the others clone member 1."""
    records, births = [], [None] * size
    for gen in range(generations):
        first = gen * size
        members = [
            MemberRecord(index=first + s, fitness=-10.0 * s + gen, selection_fitness=0.0,
                         parent=None if gen == 0 else first - size + (0 if s == 0 else 1),
                         mutation=births[s], hyperparameters={}, train_return=None,
                         learn_calls=1)
            for s in range(size)
        ]  # fmt: skip
        births = [KINDS[(gen + s) % len(KINDS)] if s else KINDS[0] for s in range(size)]
        children = [
            ChildRecord(index=first + size + s, parent=first + (0 if s == 0 else 1),
                        generation=gen + 1, elite=s == 0, mutation=births[s], hyperparameters={})
            for s in range(size)
        ]  # fmt: skip
        records.append(GenerationRecord(
            generation=gen, env_steps=100 * (gen + 1), members=members, elite_index=first,
            elite_fitness=float(gen), wall_time=0.0, children=children,
        ))  # fmt: skip
    return records


def synthetic_rows(generations: int = 4, size: int = 3) -> list[dict]:
    """The lineage rows of :func:`synthetic_records`."""
    return [lineage_row(record) for record in synthetic_records(generations, size)]


def synthetic_history(generations: int = 4, size: int = 3) -> list[dict]:
    """The fitness rows (``reports/fitness.json``) of :func:`synthetic_records`."""
    return [fitness_row(record) for record in synthetic_records(generations, size)]


def test_lineage_rows_hold_parent_mutation_and_elite():
    rows = synthetic_rows()
    second = rows[1]["members"]
    assert [m["parent"] for m in second] == [0, 1, 1]
    assert [m["mutation"] for m in second] == ["none", "architecture", "parameters"]
    assert [m["elite"] for m in second] == [True, False, False]
    assert [c["elite"] for c in rows[-1]["children"]] == [True, False, False]
    assert rows[0]["members"][0]["mutation"] is None  # generation 0 was not mutated
    assert [mutation_label(k) for k in KINDS] == [None, "+layer", None, "lr_actor x1.2", "-> ELU"]


def test_figures_are_pngs_and_the_same_bytes_every_time(tmp_path: Path):
    rows = synthetic_rows()
    written = {}
    for attempt in ("a", "b"):
        folder = tmp_path / attempt
        written[attempt] = [
            draw_lineage(rows, folder / "lineage.png").read_bytes(),
            draw_member_fitness(rows, folder / "fitness_members.png").read_bytes(),
            draw_fitness(synthetic_history(), folder / "fitness.png").read_bytes(),
        ]
    for data in written["a"]:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        assert b"matplotlib" not in data  # no version stamp to change the bytes
    assert written["a"] == written["b"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "fitness.png", "fitness_members.png", "lineage.png",
    ]  # fmt: skip  (no temporary files left)
    for draw in (draw_lineage, draw_member_fitness, draw_fitness):
        with pytest.raises(ValueError, match="no generations"):
            draw([], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


@pytest.mark.parametrize("generations", [1, 12, 21, 50, 300])
def test_the_family_tree_fits_a_laptop_screen(tmp_path: Path, generations: int):
    """Up to 12 generations in one row at full size; more wrap into rows, and past 4 rows the
    columns narrow: never wider than 1400 px."""
    path = draw_lineage(synthetic_rows(generations, 4), tmp_path / "lineage.png")
    width, height = png_size(path)
    assert width <= figures.MAX_WIDTH_PX == 1400
    assert height <= 2000
    _, column_in = figures.lineage_layout(generations + 1)  # + the "next" column
    if generations <= 47:
        assert column_in == pytest.approx(0.95)  # full-size columns: wrapped, not squeezed
    assert width >= (1200 if generations >= 21 else 750)


def test_a_long_run_wraps_the_family_tree_into_rows_with_every_column():
    fig = figures.lineage_figure(synthetic_rows(50, 4))
    axes = fig.get_axes()[:-1]  # the last axes is the colour bar
    assert len(axes) == 4
    shown = []
    for ax in axes:
        low, high = ax.get_xlim()
        shown += [x for x in range(51) if low < x < high]
        assert ax.get_ylabel() == "member slot"
    assert shown == list(range(51))  # generations 0-49 and "next" (column 50), each once
    assert axes[-1].get_xlabel().startswith("generation")


def visible_ticks(ax) -> list[float]:
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    return [t for t in ax.get_xticks() if low <= t <= high]


@pytest.mark.parametrize("generations", [2, 3, 7, 50])
def test_generation_axes_have_whole_ticks_and_named_axes(generations: int):
    rows, history = synthetic_rows(generations), synthetic_history(generations)
    drawn = {
        "fitness": figures.fitness_figure(history),
        "members": figures.member_fitness_figure(rows),
        "lineage": figures.lineage_figure(rows),
    }
    for name, fig in drawn.items():
        axes = fig.get_axes()[:-1] if name == "lineage" else fig.get_axes()
        for ax in axes:
            ticks = visible_ticks(ax)
            assert len(ticks) >= min(2, generations), (name, ticks)
            assert all(float(t).is_integer() for t in ticks), (name, ticks)
        assert axes[-1].get_xlabel().startswith("generation"), name
        assert "fitness" in axes[0].get_ylabel() or name == "lineage", name
    # Small runs: a tick on every generation, and the lineage's last column is "next".
    if generations <= 7:
        ax = drawn["fitness"].get_axes()[0]
        assert visible_ticks(ax) == list(range(generations))
        lineage = drawn["lineage"].get_axes()[0]
        labels = [t.get_text() for t in lineage.get_xticklabels() if t.get_text()]
        assert labels == [*map(str, range(generations)), "next"]
    legend = [t.get_text() for t in drawn["fitness"].legends[0].get_texts()]
    assert "elite (selection fitness)" in legend and "mean of the members" in legend


def test_dvc_plots_show_every_figure_offline_with_named_axes():
    """Each PNG the evolve stage draws is one of its outs and an image plot of dvc.yaml; the
    Vega plot of the fitness data has axis titles."""
    import yaml

    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in dvc["stages"]["evolve"]["outs"]]
    plots = {next(iter(p)) if isinstance(p, dict) else p: p for p in dvc["plots"]}
    for png in ("reports/fitness.png", "reports/lineage.png", "reports/fitness_members.png"):
        assert png in outs and png in plots, png
    fitness = plots["fitness"]["fitness"]
    assert fitness["x_label"] == "generation" and fitness["y_label"].startswith("fitness")
    assert fitness["title"]


def test_importing_the_package_does_not_import_matplotlib():
    code = ("import sys, marlpipe, marlpipe.tracking.figures, marlpipe.training; "
            "assert 'matplotlib' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip


def mf_pbt_records() -> list[GenerationRecord]:
    """Two generations of 4 members in 2 subpopulations: slot 1 kept, slot 0 cloned from it,
    slot 2 migrated in from slot 1 (weights only), slot 3 waiting."""
    plan = [("cloned", 1, 0), ("kept", 1, 0), ("migrated_weights", 1, 1), ("waiting", 3, 1)]
    records, members = [], [(i, None) for i in range(4)]
    for gen in range(2):
        next_index = 4 * (gen + 1)
        children = []
        for slot, (action, source, group) in enumerate(plan):
            index = members[source][0] if action in ("kept", "waiting") else next_index + slot
            parent = members[source][1] if action in ("kept", "waiting") else members[source][0]
            children.append(ChildRecord(
                index=index, parent=parent, generation=gen + 1, elite=slot == 1,
                mutation=KINDS[2] if action == "cloned" else None, hyperparameters={},
                selection={"subpopulation": group, "bracket": None, "action": action,
                           "source": members[source][0], "mutate": action == "cloned"},
            ))  # fmt: skip
        records.append(GenerationRecord(
            generation=gen, env_steps=100 * (gen + 1), elite_index=members[1][0],
            elite_fitness=1.0, wall_time=0.1, children=children,
            members=[MemberRecord(index=i, fitness=float(s), selection_fitness=float(s),
                                  parent=p, mutation=None, hyperparameters={},
                                  train_return=None, learn_calls=1)
                     for s, (i, p) in enumerate(members)],
        ))  # fmt: skip
        members = [(c.index, c.parent) for c in children]
    return records


def test_mf_pbt_slots_reach_the_lineage_rows_mlflow_and_the_family_tree():
    from matplotlib.collections import LineCollection

    from marlpipe.tracking.summary import mlflow_metrics

    records = mf_pbt_records()
    rows = [lineage_row(r) for r in records]
    assert [c["selection"]["action"] for c in rows[0]["children"]] == [
        "cloned", "kept", "migrated_weights", "waiting"]
    assert "selection" not in lineage_row(synthetic_records()[0])["children"][0]  # tournament
    logged = mlflow_metrics(records[0])
    assert '"action": "migrated_weights"' in logged.params["child_2.selection"]
    assert {k: v for k, v in logged.parent.items() if k.startswith("selection.")} == {
        "selection.cloned": 1, "selection.kept": 1, "selection.migrated_weights": 1,
        "selection.waiting": 1}
    assert not any(k.startswith("selection") for k in mlflow_metrics(synthetic_records()[0]).params)
    fig = figures.lineage_figure(rows)
    ax = fig.axes[0]
    dashed = [c for c in ax.collections if isinstance(c, LineCollection)
              and c.get_linestyle()[0][1] is not None]  # fmt: skip
    # the migrant edges (slot 1 -> slot 2 after each generation) are dashed
    assert [[tuple(p) for p in seg] for seg in dashed[0].get_segments()] == [
        [(0.0, 1.0), (1.0, 2.0)], [(1.0, 1.0), (2.0, 2.0)]]
    assert [line.get_ydata()[0] for line in ax.lines] == [1.5]  # between the subpopulations
    assert "migrated from another subpopulation" in [t.get_text() for t in fig.legends[0].texts]
