"""The evolve stage's reports as a tracker, beside MLflow's: the fitness and the lineage reports.

:class:`ReportsTracker` keeps, per generation, the fitness row and the lineage row of its record
(:mod:`marlpipe.tracking.summary`), and on :meth:`~ReportsTracker.flush`, once a run's
generations are done, writes ``reports/fitness.json``, ``reports/lineage.json`` and the three
figures drawn from them (:mod:`marlpipe.tracking.figures`), each replaced atomically. A
run that fails writes nothing; a resumed run starts from the rows its checkpoint kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from marlpipe.io import write_json
from marlpipe.tracking import figures
from marlpipe.tracking.summary import fitness_row, lineage_row
from marlpipe.training.tracker import GenerationRecord, Tracker


class ReportsTracker(Tracker):
    """The fitness report at ``fitness`` and its figure at ``fitness_figure``, the lineage report
    at ``lineage`` and its figures at ``lineage_figure`` (the family tree) and ``members_figure``
    (every member's fitness).

    ``history`` and ``rows``: the fitness and lineage rows of the generations already run (a
    resumed run's, from its checkpoint).
    """

    def __init__(
        self,
        fitness: Path,
        lineage: Path,
        lineage_figure: Path,
        members_figure: Path,
        fitness_figure: Path,
        *,
        history: list[dict[str, Any]] | None = None,
        rows: list[dict[str, Any]] | None = None,
    ) -> None:
        self.paths = (fitness, lineage, lineage_figure, members_figure, fitness_figure)
        self.history: list[dict[str, Any]] = list(history or [])
        """One fitness row per generation (:func:`~marlpipe.tracking.summary.fitness_row`)."""
        self.lineage: list[dict[str, Any]] = list(rows or [])
        """One lineage row per generation (:func:`~marlpipe.tracking.summary.lineage_row`)."""

    def discard_generations_from(self, generation: int) -> None:
        """Drop the rows of ``generation`` and later."""
        self.history = [row for row in self.history if row["generation"] < generation]
        self.lineage = [row for row in self.lineage if row["generation"] < generation]

    def log_generation(self, record: GenerationRecord) -> None:
        """Keep ``record``'s fitness row and lineage row."""
        self.history.append(fitness_row(record))
        self.lineage.append(lineage_row(record))

    def flush(self) -> None:
        """Write both reports and the three figures."""
        fitness, lineage, lineage_figure, members_figure, fitness_figure = self.paths
        write_json(fitness, self.history)
        write_json(lineage, self.lineage)
        figures.write_figures(self.history, self.lineage, fitness=fitness_figure,
                              lineage=lineage_figure, members=members_figure)  # fmt: skip


__all__ = ["ReportsTracker"]
