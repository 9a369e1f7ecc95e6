"""MLflow tracking: parent/child runs, evaluation run and registered model, REST read-back."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from marlpipe.config import Params, with_overrides
from marlpipe.pipeline import envspec, evaluate, evolve, init_population
from marlpipe.tracking import MlflowTracker, default_tracking_uri
from marlpipe.training import GenerationRecord, MemberRecord
from tests.helpers.local_server import free_port, serving


def record(generation: int = 0) -> GenerationRecord:
    members = [
        MemberRecord(index=i, fitness=-10.0 - i, selection_fitness=-10.0 - i, parent=None,
                     mutation={"kind": "none"}, hyperparameters={"lr_actor": 1.0e-3},
                     train_return=-50.0, learn_calls=3)
        for i in range(2)
    ]  # fmt: skip
    return GenerationRecord(
        generation=generation, env_steps=400 * (generation + 1), members=members,
        elite_index=0, elite_fitness=-10.0, wall_time=0.1,
    )  # fmt: skip


def test_default_uri_is_absolute_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example:5000")
    assert default_tracking_uri(tmp_path) == "http://example:5000"


def test_store_follows_dvc_root_out_of_a_temporary_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `dvc exp run --temp` runs stages in .dvc/tmp/exps/...; DVC_ROOT names the real repo.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    executor = tmp_path / ".dvc" / "tmp" / "exps" / "standalone" / "tmpx"
    assert default_tracking_uri(executor) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"


def test_evolve_and_evaluate_are_logged(
    tmp_path: Path, tiny_params: Params, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("DVC_EXP_NAME", "exp-test")
    params = with_overrides(tiny_params, {"tracking": {"enabled": True}})
    envspec.run(params, tmp_path)
    init_population.run(params, tmp_path)
    result = evolve.run(params, tmp_path)
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name("tests")
    parent = client.get_run(result.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["dvc_exp_name"] == "exp-test"
    assert parent.data.params["population.size"] == "2"
    # The UI opens on training runs; the runs say who ran what.
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert parent.data.tags["mlflow.user"] and parent.data.tags["mlflow.source.name"]
    # Curves on the parent, one point per generation: every member's fitness, the summary and
    # the elite's hyperparameters; an index is no quantity to plot.
    for name in ("member_0.fitness", "member_1.fitness", "min_fitness", "elite.batch_size"):
        assert [m.step for m in client.get_metric_history(parent.info.run_id, name)] == [0, 1]
    assert "elite_index" not in parent.data.metrics
    children = client.search_runs(
        [exp.experiment_id], f"tags.mlflow.parentRunId = '{result.mlflow_run_id}'"
    )
    assert len(children) == 2
    child = next(r for r in children if r.data.tags["generation"] == "1")
    assert child.data.metrics["member_0.fitness"] == pytest.approx(result.history[1]["member_0"])
    assert child.data.metrics["env_steps"] == result.history[1]["env_steps"]
    assert "member_1.mutation" in child.data.params and "member_1.parent" in child.data.params
    assert "elite.batch_size" in child.data.params
    assert child.data.metrics["elite_fitness"] == pytest.approx(result.history[1]["elite_fitness"])
    assert "elite_index" in child.data.metrics
    # the generation's own selection + mutation outcome, the last generation's included
    assert json.loads(child.data.params["child_1.mutation"])["kind"]
    assert "child_0.hp.lr_actor" in child.data.params
    assert sum(v for k, v in child.data.metrics.items() if k.startswith("mutations.")) == 2
    artifacts = [a.path for a in client.list_artifacts(result.mlflow_run_id, "elite")]
    assert "elite/elite.pt" in artifacts
    # Per-agent loss curves (the members learned in both generations) and the figures.
    for agent in ("speaker_0", "listener_0"):
        for name in (f"actor_loss.{agent}", f"critic_loss.{agent}"):
            assert [m.step for m in client.get_metric_history(parent.info.run_id, name)] == [0, 1]
        assert f"member_0.critic_loss.{agent}" in child.data.metrics
    figures = [a.path for a in client.list_artifacts(result.mlflow_run_id, "figures")]
    assert figures == ["figures/fitness.png", "figures/fitness_members.png", "figures/lineage.png"]
    for name in ("fitness.png", "lineage.png", "fitness_members.png"):
        assert (tmp_path / "reports" / name).read_bytes()[:4] == b"\x89PNG"
    lineage = json.loads((tmp_path / "reports" / "lineage.json").read_text())
    assert [m["fitness"] for m in lineage[1]["members"]] == [
        result.history[1]["member_0"], result.history[1]["member_1"],
    ]  # fmt: skip
    assert [m["index"] for m in lineage[1]["members"]] == [c["index"]
                                                           for c in lineage[0]["children"]]
    # The run id links evaluate to evolve from outside models/: a DVC output that held it
    # would change its hash on every run of the same params.
    card = json.loads((tmp_path / "models" / "elite" / "elite.json").read_text())
    assert result.mlflow_run_id not in json.dumps(card)

    metrics = evaluate.run(params, tmp_path)
    runs = client.search_runs([exp.experiment_id], "tags.evolve_run_id != ''")
    assert len(runs) == 1
    assert runs[0].data.tags["evolve_run_id"] == result.mlflow_run_id
    assert runs[0].data.metrics["score"] == pytest.approx(metrics["score"])
    assert runs[0].data.tags["mlflow.parentRunId"] == result.mlflow_run_id  # nested under it
    evolved = client.get_run(result.mlflow_run_id)  # sortable by the elite's evaluated score
    assert evolved.data.metrics["eval.score"] == pytest.approx(metrics["score"])
    gifs = [a.path for a in client.list_artifacts(runs[0].info.run_id, "render")]
    assert gifs == ["render/elite.gif"]
    name = evaluate.registered_model_name(params, params.env.name)
    assert name == "marlpipe-simple_speaker_listener_v4-matd3"
    versions = client.search_model_versions(f"name='{name}'")
    assert [v.version for v in versions] == [metrics["registered_version"]]


def test_resumed_run_reuses_parent_only_with_the_same_params(
    tmp_path: Path, mlflow_uri: str
) -> None:
    tracker = MlflowTracker("tests", root=tmp_path, params={"a": {"b": 1}})
    run_id = tracker.start()
    tracker.log_generation(record(0))
    tracker.finish("KILLED")
    again = MlflowTracker("tests", root=tmp_path, params={"a": {"b": 1}}, parent_run_id=run_id)
    assert again.start() == run_id
    again.log_generation(record(1))
    again.finish()
    history = again.client.get_metric_history(run_id, "env_steps")
    assert [m.step for m in history] == [0, 1]
    # Other params: the earlier run is never reopened; the new one says where it came from.
    other = MlflowTracker(
        "tests", root=tmp_path, params={"a": {"b": 2}}, parent_run_id=run_id, resumed_at=2
    )
    new_id = other.start()
    assert new_id != run_id
    tags = other.client.get_run(new_id).data.tags
    assert tags["resumed_from_run"] == run_id and tags["resumed_at_generation"] == "2"
    assert other.client.get_run(run_id).data.params == {"a.b": "1"}
    # Another experiment: not reopened either.
    moved = MlflowTracker("other", root=tmp_path, params={"a": {"b": 1}}, parent_run_id=run_id)
    assert moved.start() != run_id


class Killed(Exception):
    """Stands in for a kill between generations."""


def kill_after_first(generation: int, _result: object) -> None:
    raise Killed


def evolve_runs(client: object, experiment: str = "tests") -> list:
    exp = client.get_experiment_by_name(experiment).experiment_id
    return [r for r in client.search_runs([exp]) if "mlflow.parentRunId" not in r.data.tags]


def test_a_resume_under_changed_neutral_settings_and_a_new_name_continues_the_run(
    tmp_path: Path, tiny_params: Params, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed as ``dvc exp run -n exp-a``, resumed as ``exp-b`` with result-neutral settings
    changed (the checkpoint is accepted): one MLflow run, named ``exp-b``, whose params say
    what changed at which generation."""
    from mlflow.tracking import MlflowClient

    params = with_overrides(tiny_params, {"tracking": {"enabled": True}})
    envspec.run(params, tmp_path)
    init_population.run(params, tmp_path)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-a")
    with pytest.raises(Killed):
        evolve.run(params, tmp_path, on_generation=kill_after_first)
    monkeypatch.setenv("DVC_EXP_NAME", "exp-b")
    fast = params.env.fast
    changed = with_overrides(params, {"env": {"fast": not fast}, "evaluate": {"episodes": 5}})
    result = evolve.run(changed, tmp_path)
    client = MlflowClient(mlflow_uri)
    [run] = evolve_runs(client)
    assert run.info.run_id == result.mlflow_run_id and run.info.status == "FINISHED"
    logged = run.data.params
    assert logged["evaluate.episodes"] == "3" and logged["env.fast"] == json.dumps(fast)
    resumed = {k: v for k, v in logged.items() if k.startswith("resumed.")}
    assert resumed == {
        "resumed.g1.evaluate.episodes": "5", "resumed.g1.env.fast": json.dumps(not fast),
    }  # fmt: skip
    assert run.data.tags["mlflow.runName"] == "exp-b" and run.data.tags["dvc_exp_name"] == "exp-b"
    assert run.data.tags["previous_run_names"] == "exp-a"
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(c.data.tags["generation"] for c in children) == ["0", "1"]


