"""The evolve stage's per-generation checkpoint, from which an interrupted run continues exactly.

``runs/evolve/checkpoint/`` (outside DVC outputs) holds, after each completed generation, the
population, the elite, the shared replay buffer, and ``state.json`` with the loop's counters,
the selection and mutation generators, the fitness and lineage history and the MLflow parent
run. It is replaced as a whole (:func:`~marlpipe.io.atomic_dir`), so a kill at any
moment leaves either the previous generation's checkpoint or the new one, never a mix.

It is written and removed through the tracker interface (:class:`CheckpointTracker`, beside
MLflow's and the reports'). It exists only while a run is unfinished: ``evolve`` removes it
once the run's outputs are written, so a finished run is never taken for a resume (``dvc
repro -f`` retrains from generation 0) and the buffer does not linger on disk.

A checkpoint is resumed only by a run that would have made it: the same params, except the
settings marked neutral (:data:`RESULT_NEUTRAL`, ``tracking`` among them) and ``evaluate`` (read
only by the evaluate stage), and the same training code, compared by :func:`training_code_hash`
(comments, docstrings and formatting do not count; the MLflow and results modules and the CLI
are left out). A checkpoint that does not match, or
that cannot be read, is never deleted: it is moved aside to
``runs/evolve/checkpoint.stale-<why>-<when>`` with one line on stderr, and the run starts over.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.algos.checkpoint import load_population, save_population
from marlpipe.code_hash import training_code_hash
from marlpipe.config import Params
from marlpipe.config.keys import generation_keys, grouped, result_neutral_keys, select
from marlpipe.io import atomic_dir, read_json, write_json
from marlpipe.pipeline.paths import recover_dir
from marlpipe.training.tracker import Tracker

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent
    from marlpipe.tracking.reports import ReportsTracker


log = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT = 2
"""``state.json`` layout: 2 keeps the params and the code fingerprints apart (1 had one)."""

RESULT_NEUTRAL: dict[str, tuple[str, ...]] = grouped(result_neutral_keys())
"""The settings marked ``neutral`` in :mod:`marlpipe.config.params`, by group: by design they
do not change a run's numbers: where members train (locally or on which Ray workers, with
merged experience the same numbers either way), how env copies are stepped (sync or async,
mpe2's fast path or PettingZoo's: identical results) and every ``tracking`` key. Changing one
neither invalidates a resume nor, in ``dvc.yaml``, any stage (``tests/test_dvc_yaml.py`` checks
its params against the marks, ``tests/test_workflows.py`` runs it). ``population.torch_threads``
is not among them: the order of a BLAS reduction may follow the thread count, so its numbers
may differ in the last bit."""


def fingerprint(params: Params) -> str:
    """Hash of every param that shapes the generations (:func:`marlpipe.config.keys.
    generation_keys`: the neutral settings and ``evaluate`` left out; ``evolution.generations``
    and ``target`` count)."""
    data = select(params.resolved_dict(), generation_keys())
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def resume_key(params: Params) -> str:
    """What a checkpoint must match to be resumed under ``params``: :func:`fingerprint` and
    :func:`training_code_hash`. The MLflow run of a resumed checkpoint carries it (its
    ``resume_key`` tag), so the run is continued whatever the settings left out of it."""
    return f"params-{fingerprint(params)}-code-{training_code_hash()}"


def _mismatch(data: Any, params: Params) -> str | None:
    """Why ``state.json``'s ``data`` cannot be resumed under ``params`` (``None``: it can)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return "format"
    if data.get("params") != fingerprint(params):
        return "params"
    if data.get("code") != training_code_hash():
        return "code"
    return None


_REASONS = {
    "format": "written by another version of marlpipe",
    "params": "made under other params",
    "code": "made by other training code",
    "unreadable": "cannot be read",
    "fresh": "is not resumed (a fresh start was asked for)",
}


