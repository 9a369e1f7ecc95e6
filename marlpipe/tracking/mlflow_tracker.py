"""MLflow tracking: one parent run per evolve execution, one child run per generation.

Everything goes through ``MlflowClient`` with explicit run ids (no fluent "active run" stack),
so a tracker never leaks state into other code that uses ``mlflow`` in the same process.
``mlflow`` is imported inside functions: importing it costs about a second and a half. The
model registry (logging, registering and promoting the elite's model) is in
:mod:`marlpipe.tracking.model_registry`, the tracker's methods for it delegating there; the
store (its location, client, experiments, batched logging) in :mod:`marlpipe.tracking.store`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from marlpipe.tracking import model_registry, reopen, store
from marlpipe.tracking.provenance import run_tags
from marlpipe.tracking.store import default_tracking_uri, experiment_id, flatten, log_batch
from marlpipe.tracking.summary import mlflow_metrics
from marlpipe.training.tracker import GenerationRecord, Tracker


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

    A resume continues the parent run whose ``resume_key`` tag is ``resume_key`` (evolve: what
    a checkpoint must match), logging params that changed as ``resumed.g<generation>.<key>``
    and its new ``run_name`` (the former in ``previous_run_names``): see :mod:`.reopen`.
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
        resume_key: str | None = None,
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
        self.resume_key = resume_key
        """What shapes the results (the run's ``resume_key`` tag; ``None``: every param)."""
        self._client: Any = None
        self._parent_steps: set[int] = set()  # generations already on the parent's curves

    @property
    def client(self) -> Any:
        """The ``MlflowClient`` (created on first use)."""
        if self._client is None:
            self._client = store.client(self.tracking_uri)
        return self._client

    def check_store(self, timeout: int = 5) -> None:
        """Fail within seconds when the tracking store does not answer, before any work.

        MLflow retries an HTTP store for minutes by default (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
        ``..._TIMEOUT``); this one request is made without retries and with a short timeout.
        Local stores are not probed; an existing ``sqlite:`` file must be an SQLite database,
        the repo's own keep its artefacts in the repo (``local_store.check_repo_store``)."""
        from marlpipe.errors import UserError
        from marlpipe.tracking.local_store import check_repo_store, check_sqlite_store

        check_sqlite_store(self.tracking_uri)
        check_repo_store(self.tracking_uri, store.store_root(self.root), self.experiment)
        if not self.tracking_uri.startswith(("http:", "https:")):
            return
        probe = {
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
            "MLFLOW_HTTP_REQUEST_TIMEOUT": str(int(timeout)),  # MLflow reads an integer
        }
        try:
            with store.environ(**probe):
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
        this store and experiment and its ``resume_key`` tag is ``resume_key`` (without a key:
        its params are ``params``); otherwise a new run is made, tagged ``resumed_from_run`` and
        ``resumed_at_generation``, so that a run's params always describe every generation.
        """
        self.check_store()
        client = self.client
        exp_id = experiment_id(client, self.experiment, self.root)
        previous, self.run_id = self.run_id, None
        if previous is not None and reopen.continue_run(
            client, previous, exp_id, flatten(self.params), self.resume_key,
            name=self.run_name, generation=self.resumed_at, root=self.root,
        ):  # fmt: skip
            self.run_id = previous
            return previous
        key = {} if self.resume_key is None else {reopen.KEY_TAG: self.resume_key}
        self.run_name = reopen.unused_name(client, exp_id, self.run_name)
        tags = {"mlflow.runName": self.run_name, **run_tags(self.root), **key, **self.tags}
        if previous is not None:
            tags.update(resumed_from_run=previous, resumed_at_generation=self.resumed_at)
        run = client.create_run(exp_id, tags={k: str(v) for k, v in tags.items()})
        self.run_id = run.info.run_id
        log_batch(client, self.run_id, params=flatten(self.params))
        return self.run_id

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
        logged = mlflow_metrics(record)  # what each run gets: see marlpipe.tracking.summary
        log_batch(client, child.info.run_id, metrics=logged.child, params=logged.params,
                  step=gen)  # fmt: skip
        client.set_terminated(child.info.run_id)
        if gen not in self._parent_steps:
            log_batch(client, self.run_id, metrics=logged.parent, step=gen)
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
        if not store.run_exists(self.client, run_id):
            return False
        log_batch(self.client, run_id, metrics=metrics)
        return True

    def log_artifacts(self, local_dir: str | os.PathLike, artifact_path: str) -> None:
        """Upload a directory (e.g. the elite checkpoint) to the run."""
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def log_model(
        self, name: str, save: Callable[[Path, Any], None], model_type: str | None = None
    ) -> tuple[str, str]:
        """Log an MLflow model as an output of the run (see
        :func:`~marlpipe.tracking.model_registry.log_model`); its URI and id."""
        return model_registry.log_model(self.client, self.run_id, name, save, model_type)

    def register_model(
        self,
        name: str,
        model_uri: str,
        tags: dict[str, Any] | None = None,
        model_id: str | None = None,
    ) -> int:
        """Register ``model_uri`` as a new version of ``name``, made by this run (see
        :func:`~marlpipe.tracking.model_registry.register_model`); return the version."""
        return model_registry.register_model(
            self.client, self.tracking_uri, self.run_id, name, model_uri, tags, model_id
        )

    def find_model_version(self, name: str, tag: str, value: str) -> int | None:
        """The oldest version of registered model ``name`` whose tag ``tag`` is ``value``."""
        return model_registry.find_model_version(self.client, name, tag, value)

    def promote(self, name: str, version: int, alias: str = "champion", key: str = "score") -> bool:
        """Point ``alias`` of ``name`` at ``version`` if it beats the version that has it (see
        :func:`~marlpipe.tracking.model_registry.promote`)."""
        return model_registry.promote(self.client, name, version, alias, key)

    def finish(self, status: str = "FINISHED") -> None:
        """Close the parent run (``FINISHED``; ``FAILED``, ``KILLED``: :func:`store.terminate`)."""
        if self.run_id is not None:
            store.terminate(self.client, self.run_id, status)