def test_a_fresh_start_marks_the_set_aside_run_killed(
    tmp_path: Path, tiny_params: Params, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``marlpipe evolve --fresh`` after a kill -9 (the run still says ``RUNNING``)."""
    from mlflow.tracking import MlflowClient

    params = with_overrides(tiny_params, {"tracking": {"enabled": True}})
    envspec.run(params, tmp_path)
    init_population.run(params, tmp_path)
    with monkeypatch.context() as patch:  # a kill -9 closes nothing
        patch.setattr(MlflowTracker, "finish", lambda self, status="FINISHED": None)
        with pytest.raises(Killed):
            evolve.run(params, tmp_path, on_generation=kill_after_first)
    client = MlflowClient(mlflow_uri)
    [killed] = evolve_runs(client)
    assert killed.info.status == "RUNNING"
    result = evolve.run(params, tmp_path, resume=False)
    assert result.mlflow_run_id != killed.info.run_id
    old = client.get_run(killed.info.run_id)
    assert old.info.status == "KILLED" and "abandoned" in old.data.tags
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"


def test_reopening_follows_the_resume_key_and_records_each_resume(
    tmp_path: Path, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def tracker(name: str, n: int, key: str, **kwargs: object) -> MlflowTracker:
        params = {"a": {"b": 1}, "n": n}
        return MlflowTracker("tests", root=tmp_path, run_name=name, params=params,
                             resume_key=key, **kwargs)  # fmt: skip

    run_id = tracker("exp-a", 1, "k").start()
    again = tracker("exp-b", 2, "k", parent_run_id=run_id, resumed_at=1)
    assert again.start() == run_id
    again.finish("KILLED")
    # Killed again before generation 1 was checkpointed; resumed under yet another value.
    third = tracker("exp-b", 3, "k", parent_run_id=run_id, resumed_at=1)
    assert third.start() == run_id
    third.finish("KILLED")
    fourth = tracker("exp-c", 3, "k", parent_run_id=run_id, resumed_at=2)
    assert fourth.start() == run_id
    run = fourth.client.get_run(run_id)
    assert run.data.params == {
        "a.b": "1", "n": "1", "resumed.g1.n": "2", "resumed.g1-2.n": "3",
    }  # fmt: skip
    assert run.data.tags["mlflow.runName"] == "exp-c"
    assert run.data.tags["previous_run_names"] == "exp-a, exp-b"
    assert run.data.tags["resume_key"] == "k"
    # Resumed outside a DVC experiment: named as such runs are, the experiment's tag gone.
    fourth.finish("KILLED")
    monkeypatch.setenv("DVC_EXP_NAME", "exp-c")
    tracker("exp-c", 3, "k", parent_run_id=run_id, resumed_at=2).start()
    assert fourth.client.get_run(run_id).data.tags["dvc_exp_name"] == "exp-c"
    monkeypatch.delenv("DVC_EXP_NAME")
    tracker("spread-matd3-s0", 3, "k", parent_run_id=run_id, resumed_at=2).start()
    tags = fourth.client.get_run(run_id).data.tags
    assert tags["mlflow.runName"] == "spread-matd3-s0" and "dvc_exp_name" not in tags
    assert tags["previous_run_names"] == "exp-a, exp-b, exp-c"
    # Another resume key (what shapes the results changed): never reopened.
    other = tracker("exp-c", 3, "other", parent_run_id=run_id, resumed_at=2)
    new_id = other.start()
    assert new_id != run_id
    assert other.client.get_run(new_id).data.tags["resumed_from_run"] == run_id


def test_resume_discards_generations_logged_after_the_checkpoint(
    tmp_path: Path, mlflow_uri: str
) -> None:
    tracker = MlflowTracker("tests", root=tmp_path)
    run_id = tracker.start()
    for generation in range(3):  # generation 2 was logged, then the run was killed before
        tracker.log_generation(record(generation))  # its checkpoint was written
    again = MlflowTracker("tests", root=tmp_path, parent_run_id=run_id)
    again.start()
    assert again.discard_generations_from(2) == 1
    again.log_generation(record(2))
    again.log_generation(record(3))
    exp = again.client.get_run(run_id).info.experiment_id
    children = again.client.search_runs([exp], f"tags.mlflow.parentRunId = '{run_id}'")
    assert sorted(c.data.tags["generation"] for c in children) == ["0", "1", "2", "3"]
    # The replayed generation is drawn once on the parent's curves.
    for name in ("elite_fitness", "env_steps", "member_0.fitness"):
        steps = [m.step for m in again.client.get_metric_history(run_id, name)]
        assert sorted(steps) == [0, 1, 2, 3], name


def test_losses_are_curves_per_agent(tmp_path: Path, mlflow_uri: str) -> None:
    """Per-agent losses: every member's on the child run, the mean over the members that have
    one on the parent, one point per generation."""
    tracker = MlflowTracker("tests", root=tmp_path)
    run_id = tracker.start()
    for generation in range(3):
        members = [
            MemberRecord(index=i, fitness=-1.0, selection_fitness=-1.0, parent=None,
                         mutation=None, hyperparameters={}, train_return=None, learn_calls=2,
                         actor_loss={"a_0": float(generation + i)} if i < 2 else {},
                         critic_loss={"a_0": 0.5 * i, "b_1": 1.0})
            for i in range(3)
        ]  # fmt: skip
        tracker.log_generation(GenerationRecord(
            generation=generation, env_steps=10, members=members, elite_index=0,
            elite_fitness=-1.0, wall_time=0.1,
        ))  # fmt: skip
    tracker.finish()
    client = tracker.client
    actor = client.get_metric_history(run_id, "actor_loss.a_0")
    assert [(m.step, m.value) for m in actor] == [(0, 0.5), (1, 1.5), (2, 2.5)]  # members 0, 1
    critic = client.get_metric_history(run_id, "critic_loss.a_0")
    assert [(m.step, m.value) for m in critic] == [(0, 0.5), (1, 0.5), (2, 0.5)]
    assert [m.step for m in client.get_metric_history(run_id, "critic_loss.b_1")] == [0, 1, 2]
    exp = client.get_run(run_id).info.experiment_id
    child = client.search_runs([exp], f"tags.generation = '2' and tags.mlflow.parentRunId = "
                                      f"'{run_id}'")[0]  # fmt: skip
    assert child.data.metrics["member_1.actor_loss.a_0"] == 3.0
    assert child.data.metrics["member_2.critic_loss.b_1"] == 1.0
    assert "member_2.actor_loss.a_0" not in child.data.metrics


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.skipif(shutil.which("mlflow") is None, reason="mlflow CLI not installed")
@pytest.mark.e2e  # starts an MLflow server
def test_generation_read_back_over_rest(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner: one process less
    command = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
        "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1",
    ]  # fmt: skip
    with serving(command, f"{base}/health", tmp_path, env):
        tracker = MlflowTracker("rest", root=tmp_path, tracking_uri=base)
        tracker.start()
        tracker.log_generation(record(0))
        tracker.finish()
        query = urllib.parse.urlencode({"run_id": tracker.run_id, "metric_key": "elite_fitness"})
        history = get_json(f"{base}/api/2.0/mlflow/metrics/get-history?{query}")["metrics"]
        assert [(m["step"], m["value"]) for m in history] == [(0, -10.0)]
        runs = get_json(f"{base}/api/2.0/mlflow/runs/get?run_id={tracker.run_id}")
        assert runs["run"]["info"]["status"] == "FINISHED"


def _open_store(uri: str, barrier: Any, out: Any) -> None:
    """One process's first use of the store: every process starts it at once."""
    import traceback

    from marlpipe.tracking import store

    barrier.wait(60)
    try:
        client = store.client(uri)
        store.experiment_id(client, "tests", Path(uri.removeprefix("sqlite:///")).parent)
        client.search_registered_models(max_results=1)
        out.put("ok")
    except BaseException:
        out.put(traceback.format_exc(limit=1).strip().splitlines()[-1])


def test_a_fresh_store_opened_by_several_processes_at_once(tmp_path: Path) -> None:
    """MLflow creates an empty SQLite store's tables without a lock: processes opening it at
    once (``dvc queue start -j 2``) failed on its migrations; the store is made once, locked."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    uri, count = f"sqlite:///{tmp_path / 'mlflow.db'}", 3
    barrier, out = ctx.Barrier(count), ctx.Queue()
    procs = [ctx.Process(target=_open_store, args=(uri, barrier, out)) for _ in range(count)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(30)
    assert results == ["ok"] * count
    assert (tmp_path / "mlflow.db.lock").exists()


class _RacingClient:
    """An ``MlflowClient`` whose promotes read the champion together (a barrier, given up after
    a second when a lock keeps the other out) and whose first move to ``slow`` comes late:
    without care, the lower score would be written last."""

    def __init__(self, client: Any, barrier: Any, slow: str, uri: str | None = None) -> None:
        self._client, self._barrier, self._slow = client, barrier, slow
        self.tracking_uri = uri or client.tracking_uri
        self._read = self._moved = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_model_version_by_alias(self, *args: Any) -> Any:
        import threading

        if not self._read:
            self._read = True
            try:
                self._barrier.wait(1.0)
            except threading.BrokenBarrierError:
                pass
        return self._client.get_model_version_by_alias(*args)

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        import time

        if version == self._slow and not self._moved:
            self._moved = True
            time.sleep(1.0)
        self._client.set_registered_model_alias(name, alias, version)


@pytest.mark.parametrize("locked", [True, False], ids=["sqlite-lock", "converging-move"])
def test_concurrent_promotes_never_leave_the_lower_score_champion(
    tmp_path: Path, locked: bool
) -> None:
    import threading

    from mlflow.tracking import MlflowClient

    from marlpipe.tracking import model_registry, store

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    base = store.client(uri)
    (tmp_path / "src").mkdir()
    name = "bob's model"  # a quote: the searches must quote it
    base.create_registered_model(name)
    for score in ("-20.0", "-5.0", "-10.0"):  # versions 1, 2, 3: 2 and 3 beat 1, 2 is best
        base.create_model_version(name, str(tmp_path / "src"), tags={"score": score})
        if score == "-20.0":  # the champion both evaluations below want to beat
            assert model_registry.promote(base, name, 1)
    barrier, done = threading.Barrier(2), {}
    other = None if locked else "http://127.0.0.1:1"  # a store without the file lock

    def promote(version: int) -> None:
        client = _RacingClient(MlflowClient(uri), barrier, slow="3", uri=other)
        done[version] = model_registry.promote(client, name, version)

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert base.get_model_version_by_alias(name, "champion").version in ("2", 2)
    assert done == {2: True, 3: False}
    assert model_registry.find_model_version(base, name, "score", "-10.0") == 3


def test_registered_model_names_are_quoted_in_filters() -> None:
    from marlpipe.tracking.model_registry import name_filter

    assert name_filter("plain") == "name = 'plain'"
    assert name_filter("bob's model") == "name = \"bob's model\""
    assert name_filter('say "hi"') == "name = 'say \"hi\"'"
    with pytest.raises(ValueError, match="both"):
        name_filter("both ' and \"")


def test_evaluate_registers_a_name_with_a_quote_and_a_failure_marks_its_run_failed(
    tmp_path: Path, tiny_params: Params, mlflow_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    envspec.run(tiny_params, tmp_path)
    init_population.run(tiny_params, tmp_path)
    evolve.run(tiny_params, tmp_path)  # tracking off: only evaluate's runs below
    params = with_overrides(
        tiny_params, {"tracking": {"enabled": True, "registered_model": "bob's model"}}
    )
    first = evaluate.run(params, tmp_path)
    assert evaluate.run(params, tmp_path)["registered_version"] == first["registered_version"]
    client = MlflowClient(mlflow_uri)
    assert client.get_model_version_by_alias("bob's model", "champion").version in ("1", 1)

    def broken(*args: Any) -> int:
        raise RuntimeError("the registry went away")

    monkeypatch.setattr(evaluate, "_register", broken)
    (tmp_path / "reports" / "eval.json").unlink()
    with pytest.raises(RuntimeError, match="went away"):
        evaluate.run(params, tmp_path)
    exp = client.get_experiment_by_name("tests").experiment_id
    [last] = client.search_runs([exp], order_by=["start_time DESC"], max_results=1)
    assert last.info.status == "FAILED"
    assert not (tmp_path / "reports" / "eval.json").exists()


def test_a_copied_repo_does_not_write_into_the_original(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store keeps absolute artefact locations: the copy's mlflow.db still points at the
    original's mlartifacts/. The copy stops with one line before any work instead."""
    from marlpipe.errors import UserError

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    tracker = MlflowTracker("tests", root=original)
    tracker.start()
    tracker.log_generation(record(0))
    tracker.finish()
    shutil.copytree(original, copy)
    before = sorted(p.relative_to(original) for p in original.rglob("*"))
    for step in ("check_store", "start"):  # the preflight (sqlite3 alone), then MLflow's own
        with pytest.raises(UserError) as info:
            getattr(MlflowTracker("tests", root=copy), step)()
        message = str(info.value)
        assert "\n" not in message and "copied or moved" in message
        assert str(original / "mlartifacts") in message
        assert f"MLFLOW_TRACKING_URI=sqlite:///{original.resolve()}/mlflow.db" in message
    assert sorted(p.relative_to(original) for p in original.rglob("*")) == before
    MlflowTracker("other", root=copy).start()  # a new experiment of the copy is its own
    MlflowTracker("tests", root=original).check_store()  # the original is fine
    shutil.rmtree(original)  # moved: only "start a fresh store" is left to say
    with pytest.raises(UserError, match="move mlflow.db and mlartifacts/ aside") as info:
        MlflowTracker("tests", root=copy).check_store()
    assert "MLFLOW_TRACKING_URI" not in str(info.value)