def set_aside(directory: Path, why: str) -> Path:
    """Rename ``directory`` to ``<name>.stale-<why>-<UTC time>`` beside it (``-2``, ``-3``, ...
    when taken) and return the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = directory.with_name(f"{directory.name}.stale-{why}-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = directory.with_name(f"{directory.name}.stale-{why}-{stamp}-{count}")
    os.replace(directory, target)
    return target


def move_aside(directory: Path, why: str, detail: str = "") -> Path:
    """Rename ``directory`` to ``<name>.stale-<why>-<UTC time>`` beside it, say so in one warning
    (a line on stderr), and return the new path. Nothing is deleted: the user removes it."""
    target = set_aside(directory, why)
    reason = _REASONS[why] + (f": {detail}" if detail else "")
    log.warning(
        "evolve: the partial run in %s %s; moved it to %s and starting at generation 0 "
        "(remove it when you no longer need it)", directory, reason, target.name,
    )  # fmt: skip
    return target


@dataclass
class EvolveState:
    """Everything ``evolve`` needs to continue after its last completed generation."""

    population: list[Agent]
    """The next generation, selected and mutated."""
    elite: Agent | None
    """The elite of the last completed generation (``None`` before the first)."""
    elite_fitness: float
    """Its selection fitness."""
    loop: dict[str, Any]
    """``LoopState.to_dict()``: generation counter, env steps, seed entropy."""
    tournament: dict[str, Any]
    """``TournamentSelection.state_dict()``."""
    mutation: dict[str, Any]
    """``Mutations.state_dict()``."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """One fitness-report row per completed generation (see
    :func:`marlpipe.tracking.summary.fitness_row`)."""
    lineage: list[dict[str, Any]] = field(default_factory=list)
    """One lineage-report row per completed generation (see
    :func:`marlpipe.tracking.summary.lineage_row`)."""
    mlflow_run_id: str | None = None
    """Parent MLflow run, reopened on resume (see ``resume_key``)."""


def save(directory: str | Path, state: EvolveState, memory: Any, params: Params) -> None:
    """Replace the checkpoint in ``directory`` with ``state`` and the buffer ``memory``."""
    with atomic_dir(directory) as tmp:
        save_population(state.population, tmp / "population")
        if state.elite is not None:
            state.elite.save_checkpoint(tmp / "elite.pt")
        memory.save(tmp / "buffer.npz")
        write_json(
            tmp / STATE_FILE,
            {
                "format": FORMAT,
                "params": fingerprint(params),
                "code": training_code_hash(),
                "elite_fitness": state.elite_fitness,
                "loop": state.loop,
                "tournament": state.tournament,
                "mutation": state.mutation,
                "history": state.history,
                "lineage": state.lineage,
                "mlflow_run_id": state.mlflow_run_id,
            },
        )


class CheckpointTracker(Tracker):
    """The checkpoint as a tracker: written after every generation into ``directory`` (the
    run's ``state``, the buffer ``memory``, the generators of ``tournament`` and ``mutation``
    and the report rows ``reports`` kept so far), removed once the run has finished."""

    def __init__(
        self,
        directory: Path,
        state: EvolveState,
        memory: Any,
        params: Params,
        selection: tuple[Any, Any],
        reports: ReportsTracker,
    ) -> None:
        self.directory, self.state, self.memory, self.params = directory, state, memory, params
        self.tournament, self.mutation = selection
        self.reports = reports

    def log_checkpoint(self, result: Any, state: Any) -> None:
        """Replace the checkpoint with the one after ``result``'s generation (``state``: the
        loop's, advanced past it)."""
        saved = self.state
        saved.population, saved.elite = result.population, result.elite
        saved.elite_fitness = result.elite_fitness
        saved.loop = state.to_dict()
        saved.history, saved.lineage = list(self.reports.history), list(self.reports.lineage)
        saved.tournament, saved.mutation = self.tournament.state_dict(), self.mutation.state_dict()
        save(self.directory, saved, self.memory, self.params)

    def finish(self, status: str = "FINISHED") -> None:
        """A finished run leaves nothing to resume (``dvc repro -f`` trains anew); any other
        keeps the checkpoint."""
        if status == "FINISHED":
            discard(self.directory)


def discard(directory: str | Path) -> None:
    """Remove the checkpoint of a run that has finished (its outputs are written)."""
    shutil.rmtree(directory, ignore_errors=True)


def load(
    directory: str | Path, memory: Any, params: Params, abandoned: list[str] | None = None
) -> EvolveState | None:
    """The saved state of an interrupted run (and ``memory`` filled from it), or ``None`` when
    there is none; one that does not match ``params`` and the code, or cannot be read, is moved
    aside (:func:`move_aside`) and ``None`` returned, and the MLflow run it names (if it says)
    is appended to ``abandoned``: that run will never be continued."""
    from marlpipe.algos import load_agent

    directory = Path(directory)
    recover_dir(directory)
    # A kill during a save leaves its temporary sibling behind: half a checkpoint, never read.
    for stale in directory.parent.glob(f".{directory.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    if not directory.exists():
        return None
    state_file = directory / STATE_FILE
    try:
        data = read_json(state_file)
    except (OSError, ValueError) as err:
        detail = f"{state_file.name} is not the JSON state a checkpoint holds ({_short(err)})"
        move_aside(directory, "unreadable", detail)
        return None
    run_id = data.get("mlflow_run_id") if isinstance(data, dict) else None
    if abandoned is not None and isinstance(run_id, str):
        abandoned.append(run_id)  # until it is resumed below
    why = _mismatch(data, params)
    if why is not None:
        move_aside(directory, why)
        return None
    device = params.population.device
    elite_file = directory / "elite.pt"
    try:
        state = EvolveState(
            population=load_population(directory / "population", device),
            elite=load_agent(elite_file, device=device) if elite_file.is_file() else None,
            elite_fitness=float(data["elite_fitness"]),
            loop=data["loop"],
            tournament=data["tournament"],
            mutation=data["mutation"],
            history=data["history"],
            lineage=data.get("lineage", []),
            mlflow_run_id=data.get("mlflow_run_id"),
        )
        memory.load(directory / "buffer.npz")  # last: it changes ``memory`` only when it works
    except Exception as err:  # a damaged file: CheckpointError, OSError, ValueError, KeyError
        move_aside(directory, "unreadable", _short(err))
        return None
    if abandoned is not None and run_id in abandoned:
        abandoned.remove(run_id)
    return state


def mlflow_run_of(directory: str | Path) -> str | None:
    """The MLflow run the checkpoint in ``directory`` names (``None``: none, or unreadable)."""
    try:
        run_id = read_json(Path(directory) / STATE_FILE).get("mlflow_run_id")
    except (OSError, ValueError, AttributeError):
        return None
    return run_id if isinstance(run_id, str) else None


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:300]
