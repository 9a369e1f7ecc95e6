"""The evolve stage's outputs, written once its generations are done.

``models/population/`` (the last population), ``models/elite/`` (the elite's checkpoint and its
JSON card), ``reports/fitness.json``, ``reports/lineage.json`` and its two figures, and
``runs/evolve/mlflow_run.json`` (which MLflow run made this elite); each is replaced
atomically.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from marlpipe.algos.checkpoint import save_population
from marlpipe.config import Params
from marlpipe.io import atomic_dir, file_sha256, write_json
from marlpipe.pipeline import figures
from marlpipe.pipeline.paths import ELITE_CARD, ELITE_FILE, Paths
from marlpipe.pipeline.resume import EvolveState


def write_outputs(paths: Paths, params: Params, saved: EvolveState, loop: Any) -> None:
    """Every output of a finished evolve run from its last state ``saved``."""
    save_population(saved.population, paths.population)
    elite = saved.elite
    card = {
        "algorithm": params.algorithm,
        "checkpoint": ELITE_FILE,
        "index": int(elite.index),
        "fitness": float(saved.elite_fitness),
        "fitness_history": [float(f) for f in elite.fitness],
        "hyperparameters": elite.hyperparameters(),
        "net_config": elite.net_config,
        "lineage": elite.lineage,
        "generations": int(loop.generation),
        "env_steps": int(loop.env_steps),
        "env": {"name": elite.spec.env_name, "kwargs": elite.spec.env_kwargs},
    }
    with atomic_dir(paths.elite) as tmp:
        elite.save_checkpoint(tmp / ELITE_FILE)
        write_json(tmp / ELITE_CARD, card)
    write_json(paths.fitness_report, saved.history)
    write_json(paths.lineage_report, saved.lineage)
    figures.write_figures(saved.lineage, paths.lineage_figure, paths.fitness_members_figure)
    # Written with or without tracking: evaluate depends on it (see dvc.yaml).
    link = {"run_id": saved.mlflow_run_id, "elite_sha256": file_sha256(paths.elite / ELITE_FILE)}
    write_json(paths.evolve_link, link)


def log_figures(tracker: Any, paths: Paths) -> None:
    """Log the two figures as the run's ``figures/`` artefacts (a folder holding just them)."""
    with tempfile.TemporaryDirectory() as folder:
        for figure in (paths.lineage_figure, paths.fitness_members_figure):
            shutil.copy(figure, Path(folder) / figure.name)
        tracker.log_artifacts(folder, "figures")
