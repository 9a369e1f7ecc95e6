"""The four stages in one call: envspec -> init_population -> evolve -> evaluate in one folder.

``dvc repro`` runs them one stage at a time (``stages/``); everything else that runs the whole
chain (``marlpipe train``, the CI regression check, a results cell) calls :func:`run_pipeline`,
so the order and the arguments each stage gets live here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.config import Params

if TYPE_CHECKING:
    from marlpipe.pipeline.evolve import EvolveResult
    from marlpipe.training.tracker import Tracker


@dataclass(frozen=True)
class PipelineResult:
    """What one whole run gave."""

    evolve: EvolveResult
    """The evolve stage's :class:`~marlpipe.pipeline.evolve.EvolveResult`."""
    metrics: dict[str, Any]
    """The evaluate stage's metrics (``reports/eval.json``, plus ``registered_version`` with
    tracking)."""

    @property
    def score(self) -> float:
        """The evaluated score of the elite."""
        return float(self.metrics["score"])


def run_pipeline(
    params: Params,
    root: str | Path,
    *,
    resume: bool = True,
    progress: bool = False,
    tracker: Tracker | None = None,
    store: str | Path | None = None,
) -> PipelineResult:
    """Run the four stages on ``params`` in ``root`` (``models/``, ``reports/``, ``runs/``).

    ``resume``: the evolve stage continues a partial run saved in ``root`` (else it starts at
    generation 0, setting the partial run aside). ``tracker`` replaces the MLflow tracker of the
    evolve stage (``params.tracking.enabled`` decides whether the evaluate stage logs and
    registers the elite). ``store``: the folder of the local MLflow store when tracking
    (default: ``root``, as the stages pick it; ``$MLFLOW_TRACKING_URI`` overrides both).
    """
    from marlpipe.pipeline import envspec, evaluate, evolve, init_population
    from marlpipe.pipeline.preflight import check_stage

    tracking = params.tracking.enabled and tracker is None
    check_stage(params, root, tracking=tracking, store=store)  # before any work
    envspec.run(params, root)
    init_population.run(params, root)
    result = evolve.run(
        params, root, resume=resume, progress=progress, tracker=tracker, store=store
    )
    metrics = evaluate.run(params, root, store=store)
    return PipelineResult(result, metrics)


__all__ = ["PipelineResult", "run_pipeline"]
