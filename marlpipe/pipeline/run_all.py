"""The four stages in one call: envspec -> init_population -> evolve -> evaluate in one folder.

``dvc repro`` runs them one stage at a time (``stages/``); :func:`run_pipeline` is
:meth:`marlpipe.pipeline.experiment.Experiment.run` as a function.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from marlpipe.config import Params
from marlpipe.pipeline.experiment import Experiment
from marlpipe.pipeline.outputs import PipelineResult

if TYPE_CHECKING:
    from marlpipe.training.tracker import Tracker


def run_pipeline(
    params: Params,
    root: str | Path,
    *,
    resume: bool = True,
    progress: bool = False,
    tracker: Tracker | None = None,
    store: str | Path | None = None,
) -> PipelineResult:
    """Run the four stages on ``params`` in ``root`` (``models/``, ``reports/``, ``runs/``; see
    :class:`~marlpipe.pipeline.experiment.Experiment` for the arguments)."""
    experiment = Experiment(
        params, root, store=store, tracker=tracker, resume=resume, progress=progress
    )
    return experiment.run()


__all__ = ["run_pipeline"]
