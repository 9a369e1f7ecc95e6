"""Stage ``evolve``: generations of train -> evaluate -> select -> mutate, resumable.

After every generation the full state is checkpointed under ``runs/evolve/checkpoint`` (see
:mod:`marlpipe.pipeline.resume`); a rerun after a kill continues from there and ends exactly
where an uninterrupted run ends, logging into the same MLflow run. Once the run is finished the
checkpoint is removed, so a rerun (``dvc repro -f``) trains again from generation 0 in a new
MLflow run. The stage's outputs are written only at the end, each replaced atomically:
``models/population/``, ``models/elite/``, ``reports/fitness.json``, ``reports/lineage.json``
and its two figures, ``reports/lineage.png`` (the family tree) and
``reports/fitness_members.png`` (see :mod:`marlpipe.pipeline.figures`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marlpipe.algos.buffer import TRANSITION_FIELDS
from marlpipe.algos.checkpoint import load_population, save_population
from marlpipe.config import Params
from marlpipe.io import atomic_dir, file_sha256, write_json
from marlpipe.pipeline import envspec, figures
from marlpipe.pipeline import resume as checkpoints
from marlpipe.pipeline.env_deps import warn_if_env_module_not_a_dep
from marlpipe.pipeline.paths import (
    ELITE_CARD,
    ELITE_FILE,
    Paths,
    env_short_name,
    set_torch_threads,
)  # fmt: skip
from marlpipe.pipeline.preflight import check_device
from marlpipe.seeding import derive_seed

log = logging.getLogger(__name__)



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


def history_row(record: Any) -> dict[str, Any]:
    """One ``reports/fitness.json`` row from a ``GenerationRecord``."""
    fitness = [m.fitness for m in record.members]
    row = {
        "generation": record.generation,
        "env_steps": record.env_steps,
        "elite_fitness": record.elite_fitness,
        "mean_fitness": sum(fitness) / len(fitness),
        "max_fitness": max(fitness),
        "min_fitness": min(fitness),
    }
    row.update({f"member_{pos}": value for pos, value in enumerate(fitness)})
    return row


def _selection(params: Params) -> tuple[Any, Any]:
    from marlpipe.evolution import Mutations, TournamentSelection

    tournament = TournamentSelection(
        params.tournament, params.population.size, derive_seed(params.seed, "tournament")
    )
    mutation = Mutations(
        params.mutation, derive_seed(params.seed, "mutation"),
        memory_size=params.evolution.memory_size,
    )  # fmt: skip
    return tournament, mutation


def run_name(params: Params) -> str:
    """The parent MLflow run's name: the DVC experiment's (``$DVC_EXP_NAME``, set by ``dvc exp
    run``) when there is one, else env, algorithm and seed, e.g. ``spread-matd3-s0``."""
    name = os.environ.get("DVC_EXP_NAME")
    if name:
        return name
    env = env_short_name(params.env.name)
    env = re.sub(r"_v\d+$", "", re.sub(r"^simple_", "", env)) or env
    return f"{env}-{params.algorithm.lower()}-s{params.seed}"


def _tracker(params: Params, store: Path, run_id: str | None, generation: int) -> Any:
    from marlpipe.tracking import MlflowTracker

    return MlflowTracker(
        params.tracking.experiment, root=store, run_name=run_name(params),
        params=params.to_dict(), parent_run_id=run_id, resumed_at=generation,
        resume_key=checkpoints.resume_key(params),
    )  # fmt: skip


def run(
    params: Params,
    root: str | Path = ".",
    *,
    resume: bool = True,
    progress: bool = False,
    tracker: Any = None,
    on_generation: Callable[[int, Any], None] | None = None,
    store: str | Path | None = None,
) -> EvolveResult:
    """Evolve ``models/initial_population`` under ``params``; return the elite's summary.

    ``tracker`` overrides the MLflow tracker that ``params.tracking.enabled`` would create;
    ``store`` is the folder of its local store (default ``root``; see ``store_root``).
    ``on_generation(generation, result)`` is called after each generation's checkpoint is
    written (tests raise from it to simulate a kill).
    """
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.envs import EnvFactory
    from marlpipe.training import LoopState, NullTracker, evolve
    from marlpipe.training.merged import make_trainer

    check_device(params.population.device)  # one line, before any work, not torch's trace
    set_torch_threads(params.population.torch_threads)
    root, paths = Path(root), Paths(Path(root))
    spec = envspec.load_for(params, root)
    warn_if_env_module_not_a_dep(spec.env_name, "evolve", root)
    checkpoint_dir = paths.evolve_run / "checkpoint"
    evo, device = params.evolution, params.population.device
    memory = MultiAgentReplayBuffer(
        evo.memory_size, TRANSITION_FIELDS, spec.agent_ids, device=device,
        seed=derive_seed(params.seed, "buffer"),
    )  # fmt: skip
    tournament, mutation = _selection(params)
    abandoned: list[str] = []  # MLflow runs of partial runs moved aside: never continued
    saved = checkpoints.load(checkpoint_dir, memory, params, abandoned) if resume else None
    if saved is None:
        if checkpoint_dir.exists():  # resume=False (``marlpipe evolve --fresh``): keep it too
            if (run_id := checkpoints.mlflow_run_of(checkpoint_dir)) is not None:
                abandoned.append(run_id)  # never continued: marked so below, not left running
            checkpoints.move_aside(checkpoint_dir, "fresh")
        start = LoopState.start(derive_seed(params.seed, "training"))
        saved = checkpoints.EvolveState(
            population=load_population(paths.initial_population, device), elite=None,
            elite_fitness=-math.inf, loop=start.to_dict(), tournament=tournament.state_dict(),
            mutation=mutation.state_dict(),
        )  # fmt: skip
    tournament.load_state_dict(saved.tournament)
    mutation.load_state_dict(saved.mutation)
    loop = LoopState.from_dict(saved.loop)
    if loop.generation > 0:
        log.warning(
            "evolve: resuming the interrupted run in %s at generation %d",
            checkpoint_dir, loop.generation,
        )  # fmt: skip
    if tracker is None and params.tracking.enabled:
        tracker = _tracker(params, Path(store or root), saved.mlflow_run_id, loop.generation)
    elif tracker is None:
        tracker = NullTracker()
    saved.mlflow_run_id = tracker.start()
    tracker.discard_generations_from(loop.generation)
    for run_id in abandoned:  # killed, then set aside: its MLflow run says so, not "running"
        tracker.mark_abandoned(run_id)

    def checkpoint(result: Any, state: LoopState) -> None:
        """Keep the finished generation in ``runs/evolve/checkpoint`` before the next starts."""
        saved.population, saved.elite = result.population, result.elite
        saved.elite_fitness = result.elite_fitness
        saved.loop, saved.history = state.to_dict(), [*saved.history, history_row(result.record)]
        saved.lineage = [*saved.lineage, figures.lineage_row(result.record)]
        saved.tournament, saved.mutation = tournament.state_dict(), mutation.state_dict()
        checkpoints.save(checkpoint_dir, saved, memory, params)
        if on_generation is not None:
            on_generation(result.record.generation, result)

    factory = EnvFactory.from_params(params, spec)  # a VMAS simulator on population.device too
    env = factory.vec_env()
    eval_env = factory.eval_env(evo.eval_episodes)
    status, trainer = "FAILED", None
    try:
        if not _reached(evo.target, saved):
            trainer = make_trainer(params.population, factory)
            evolve(
                env, saved.population, memory, evo, tournament=tournament, mutation=mutation,
                state=loop, eval_env=eval_env, tracker=tracker, on_generation=checkpoint,
                progress=progress, trainer=trainer,
            )  # fmt: skip
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        if trainer is not None:
            trainer.close()
        env.close()
        eval_env.close()
        if status != "FINISHED":
            tracker.finish(status)
    if saved.elite is None:
        raise RuntimeError("evolve finished without running a generation (generations < 1?)")
    _write_outputs(paths, params, saved, loop)
    tracker.log_artifacts(paths.elite, "elite")
    _log_figures(tracker, paths)
    tracker.finish("FINISHED")
    checkpoints.discard(checkpoint_dir)  # finished: nothing to resume, ``-f`` trains anew
    return EvolveResult(
        int(saved.elite.index), float(saved.elite_fitness), int(loop.generation),
        saved.history, saved.mlflow_run_id,
    )  # fmt: skip


def _reached(target: float | None, saved: checkpoints.EvolveState) -> bool:
    return target is not None and saved.elite is not None and saved.elite_fitness >= target


def _write_outputs(paths: Paths, params: Params, saved: checkpoints.EvolveState, loop: Any) -> None:
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


def _log_figures(tracker: Any, paths: Paths) -> None:
    """Log the two figures as the run's ``figures/`` artefacts (a folder holding just them)."""
    with tempfile.TemporaryDirectory() as folder:
        for figure in (paths.lineage_figure, paths.fitness_members_figure):
            shutil.copy(figure, Path(folder) / figure.name)
        tracker.log_artifacts(folder, "figures")
