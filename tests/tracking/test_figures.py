"""The evolve stage's figures: lineage rows, the family tree and member fitness PNGs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from marlpipe.tracking.figures import draw_lineage, draw_member_fitness
from marlpipe.tracking.summary import lineage_row, mutation_label
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


def synthetic_rows(generations: int = 4, size: int = 3) -> list[dict]:
    """Rows of a made-up run: slot 0 is the elite's clone, the others clone member 1."""
    rows, births = [], [None] * size
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
        rows.append(lineage_row(GenerationRecord(
            generation=gen, env_steps=100 * (gen + 1), members=members, elite_index=first,
            elite_fitness=float(gen), wall_time=0.0, children=children,
        )))  # fmt: skip
    return rows


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
        ]
    for data in written["a"]:
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        assert b"matplotlib" not in data  # no version stamp to change the bytes
    assert written["a"] == written["b"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "fitness_members.png", "lineage.png",
    ]  # fmt: skip  (no temporary files left)
    with pytest.raises(ValueError, match="no generations"):
        draw_lineage([], tmp_path / "empty.png")


def test_importing_the_package_does_not_import_matplotlib():
    code = ("import sys, marlpipe, marlpipe.tracking.figures, marlpipe.training; "
            "assert 'matplotlib' not in sys.modules")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True,
                   env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
