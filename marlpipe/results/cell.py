"""One cell of the results table: a preset trained end to end with one algorithm and seed.

The four stages run as ``dvc repro`` would run them, in the cell's own folder (``models/``,
``reports/``), with tracking off (the cells are many; each cell's numbers land in its summary).
The evolve stage's resumable checkpoint is removed once the cell is done: the elite, the last
population and the reports stay in the cell's folder, which is no DVC output (every clone would
lack it): the summary (and, for a competitive preset, the versus scores) is what the table is
built from, small and in git.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from marlpipe.config import Params, load_params, with_overrides
from marlpipe.io import read_json, write_json
from marlpipe.results.machine import cpu_kind


def cell_params(preset: str | Path, algorithm: str, seed: int) -> Params:
    """The preset with ``algorithm`` and ``seed`` set and tracking off."""
    overrides = {"algorithm": algorithm, "seed": seed, "tracking": {"enabled": False}}
    return with_overrides(load_params(preset), overrides, str(preset))


def run_cell(
    preset: str | Path,
    algorithm: str,
    seed: int,
    out: str | Path,
    summary: str | Path,
    *,
    versus: str | Path | None = None,
) -> dict[str, Any]:
    """Train and evaluate one cell in ``out``; write and return its ``summary`` row. Given
    ``versus`` (a preset with a scored team), also play the elite with one side random
    (:func:`~marlpipe.results.versus.versus_scores`) and write that file."""
    from marlpipe.pipeline.experiment import Experiment
    from marlpipe.pipeline.paths import Paths

    params = cell_params(preset, algorithm, seed)
    out = Path(out)
    started = time.perf_counter()
    done = Experiment(params, out).run()
    result, metrics = done.evolve, done.metrics
    wall = time.perf_counter() - started
    runs = Paths(out).evolve_run
    shutil.rmtree(runs, ignore_errors=True)
    if runs.parent.is_dir() and not any(runs.parent.iterdir()):
        runs.parent.rmdir()
    card = read_json(Paths(out).elite / "elite.json")
    row = {
        "task": Path(preset).stem,
        "env": params.env.name,
        "algorithm": algorithm,
        "seed": seed,
        "score": metrics["score"],
        "score_std": metrics["score_std"],
        "episodes": metrics["episodes"],
        "returns": {k[len("return_") :]: v for k, v in metrics.items() if k.startswith("return_")},
        "teams": {k[len("team_") :]: v for k, v in metrics.items() if k.startswith("team_")},
        "scored_agents": params.evolution.fitness_agents,
        "elite_fitness": result.elite_fitness,
        "generations": result.generations,
        "env_steps": int(card["env_steps"]),
        "wall_s": round(wall, 1),
        "cpu_kind": cpu_kind(),  # the last bits of the numbers are this kind's
    }
    if versus is not None:
        from marlpipe.results.versus import versus_scores

        write_json(versus, versus_scores(params, out))
    write_json(summary, row)
    return row


__all__ = ["cell_params", "run_cell"]
