"""Stage ``evolve``: generations of train -> evaluate -> select -> mutate, resumable.

After every generation the full state is checkpointed under ``runs/evolve/checkpoint`` (see
:mod:`marlpipe.pipeline.resume`); a rerun after a kill continues from there and ends exactly
where an uninterrupted run ends, logging into the same MLflow run. Once the run is finished the
checkpoint is removed, so a rerun (``dvc repro -f``) trains again from generation 0 in a new
MLflow run. The stage's outputs are written only at the end, each replaced atomically:
``models/population/``, ``models/elite/``, ``reports/fitness.json`` and its figure
``reports/fitness.png``, ``reports/lineage.json`` and its two figures, ``reports/lineage.png``
(the family tree) and ``reports/fitness_members.png`` (see :mod:`marlpipe.tracking.figures`).

The run is assembled by :meth:`marlpipe.pipeline.experiment.Experiment.evolve`; :func:`run` is
the stage as a function.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.config import Params
from marlpipe.pipeline.experiment import Experiment
from marlpipe.pipeline.outputs import EvolveResult

if TYPE_CHECKING:
    from marlpipe.training.tracker import Tracker


def run(
    params: Params,
    root: str | Path = ".",
    *,
    resume: bool = True,
    progress: bool = False,
    tracker: Tracker | None = None,
    on_generation: Callable[[int, Any], None] | None = None,
    store: str | Path | None = None,
) -> EvolveResult:
    """Evolve ``models/initial_population`` under ``params``; return the elite's summary (see
    :class:`~marlpipe.pipeline.experiment.Experiment` for the arguments)."""
    experiment = Experiment(
        params, root, store=store, tracker=tracker, resume=resume, progress=progress
    )
    return experiment.evolve(on_generation)
