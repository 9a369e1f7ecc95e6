"""MLflow tracking: one parent run per evolve execution, one child run per generation.

Everything goes through ``MlflowClient`` with explicit run ids (no fluent "active run" stack),
so a tracker never leaks state into other code that uses ``mlflow`` in the same process.
``mlflow`` is imported inside functions: importing it costs about a second and a half.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from marlpipe.tracking.provenance import run_tags
from marlpipe.training.tracker import GenerationRecord, Tracker

_BATCH = 100  # MLflow accepts at most 100 params (and 1000 metrics) per log_batch call


def store_root(root: str | os.PathLike = ".") -> Path:
    """The folder of the local store (``mlflow.db``, ``mlartifacts/``): DVC's repository root
    (``$DVC_ROOT``) when a stage runs under DVC, else ``root``. ``dvc exp run --temp`` and queued
    experiments run their stages in a temporary copy of the repo that is deleted afterwards;
    their runs belong in the repo's store, next to the others."""
    return Path(os.environ.get("DVC_ROOT") or root).resolve()


def default_tracking_uri(root: str | os.PathLike = ".") -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<store root>/mlflow.db``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{store_root(root)}/mlflow.db"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}`` (lists and ``None`` as JSON), for MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value if isinstance(value, str) else json.dumps(value)
    return flat


def _client(tracking_uri: str):
    from marlpipe.pipeline.errors import require

    tracking = require("mlflow.tracking", "MLflow tracking (tracking.enabled: true)")
    return tracking.MlflowClient(tracking_uri=tracking_uri)


EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""Tells the MLflow UI these are training runs: it opens on the runs table, not GenAI views."""


def experiment_id(client: Any, name: str, root: str | os.PathLike = ".") -> str:
    """Id of experiment ``name``, created on first use (artefacts under ``<root>/mlartifacts``)
    and marked as model development unless it already says what kind it is."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        if EXPERIMENT_KIND[0] not in found.tags:
            client.set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND)
        return found.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        # Without a server MLflow would put artefacts under the *current* directory; pin them.
        location = (store_root(root) / "mlartifacts" / name).as_uri()
    return client.create_experiment(name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))


