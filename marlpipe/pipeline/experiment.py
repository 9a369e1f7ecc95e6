"""One experiment: a run's assembly in one folder, and the run.

:class:`Experiment` is built from the params and the project folder (``root``: ``models/``,
``reports/``, ``runs/``) and owns what a run is assembled from: the checks before any work
(:mod:`~marlpipe.pipeline.preflight`), the env spec, the generation-0 population, the shared
replay buffer, selection (tournament or MF-PBT) and mutations, the resumable checkpoint
(:mod:`~marlpipe.pipeline.resume`), the env factory and the trainer, and the trackers. Its
methods are the four stages (:meth:`~Experiment.envspec`, :meth:`~Experiment.init_population`,
:meth:`~Experiment.evolve`, :meth:`~Experiment.evaluate`); :meth:`~Experiment.run` chains them.
Every way of running marlpipe goes through it: the DVC stage scripts (``stages/``, one stage
each), the ``marlpipe`` commands (``train`` among them), the results cells, the behaviour
fingerprint and the CI regression check.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.config import Params
from marlpipe.pipeline import envspec, init_population
from marlpipe.pipeline import resume as checkpoints
from marlpipe.pipeline.env_deps import warn_if_env_module_not_a_dep
from marlpipe.pipeline.outputs import EvolveResult, PipelineResult, log_figures, write_outputs
from marlpipe.pipeline.paths import Paths, env_short_name, set_torch_threads
from marlpipe.pipeline.preflight import check_stage
from marlpipe.seeding import derive_seed

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs import EnvFactory, EnvSpec
    from marlpipe.tracking.reports import ReportsTracker
    from marlpipe.training.tracker import Tracker
    from marlpipe.training.trainers import Trainer

log = logging.getLogger(__name__)


def run_name(params: Params) -> str:
    """The parent MLflow run's name: the DVC experiment's (``$DVC_EXP_NAME``, set by ``dvc exp
    run``) when there is one, else env, algorithm and seed, e.g. ``spread-matd3-s0``."""
    name = os.environ.get("DVC_EXP_NAME")
    if name:
        return name
    env = env_short_name(params.env.name)
    env = re.sub(r"_v\d+$", "", re.sub(r"^simple_", "", env)) or env
    return f"{env}-{params.algorithm.lower()}-s{params.seed}"


class Experiment:
    """One run of the pipeline on ``params`` in the folder ``root``.

    ``store``: the folder of the local MLflow store when tracking (default ``root``;
    ``$MLFLOW_TRACKING_URI`` overrides both). ``tracker`` replaces the MLflow tracker of the
    evolve stage (``params.tracking.enabled`` still decides whether the evaluate stage logs and
    registers the elite). ``resume``: the evolve stage continues a partial run saved in
    ``root`` (else it starts at generation 0, setting the partial run aside). ``progress``: a
    progress bar per generation on a terminal, a line per generation in a log.
    """

    def __init__(
        self,
        params: Params,
        root: str | Path = ".",
        *,
        store: str | Path | None = None,
        tracker: Tracker | None = None,
        resume: bool = True,
        progress: bool = False,
    ) -> None:
        self.params, self.root, self.paths = params, Path(root), Paths(Path(root))
        self.store, self.tracker = store, tracker
        self.resume, self.progress = resume, progress

    def check(self) -> Params:
        """Every check before any work (:func:`~marlpipe.pipeline.preflight.check_stage`): the
        device and, unless a tracker was given, the MLflow store. Returns the params."""
        return check_stage(self.params, self.root, tracking=self.tracker is None, store=self.store)

    def run(self) -> PipelineResult:
        """The four stages, in order, after the checks."""
        self.check()
        self.envspec()
        self.init_population()
        result = self.evolve()
        return PipelineResult(result, self.evaluate())

    def envspec(self) -> EnvSpec:
        """Stage ``envspec``: write ``models/envspec.json`` and return the spec."""
        return envspec.run(self.params, self.root)

    def init_population(self) -> list[Agent]:
        """Stage ``init_population``: write ``models/initial_population/`` and return it."""
        return init_population.run(self.params, self.root)

    def evaluate(self) -> dict[str, Any]:
        """Stage ``evaluate``: score the elite, write ``reports/eval.json``, log and register
        it with tracking (see :mod:`marlpipe.pipeline.evaluate`); the metrics."""
        from marlpipe.pipeline import evaluate

        return evaluate.run(self.params, self.root, store=self.store)

    def evolve(self, on_generation: Callable[[int, Any], None] | None = None) -> EvolveResult:
        """Stage ``evolve`` (see :mod:`marlpipe.pipeline.evolve`): the generations from
        ``models/initial_population`` or the partial run saved in ``runs/evolve/checkpoint``.
        ``on_generation(generation, result)`` is called after each generation's checkpoint is
        written (tests raise from it to simulate a kill)."""
        from marlpipe.envs import EnvFactory
        from marlpipe.training import LoopState, Trackers, evolve

        params, evo = self.params, self.params.evolution
        self.check()  # one line, before any work, not torch's trace
        set_torch_threads(params.population.torch_threads)
        spec = envspec.load_for(params, self.root)
        warn_if_env_module_not_a_dep(spec.env_name, "evolve", self.root)
        memory = self._buffer(spec)
        tournament, mutation = self._selection()
        checkpoint_dir = self.paths.evolve_run / "checkpoint"
        saved, abandoned = self._restore(checkpoint_dir, memory, tournament, mutation)
        loop = LoopState.from_dict(saved.loop)
        reports = self._reports(saved)
        tracker = Trackers(  # one record, several outputs; the checkpoint is removed last
            reports, self._tracker(saved, loop.generation),
            checkpoints.CheckpointTracker(checkpoint_dir, saved, memory, params,
                                          (tournament, mutation), reports),
        )  # fmt: skip
        saved.mlflow_run_id = tracker.start()
        tracker.discard_generations_from(loop.generation)
        for run_id in abandoned:  # killed, then set aside: its MLflow run says so, not "running"
            tracker.mark_abandoned(run_id)
        factory = EnvFactory.from_params(params, spec)  # a VMAS simulator on population.device too
        env = factory.vec_env()
        eval_env = factory.eval_env(evo.eval_episodes)
        status, trainer = "FAILED", None
        try:
            if not _reached(evo.target, saved):
                trainer = self.trainer(factory)
                evolve(
                    env, saved.population, memory, evo, tournament=tournament, mutation=mutation,
                    state=loop, eval_env=eval_env, tracker=tracker, progress=self.progress,
                    trainer=trainer, on_generation=_called_with_generation(on_generation),
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
        tracker.flush()  # the reports and their figures
        write_outputs(self.paths, params, saved, loop)
        tracker.log_artifacts(self.paths.elite, "elite")
        log_figures(tracker, self.paths)
        tracker.finish("FINISHED")  # MLflow's run closed, the checkpoint removed
        return EvolveResult(
            int(saved.elite.index), float(saved.elite_fitness), int(loop.generation),
            reports.history, saved.mlflow_run_id,
        )  # fmt: skip

    def _buffer(self, spec: EnvSpec) -> Any:
        """The replay buffer the population shares (empty; a resume fills it)."""
        from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer

        return MultiAgentReplayBuffer(
            self.params.evolution.memory_size, TRANSITION_FIELDS, spec.agent_ids,
            device=self.params.population.device, seed=derive_seed(self.params.seed, "buffer"),
        )  # fmt: skip

    def _selection(self) -> tuple[Any, Any]:
        """Selection (``evolution.selection``: tournament, or MF-PBT's multiple frequencies)
        and mutations, each with its own seed."""
        from marlpipe.evolution import MultiFrequencySelection, Mutations, TournamentSelection

        params = self.params
        if params.evolution.selection == "mf_pbt":
            tournament: Any = MultiFrequencySelection(
                params.mf_pbt, params.population.size, derive_seed(params.seed, "mf_pbt")
            )
        else:
            tournament = TournamentSelection(
                params.tournament, params.population.size, derive_seed(params.seed, "tournament")
            )
        mutation = Mutations(
            params.mutation, derive_seed(params.seed, "mutation"),
            memory_size=params.evolution.memory_size,
        )  # fmt: skip
        return tournament, mutation

    def _restore(
        self, directory: Path, memory: Any, tournament: Any, mutation: Any
    ) -> tuple[checkpoints.EvolveState, list[str]]:
        """The state to go on from: the partial run in ``directory`` when it may be resumed
        (``memory`` filled from it), else generation 0 from ``models/initial_population``; and
        the MLflow runs of partial runs set aside (never continued). ``tournament`` and
        ``mutation`` take the state's generators."""
        from marlpipe.algos.checkpoint import load_population
        from marlpipe.training import LoopState

        params, abandoned = self.params, []
        saved = checkpoints.load(directory, memory, params, abandoned) if self.resume else None
        if saved is None:
            if directory.exists():  # resume=False (``marlpipe evolve --fresh``): keep it too
                if (run_id := checkpoints.mlflow_run_of(directory)) is not None:
                    abandoned.append(run_id)  # never continued: marked so, not left running
                checkpoints.move_aside(directory, "fresh")
            start = LoopState.start(derive_seed(params.seed, "training"))
            saved = checkpoints.EvolveState(
                population=load_population(self.paths.initial_population, params.population.device),
                elite=None, elite_fitness=-math.inf, loop=start.to_dict(),
                tournament=tournament.state_dict(), mutation=mutation.state_dict(),
            )  # fmt: skip
        tournament.load_state_dict(saved.tournament)
        mutation.load_state_dict(saved.mutation)
        generation = int(saved.loop["generation"])
        if generation > 0:
            log.warning(
                "evolve: resuming the interrupted run in %s at generation %d", directory, generation
            )
        return saved, abandoned

    def _reports(self, saved: checkpoints.EvolveState) -> ReportsTracker:
        """The fitness and lineage reports, from the rows ``saved`` kept."""
        from marlpipe.tracking.reports import ReportsTracker

        paths = self.paths
        return ReportsTracker(
            paths.fitness_report, paths.lineage_report, paths.lineage_figure,
            paths.fitness_members_figure, paths.fitness_figure, history=saved.history,
            rows=saved.lineage,
        )  # fmt: skip

    def _tracker(self, saved: checkpoints.EvolveState, generation: int) -> Tracker:
        """The given tracker, else MLflow's with ``tracking.enabled``, else one that records
        nothing."""
        from marlpipe.training import NullTracker

        params = self.params
        if self.tracker is not None:
            return self.tracker
        if not params.tracking.enabled:
            return NullTracker()
        from marlpipe.tracking import MlflowTracker

        return MlflowTracker(
            params.tracking.experiment, root=Path(self.store or self.root),
            run_name=run_name(params), params=params.to_dict(),
            parent_run_id=saved.mlflow_run_id, resumed_at=generation,
            resume_key=checkpoints.resume_key(params),
        )  # fmt: skip

    def trainer(self, factory: EnvFactory) -> Trainer:
        """Who trains the members (``population.experience``, ``population.backend``): the
        shared buffer's turns, merged experience here, or in processes or on Ray workers that
        each build ``factory.vec_env()`` once (a task's reset seed then takes over)."""
        from marlpipe.training.process_trainer import ProcessTrainer, pool_size
        from marlpipe.training.trainers import LocalTrainer, SharedTrainer

        population = self.params.population
        if population.experience == "shared":
            return SharedTrainer()
        if population.backend == "processes":
            workers = pool_size(population.workers, population.size)
            if workers > 1:
                return ProcessTrainer(factory, workers=workers,
                                      torch_threads=population.torch_threads)  # fmt: skip
            log.info("population.backend 'processes': one CPU, the members train in this process")
        if population.backend != "ray":
            return LocalTrainer()
        from marlpipe.training.ray_trainer import RayTrainer

        return RayTrainer.for_env(factory, population)


def _called_with_generation(
    on_generation: Callable[[int, Any], None] | None,
) -> Callable[[Any, Any], None] | None:
    """The loop's ``on_generation(result, state)`` calling ``on_generation(generation, result)``."""
    if on_generation is None:
        return None
    return lambda result, _state: on_generation(result.record.generation, result)


def _reached(target: float | None, saved: checkpoints.EvolveState) -> bool:
    return target is not None and saved.elite is not None and saved.elite_fitness >= target


__all__ = ["Experiment", "run_name"]
