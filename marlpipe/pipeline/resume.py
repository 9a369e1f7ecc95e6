"""The evolve stage's per-generation checkpoint, from which a killed run continues exactly.

``runs/evolve/checkpoint/`` (outside DVC outputs) holds, after each completed generation, the
population, the elite, the shared replay buffer, and ``state.json`` with the loop's counters,
the selection and mutation generators, the fitness and lineage history and the MLflow parent
run.
It is replaced as a whole (:func:`~marlpipe.pipeline.paths.atomic_dir`), so a kill at any moment
leaves either the previous generation's checkpoint or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marlpipe.algos.checkpoint import load_population, save_population
from marlpipe.config import Params
from marlpipe.io import read_json, write_json
from marlpipe.pipeline.paths import atomic_dir, recover_dir

STATE_FILE = "state.json"
# Keys that may change without invalidating a partial run: more generations simply continue it.
# Where members train (local or on which Ray workers) does not change the results either.
_NOT_FINGERPRINTED = {
    "evaluate": None, "tracking": None, "evolution": ("generations", "target"),
    "population": ("backend", "ray_address", "num_cpus", "num_gpus", "workers"),
}  # fmt: skip


def code_hash() -> str:
    """Hash of the package's Python sources: a partial run made by other code is not resumed."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(params: Params) -> str:
    """Hash of every param that shapes the generations already run, and of the code."""
    data = params.to_dict()
    for group, keys in _NOT_FINGERPRINTED.items():
        if keys is None:
            data.pop(group)
        else:
            data[group] = {k: v for k, v in data[group].items() if k not in keys}
    data["__code__"] = code_hash()
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _usable(data: dict[str, Any], params: Params) -> bool:
    """Same params and code, and not past where a run under ``params`` would have stopped."""
    if data.get("fingerprint") != fingerprint(params):
        return False
    evo = params.evolution
    if int(data["loop"]["generation"]) > evo.generations:
        return False
    earlier = data["history"][:-1]  # the run stops right after the first row reaching target
    return evo.target is None or all(row["elite_fitness"] < evo.target for row in earlier)


@dataclass
class EvolveState:
    """Everything ``evolve`` needs to continue after its last completed generation."""

    population: list[Any]
    """The next generation, selected and mutated."""
    elite: Any
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
    """One fitness-report row per completed generation."""
    lineage: list[dict[str, Any]] = field(default_factory=list)
    """One lineage-report row per completed generation (``figures.lineage_row``)."""
    mlflow_run_id: str | None = None
    """Parent MLflow run, reopened on resume."""


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
                "fingerprint": fingerprint(params),
                "elite_fitness": state.elite_fitness,
                "loop": state.loop,
                "tournament": state.tournament,
                "mutation": state.mutation,
                "history": state.history,
                "lineage": state.lineage,
                "mlflow_run_id": state.mlflow_run_id,
            },
        )


def load(directory: str | Path, memory: Any, params: Params) -> EvolveState | None:
    """The saved state (and ``memory`` filled from it), or ``None`` when there is no usable one.

    A checkpoint written by other code or under other params (except more generations or another
    target that the run has not yet passed) is not usable: the run starts over rather than mix
    two configurations.
    """
    from marlpipe.algos import load_agent

    directory = Path(directory)
    recover_dir(directory)
    # A kill during a save leaves its temporary sibling behind; it is never read, only removed.
    for stale in directory.parent.glob(f".{directory.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    state_file = directory / STATE_FILE
    if not state_file.is_file():
        return None
    data = read_json(state_file)
    if not _usable(data, params):
        return None
    device = params.population.device
    elite_file = directory / "elite.pt"
    memory.load(directory / "buffer.npz")
    return EvolveState(
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