def log_batch(
    client: Any,
    run_id: str,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    step: int = 0,
) -> None:
    """Log metrics, params and tags of one run in as few requests as MLflow allows."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metric_list = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
    param_list = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
    tag_list = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    for chunk in _chunks(param_list):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(metric_list):
        client.log_batch(run_id, metrics=chunk)
    if tag_list:
        client.log_batch(run_id, tags=tag_list)


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    return (items[i : i + _BATCH] for i in range(0, len(items), _BATCH))


class MlflowTracker(Tracker):
    """A :class:`~marlpipe.training.tracker.Tracker` writing one MLflow child run per generation.

    ``start()`` opens (or, given ``parent_run_id`` that still exists, reopens) the parent run and
    logs ``params`` and tags; ``finish()`` closes it. Per generation the child run holds every
    member's fitness, index, parent and mutation, the elite's index, fitness and hyperparameters
    and the env steps, then the generation's outcome: every child's index, parent, elite flag,
    mutation (kind, where, old -> new) and hyperparameters, so the last generation's mutations
    are logged too. The parent gets step-wise metrics (step = generation) for curves: the
    fitness summary (elite, min, mean, max), every member's fitness, the elite's numeric
    hyperparameters, the counts of each mutation kind and the mean over members of each agent's
    actor and critic loss (``actor_loss.<agent>``, ``critic_loss.<agent>``; per member on the
    child run as ``member_<pos>.actor_loss.<agent>``).
    """

    def __init__(
        self,
        experiment: str = "marlpipe",
        *,
        root: str | os.PathLike = ".",
        tracking_uri: str | None = None,
        run_name: str = "evolve",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_run_id: str | None = None,
        resumed_at: int = 0,
    ) -> None:
        self.root = Path(root)
        self.tracking_uri = tracking_uri or default_tracking_uri(root)
        self.experiment = experiment
        self.run_name = run_name
        self.params = dict(params or {})
        self.tags = dict(tags or {})
        self.run_id: str | None = parent_run_id
        """The parent run's id (set by :meth:`start`)."""
        self.resumed_at = resumed_at
        """The generation a resumed run continues at (0: a run from the start)."""
        self._client: Any = None
        self._parent_steps: set[int] = set()  # generations already on the parent's curves

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` (created on first use)."""
        if self._client is None:
            self._client = _client(self.tracking_uri)
        return self._client

    def check_store(self, timeout: int = 5) -> None:
        """Fail within seconds when the tracking store does not answer, before any work.

        MLflow retries an HTTP store for minutes by default (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
        ``..._TIMEOUT``); this one request is made without retries and with a short timeout.
        Local stores (``sqlite:``, folders) are always there and are not probed; an existing
        ``sqlite:`` file must be an SQLite database (its header is read, the file never changed).
        """
        from marlpipe.pipeline.errors import UserError
        from marlpipe.tracking.local_store import check_sqlite_store

        check_sqlite_store(self.tracking_uri)
        if not self.tracking_uri.startswith(("http:", "https:")):
            return
        probe = {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout)),  # MLflow reads an integer
        }
        try:
            with _environ(**probe):
                self.client.search_experiments(max_results=1)
        except Exception as err:
            reason = " ".join(str(err).split())[:200]
            raise UserError(
                f"MLflow tracking store {self.tracking_uri} does not answer ({reason}): start "
                "it, or unset MLFLOW_TRACKING_URI to use the local mlflow.db"
            ) from None

    def start(self) -> str:
        """Open the parent run and return its id; an HTTP store that does not answer fails
        here within seconds (:meth:`check_store`).

        Given ``parent_run_id`` (a resume), that run is reopened only if it is still active in
        this store and experiment and its logged params are exactly ``params``; otherwise a new
        run is made, tagged ``resumed_from_run`` and ``resumed_at_generation``, so that a run's
        params always describe every generation it holds.
        """
        self.check_store()
        client = self.client
        exp_id = experiment_id(client, self.experiment, self.root)
        previous, self.run_id = self.run_id, None
        if previous is not None and self._reopenable(previous, exp_id):
            client.update_run(previous, status="RUNNING")
            self.run_id = previous
            return previous
        tags = {"mlflow.runName": self.run_name, **run_tags(self.root), **self.tags}
        if previous is not None:
            tags.update(resumed_from_run=previous, resumed_at_generation=self.resumed_at)
        run = client.create_run(exp_id, tags={k: str(v) for k, v in tags.items()})
        self.run_id = run.info.run_id
        log_batch(client, self.run_id, params=flatten(self.params))
        return self.run_id

    def _reopenable(self, run_id: str, exp_id: str) -> bool:
        try:
            run = self.client.get_run(run_id)
        except Exception:  # MlflowException: a run of another store
            return False
        if run.info.lifecycle_stage != "active" or run.info.experiment_id != exp_id:
            return False
        logged = {k: v[:6000] for k, v in run.data.params.items()}
        return logged == {k: str(v)[:6000] for k, v in flatten(self.params).items()}

    def mark_abandoned(self, run_id: str) -> bool:
        """Mark ``run_id``, a run whose partial state was set aside and will never be continued,
        as ``KILLED`` if it still says ``RUNNING`` (a kill -9 leaves it so); ``True`` if it did."""
        try:
            run = self.client.get_run(run_id)
        except Exception:  # MlflowException: a run of another store
            return False
        if run.info.status != "RUNNING" or run_id == self.run_id:
            return False
        self.client.set_tag(run_id, "abandoned", "its partial run was set aside (see evolve)")
        self.client.set_terminated(run_id, status="KILLED")
        return True

    def discard_generations_from(self, generation: int) -> int:
        """Delete child runs of ``generation`` and later: a run killed after logging a generation
        but before checkpointing it replays that generation on resume. Returns how many."""
        if self.run_id is None:
            return 0
        parent = self.client.get_run(self.run_id)
        children = self.client.search_runs(
            [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{self.run_id}'"
        )
        stale = [c for c in children if int(c.data.tags.get("generation", -1)) >= generation]
        for child in stale:
            self.client.delete_run(child.info.run_id)
        # The parent's curves cannot be edited: a replayed generation (the same numbers, the
        # run is deterministic) is not drawn on them twice.
        history = self.client.get_metric_history(self.run_id, "elite_fitness")
        self._parent_steps = {int(point.step) for point in history}
        return len(stale)

    def log_generation(self, record: GenerationRecord) -> None:
        """Write ``record`` as a child run and as step ``generation`` of the parent's metrics."""
        if self.run_id is None:
            self.start()
        client, gen = self.client, record.generation
        parent = client.get_run(self.run_id)
        child = client.create_run(
            parent.info.experiment_id,
            tags={"mlflow.parentRunId": self.run_id, "mlflow.runName": f"generation-{gen:03d}",
                  "generation": str(gen)},
        )  # fmt: skip
        fitness = [m.fitness for m in record.members]
        summary = {
            "elite_fitness": record.elite_fitness,
            "mean_fitness": sum(fitness) / len(fitness),
            "max_fitness": max(fitness),
            "min_fitness": min(fitness),
            "env_steps": record.env_steps,
            "wall_time": record.wall_time,
            "epsilon": record.epsilon,
            **{f"member_{pos}.fitness": value for pos, value in enumerate(fitness)},
        }
        metrics = {**summary, "elite_index": record.elite_index}
        params: dict[str, Any] = {"generation": gen}
        elite = next((m for m in record.members if m.index == record.elite_index), None)
        for pos, member in enumerate(record.members):
            metrics[f"member_{pos}.fitness"] = member.fitness
            metrics[f"member_{pos}.selection_fitness"] = member.selection_fitness
            metrics[f"member_{pos}.learn_calls"] = member.learn_calls
            if member.train_return is not None:
                metrics[f"member_{pos}.train_return"] = member.train_return
            for kind in ("actor_loss", "critic_loss"):
                for agent_id, value in getattr(member, kind).items():
                    metrics[f"member_{pos}.{kind}.{agent_id}"] = value
            params[f"member_{pos}.index"] = member.index
            params[f"member_{pos}.parent"] = json.dumps(member.parent)
            params[f"member_{pos}.mutation"] = json.dumps(member.mutation)
            if member.worker is not None:
                params[f"member_{pos}.worker"] = member.worker
        kinds: dict[str, int] = {}
        for pos, offspring in enumerate(record.children):  # this generation's selection + mutation
            params[f"child_{pos}.index"] = offspring.index
            params[f"child_{pos}.parent"] = json.dumps(offspring.parent)
            params[f"child_{pos}.elite"] = offspring.elite
            params[f"child_{pos}.mutation"] = json.dumps(offspring.mutation, default=str)
            params.update(flatten(offspring.hyperparameters, f"child_{pos}.hp."))
            kind = (offspring.mutation or {}).get("kind", "none")
            kinds[kind] = kinds.get(kind, 0) + 1
        summary.update({f"mutations.{kind}": count for kind, count in kinds.items()})
        summary.update(mean_losses(record))
        metrics.update(summary)
        if elite is not None:
            params.update(flatten(elite.hyperparameters, "elite."))
            summary.update(
                {
                    f"elite.{name}": value
                    for name, value in elite.hyperparameters.items()
                    if isinstance(value, int | float) and not isinstance(value, bool)
                }
            )
        for key, value in record.extra.items():
            if isinstance(value, (int, float)):
                metrics[f"extra.{key}"] = value
        log_batch(client, child.info.run_id, metrics=metrics, params=params, step=gen)
        client.set_terminated(child.info.run_id)
        if gen not in self._parent_steps:
            log_batch(client, self.run_id, metrics=summary, step=gen)
            self._parent_steps.add(gen)

    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Log run-level metrics (e.g. the evaluation's scores) on the run."""
        log_batch(self.client, self.run_id, metrics=metrics)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on the run."""
        log_batch(self.client, self.run_id, tags=tags)

    def log_metrics_to(self, run_id: str, metrics: dict[str, float]) -> bool:
        """Log ``metrics`` on another run of this store (e.g. the evolve run an evaluation
        scores); ``False`` when that run is not in this store."""
        if not _run_exists(self.client, run_id):
            return False
        log_batch(self.client, run_id, metrics=metrics)
        return True

    def log_artifacts(self, local_dir: str | os.PathLike, artifact_path: str) -> None:
        """Upload a directory (e.g. the elite checkpoint) to the run."""
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_model(
        self, name: str, save: Callable[[Path, Any], None], model_type: str | None = None
    ) -> tuple[str, str]:
        """Log an MLflow model (a folder with an ``MLmodel`` file) as an output of the run.

        ``save(path, mlflow_model)`` writes the model to ``path`` with the given
        ``mlflow.models.Model`` metadata (e.g. ``mlflow.pyfunc.save_model(path, ...,
        mlflow_model=mlflow_model)``). What the fluent ``mlflow.<flavor>.log_model`` does, but
        on this tracker's run and store, with no active run or tracking URI set globally.
        Returns the model's URI (``models:/<model_id>``) and its id.
        """
        import tempfile

        from mlflow.entities import LoggedModelOutput
        from mlflow.models import Model

        client = self.client
        experiment = client.get_run(self.run_id).info.experiment_id
        model = client.create_logged_model(
            experiment, name=name, source_run_id=self.run_id, model_type=model_type
        )
        metadata = Model(
            artifact_path=model.artifact_location, model_uuid=model.model_id,
            run_id=self.run_id, model_id=model.model_id,
        )  # fmt: skip
        try:
            with tempfile.TemporaryDirectory() as tmp:
                local = Path(tmp) / "model"
                save(local, metadata)
                client.log_model_artifacts(model.model_id, str(local))
        except BaseException:
            client.finalize_logged_model(model.model_id, "FAILED")
            raise
        client.finalize_logged_model(model.model_id, "READY")
        client.log_outputs(self.run_id, [LoggedModelOutput(model.model_id, step=0)])
        return f"models:/{model.model_id}", model.model_id

    def register_model(
        self,
        name: str,
        model_uri: str,
        tags: dict[str, Any] | None = None,
        model_id: str | None = None,
    ) -> int:
        """Register ``model_uri`` (``models:/<model_id>`` from :meth:`log_model`) as a new version
        of ``name``, made by this run; return the version."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
        except MlflowException:
            pass  # already registered: add a version below
        # Given a models:/ URI, MLflow's registry looks the logged model up through the
        # process-wide tracking URI (MLFLOW_TRACKING_URI, else mlflow.db in the working
        # directory), not this client's: in a queued DVC experiment, which runs in another
        # directory, that is another store and registration failed. Point it at this store
        # for that one call.
        with _environ(MLFLOW_TRACKING_URI=self.tracking_uri):
            version = self.client.create_model_version(
                name, model_uri, run_id=self.run_id, tags=tags, model_id=model_id
            )
        return int(version.version)

    def find_model_version(self, name: str, tag: str, value: str) -> int | None:
        """The oldest version of registered model ``name`` whose tag ``tag`` is ``value``."""
        found = [
            int(v.version)
            for v in self.client.search_model_versions(f"name = '{name}'")
            if v.tags.get(tag) == value
        ]
        return min(found, default=None)

    def promote(self, name: str, version: int, alias: str = "champion", key: str = "score") -> bool:
        """Point ``alias`` of ``name`` at ``version`` if nothing has it yet or ``version``'s tag
        ``key`` (a number, higher is better) beats that of the version that has it."""
        from mlflow.exceptions import MlflowException

        client = self.client
        try:
            current = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            current = None
        score = float(client.get_model_version(name, str(version)).tags[key])
        if current is not None and not score > float(current.tags.get(key, "-inf")):
            return False
        client.set_registered_model_alias(name, alias, str(version))
        return True

    def finish(self, status: str = "FINISHED") -> None:
        """Close the parent run (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, status=status)


def mean_losses(record: GenerationRecord) -> dict[str, float]:
    """``actor_loss.<agent>`` and ``critic_loss.<agent>``: the mean over the members that have
    that loss this generation (members that did not learn, or never updated their actors, are
    left out rather than counted as zero)."""
    sums: dict[str, list[float]] = {}
    for member in record.members:
        for kind in ("actor_loss", "critic_loss"):
            for agent_id, value in getattr(member, kind).items():
                sums.setdefault(f"{kind}.{agent_id}", []).append(value)
    return {name: sum(values) / len(values) for name, values in sums.items()}


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block; put back what was there (or nothing)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_exists(client: Any, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except Exception:  # MlflowException for a run that belongs to another store
        return False
