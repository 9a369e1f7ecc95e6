"""What ``marlpipe train`` does with its run folder: start, resume, or say it is finished.

A run folder (``runs/train/<preset or params>-s<seed>``, or ``--out``) holds one run: its
resolved ``params.yaml``, the models, the reports and the evolve stage's resumable checkpoint.
Run again on the same folder, ``train``:

- **resumes** an unfinished run: a partial evolve run continues from its checkpoint (the resume
  rules of :mod:`marlpipe.pipeline.resume`), a finished evolve stage is only evaluated;
- **says that a finished run is finished** (its ``reports/eval.json`` written, no checkpoint
  left) and trains nothing;
- **refuses** a folder whose finished run was made with other params, naming the keys that
  differ (result-neutral ones, such as ``population.backend``, do not count);
- with ``--fresh``, **moves the old folder aside** (``<folder>.stale-fresh-<UTC time>``, the
  way the pipeline sets a partial run aside) and trains anew. Nothing is deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.config import Params, load_params
from marlpipe.errors import UserError
from marlpipe.pipeline.paths import ELITE_CARD, Paths
from marlpipe.pipeline.resume import set_aside

if TYPE_CHECKING:
    from marlpipe.pipeline.experiment import Experiment

log = logging.getLogger(__name__)

PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class FolderState:
    """What a run folder holds (see the module docstring)."""

    evolved: dict[str, Any] | None
    """The elite's card of a finished evolve stage (``None``: none finished, or one resumes)."""
    metrics: dict[str, Any] | None
    """The evaluate stage's metrics (``reports/eval.json``) of a finished run, else ``None``."""

    @property
    def finished(self) -> bool:
        return self.evolved is not None and self.metrics is not None


def prepare(folder: Path, params: Params, fresh: bool) -> FolderState:
    """Ready ``folder`` for a run of ``params``: with ``fresh`` an existing run is moved aside;
    a finished run (or a finished evolve stage) of other result-shaping params is refused in one
    line. Returns what the folder holds, for the caller to run what is left."""
    if fresh and folder.exists() and any(folder.iterdir()):
        moved = set_aside(folder, "fresh")
        log.warning(
            "train: moved the earlier run in %s to %s and training anew (remove it when you no "
            "longer need it)", folder, moved.name,
        )  # fmt: skip
    state = read_state(folder)
    if state.evolved is None:
        return state
    saved = folder / PARAMS_FILE
    differ = differing_keys(load_params(saved), params) if saved.is_file() else ["(no params)"]
    if differ:
        shown = ", ".join(differ[:4]) + (f" and {len(differ) - 4} more" if len(differ) > 4 else "")
        raise UserError(
            f"{folder} holds a {'finished run' if state.finished else 'finished evolve stage'} "
            f"made with other params ({shown}): --fresh moves it aside and trains anew, --out "
            "names another folder"
        )
    return state


def run_rest(experiment: Experiment, state: FolderState) -> tuple[float, int, float]:
    """Run what ``state`` leaves to do: the four stages (a partial evolve run resumes), or the
    evaluate stage alone after a finished evolve stage. The elite's fitness, the generations and
    the evaluated score."""
    if state.evolved is None:
        done = experiment.run()
        return done.evolve.elite_fitness, done.evolve.generations, done.score
    log.info("train: %s: the evolve stage had finished; evaluating its elite", experiment.root)
    experiment.check()
    score = float(experiment.evaluate()["score"])
    return float(state.evolved["fitness"]), int(state.evolved["generations"]), score


def read_state(folder: Path) -> FolderState:
    """The finished parts of the run in ``folder``: none while a checkpoint is left (that run
    resumes) or the models are missing."""
    paths = Paths(folder)
    card_file = paths.elite / ELITE_CARD
    if (paths.evolve_run / "checkpoint").exists() or not card_file.is_file():
        return FolderState(None, None)
    card = json.loads(card_file.read_text())
    metrics = json.loads(paths.eval_report.read_text()) if paths.eval_report.is_file() else None
    return FolderState(card, metrics)


def differing_keys(old: Params, new: Params) -> list[str]:
    """The dotted keys whose values differ between ``old`` and ``new`` as they resolve
    (:meth:`Params.resolved_dict`: a null ``env.kwargs`` is the family's own), result-neutral
    keys (``marlpipe.config.keys.result_neutral_keys``) left out."""
    from marlpipe.config.keys import leaf_keys, result_neutral_keys, select

    neutral = set(result_neutral_keys())
    keys = [k for k in leaf_keys() if k not in neutral]
    before, after = old.resolved_dict(), new.resolved_dict()
    return [k for k in keys if select(before, [k]) != select(after, [k])]


__all__ = ["FolderState", "differing_keys", "prepare", "read_state", "run_rest"]
