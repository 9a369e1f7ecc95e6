"""The registered elite, the MLflow way: pyfunc loading, `mlflow models serve`, champion alias."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from marlpipe.config import Params, with_overrides
from marlpipe.io import write_json
from marlpipe.pipeline import envspec, evaluate, init_population
from marlpipe.pipeline.paths import Paths
from tests.helpers.local_server import free_port, serving

pytestmark = pytest.mark.e2e  # starts MLflow and model servers: deselect with -m 'not e2e'

REPO = Path(__file__).resolve().parents[2]
SMALL = {
    "seed": 3,
    "env": {"num_envs": 1},
    "net_config": {"hidden_sizes": [16]},
    "population": {"size": 3},
    "evaluate": {"episodes": 1},
    "tracking": {"enabled": True, "experiment": "serving"},
}


def make_elite(root: Path, population: Path, member: int) -> Path:
    """Make member ``member`` of the untrained ``population`` the elite in ``root``; its path."""
    elite = Paths(root).elite
    elite.mkdir(parents=True, exist_ok=True)
    source = sorted(Paths(population).initial_population.glob("*.pt"))[member]
    (elite / "elite.pt").write_bytes(source.read_bytes())
    card = {"fitness": 0.0, "generations": 0, "env_steps": 0,
            "env": {"name": "mpe2.simple_speaker_listener_v4", "kwargs": {}}}  # fmt: skip
    write_json(elite / "elite.json", card)
    return elite / "elite.pt"


@pytest.fixture(scope="module")
def params() -> Params:
    return with_overrides(Params(), SMALL)


@pytest.fixture(scope="module")
def population(tmp_path_factory: pytest.TempPathFactory, params: Params) -> Path:
    """A folder with an untrained population of 3 (no training: serving needs only weights)."""
    root = tmp_path_factory.mktemp("population")
    envspec.run(params, root)
    init_population.run(params, root)
    return root


@pytest.fixture(scope="module")
def registered(
    tmp_path_factory: pytest.TempPathFactory, population: Path, params: Params
) -> Iterator[tuple[str, str, Path]]:
    """Evaluate member 0 into a fresh store: (store URI, registered model name, checkpoint)."""
    root = tmp_path_factory.mktemp("registered")
    checkpoint = make_elite(root, population, 0)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setattr(evaluate, "_log_gif", lambda *args: None)
        result = evaluate.run(params, root)
        assert result["registered_version"] == 1
        yield uri, evaluate.registered_model_name(params, params.env.name), checkpoint


def observations(agent, batch: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        a: rng.uniform(-2, 2, (batch, *agent.spec.observations[a].shape)).astype(np.float32)
        for a in agent.agent_ids
    }


def greedy(checkpoint: Path, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from marlpipe.algos import load_agent

    return load_agent(checkpoint).get_action(obs, training=False)[1]


def test_registered_elite_loads_as_pyfunc(
    registered: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    from marlpipe.algos import load_agent

    uri, name, checkpoint = registered
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    assert int(client.get_model_version_by_alias(name, "champion").version) == 1
    version = client.get_model_version(name, "1")
    assert version.source.startswith("models:/")  # a logged model (with an MLmodel file)
    run = client.get_run(version.run_id)
    assert run.data.tags["registered_version"] == "1"
    raw = [a.path for a in client.list_artifacts(version.run_id, "elite")]
    assert "elite/elite.pt" in raw  # the checkpoint itself, for people who download it
    obs = observations(load_agent(checkpoint))
    expected = greedy(checkpoint, obs)
    for model_uri in (f"models:/{name}/1", f"models:/{name}@champion"):
        model = mlflow.pyfunc.load_model(model_uri)
        inputs = [spec.name for spec in model.metadata.get_input_schema().inputs]
        assert inputs == list(obs)
        actions = model.predict(obs)
        assert set(actions) == set(expected)
        for agent_id, action in actions.items():
            assert action.shape == (5, expected[agent_id].shape[1])
            np.testing.assert_allclose(action, expected[agent_id], rtol=0, atol=1e-6)


def test_champion_served_over_rest(registered: tuple[str, str, Path], tmp_path: Path) -> None:
    from marlpipe.algos import load_agent

    uri, name, checkpoint = registered
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{name}@champion",
        "--host", "127.0.0.1", "--port", str(port), "--env-manager", "local", "--workers", "1",
    ]  # fmt: skip
    with serving(command, f"{base}/ping", tmp_path, env):
        obs = observations(load_agent(checkpoint), batch=3)
        body = json.dumps({"inputs": {a: o.tolist() for a, o in obs.items()}}).encode()
        request = urllib.request.Request(
            f"{base}/invocations", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
        expected = greedy(checkpoint, obs)
        assert set(predictions) == set(expected)
        for agent_id, action in predictions.items():
            np.testing.assert_allclose(np.array(action), expected[agent_id], rtol=0, atol=1e-6)


def test_one_version_per_checkpoint_and_champion_only_when_better(
    tmp_path: Path, population: Path, params: Params, mlflow_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from mlflow.tracking import MlflowClient

    from marlpipe.io import file_sha256

    monkeypatch.setattr(evaluate, "_log_gif", lambda *args: None)
    score = {"value": 0.0}  # the score each evaluation reports, set below
    monkeypatch.setattr(
        evaluate, "episode_scores", lambda agent, p: ([score["value"]], {"a": score["value"]})
    )
    client = MlflowClient(mlflow_uri)
    name = evaluate.registered_model_name(params, params.env.name)

    def evaluate_member(member: int, value: float) -> int:
        checkpoint = make_elite(tmp_path, population, member)
        score["value"] = value
        version = evaluate.run(params, tmp_path)["registered_version"]
        tags = client.get_model_version(name, str(version)).tags
        assert tags["checkpoint_sha256"] == file_sha256(checkpoint)
        return version

    def champion() -> int:
        return int(client.get_model_version_by_alias(name, "champion").version)

    assert evaluate_member(0, -20.0) == 1
    assert champion() == 1
    assert evaluate_member(0, -20.0) == 1  # the same checkpoint again: no second version
    assert evaluate_member(1, -10.0) == 2  # better: the new champion
    assert champion() == 2
    assert client.get_model_version(name, "2").tags["score"] == "-10.0"
    assert evaluate_member(2, -15.0) == 3  # worse than the champion: registered, not promoted
    assert champion() == 2
    assert len(client.search_model_versions(f"name = '{name}'")) == 3
    runs = client.search_runs([client.get_experiment_by_name("serving").experiment_id])
    assert len(runs) == 4  # every evaluation is logged
