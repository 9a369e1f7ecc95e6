"""What a run gives: the evolve stage's models, written once its generations are done, and the
summaries the stages return (:class:`EvolveResult`, :class:`PipelineResult`).

``models/population/`` (the last population), ``models/elite/`` (the elite's checkpoint and its
JSON card) and ``runs/evolve/mlflow_run.json`` (which MLflow run made this elite), each replaced
atomically. The stage's reports are written by their tracker
(:class:`~marlpipe.tracking.reports.ReportsTracker`).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marlpipe.algos.checkpoint import save_population
from marlpipe.config import Params
from marlpipe.io import atomic_dir, file_sha256, write_json
from marlpipe.pipeline.paths import ELITE_CARD, ELITE_FILE, Paths
from marlpipe.pipeline.resume import EvolveState


@dataclass(frozen=True)
class EvolveResult:
    """Summary of an evolve run."""

    elite_index: int
    """Index of the elite in the final population."""
    elite_fitness: float
    """Its selection fitness."""
    generations: int
    """Generations completed (resumed ones included)."""
    history: list[dict[str, Any]]
    """The fitness report rows."""
    mlflow_run_id: str | None
    """The parent MLflow run (``None`` with tracking disabled)."""


@dataclass(frozen=True)
class PipelineResult:
    """What one whole run gave."""

    evolve: EvolveResult
    """The evolve stage's summary."""
    metrics: dict[str, Any]
    """The evaluate stage's metrics (``reports/eval.json``, plus ``registered_version`` with
    tracking)."""

    @property
    def score(self) -> float:
        """The evaluated score of the elite."""
        return float(self.metrics["score"])


def write_outputs(paths: Paths, params: Params, saved: EvolveState, loop: Any) -> None:
    """The models of a finished evolve run from its last state ``saved``, and the link to its
    MLflow run."""
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
    # Written with or without tracking: evaluate depends on it (see dvc.yaml).
    link = {"run_id": saved.mlflow_run_id, "elite_sha256": file_sha256(paths.elite / ELITE_FILE)}
    write_json(paths.evolve_link, link)


def log_figures(tracker: Any, paths: Paths) -> None:
    """Log the three figures as the run's ``figures/`` artefacts (a folder holding just them)."""
    with tempfile.TemporaryDirectory() as folder:
        for figure in (paths.fitness_figure, paths.lineage_figure, paths.fitness_members_figure):
            shutil.copy(figure, Path(folder) / figure.name)
        tracker.log_artifacts(folder, "figures")
