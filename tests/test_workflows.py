"""The workflows users run, end to end, on one small git + DVC repo tracked in its own mlflow.db.

The tests of this module run in order on the same repo (built once; each starts from where the
one before left it), as a user's session would: ``dvc repro`` twice, settings that do not
change results, ``dvc exp run -S``, a queued grid run with ``dvc queue start``, ``dvc exp
apply``, ``dvc repro -f``, ``kill -9`` during evolve then ``dvc repro``, a code edit during an
interrupted run, a neutral setting changed during one, ``marlpipe evolve --fresh`` after a kill,
``git checkout`` of an earlier commit with ``dvc checkout``, a remote and a
fresh clone. After each, the test checks the models, ``dvc status``, the MLflow runs (how many,
their names and params, which holds ``eval.*``), the registered versions and the champion.
Commands run without ``MLFLOW_TRACKING_URI``: the stages log to the repo's own ``mlflow.db``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from marlpipe.config import Params, dump_params, load_params, with_overrides
from marlpipe.io import file_sha256
from marlpipe.pipeline import evaluate, resume
from tests.helpers.builders import TINY
from tests.helpers.dvc_repo import DVC, GIT, pipeline_repo, run, run_queue, user_env

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not installed"),
]

EXPERIMENT = "workflows"
PARAMS = with_overrides(
    with_overrides(Params(), TINY), {"tracking": {"enabled": True, "experiment": EXPERIMENT}}
)
MODEL = evaluate.registered_model_name(PARAMS, PARAMS.env.name)
LONGER = {"evolution": {"generations": 3, "steps_per_generation": 800}}
"""A run long enough to be killed in the middle (a generation takes a second or so)."""


class Session:
    """The shared repo, its MLflow store, and what earlier steps recorded."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = user_env()
        self.seen: dict[str, Any] = {}

    def sh(self, *cmd: str, timeout: int = 300) -> str:
        args = [*DVC, *cmd[1:]] if cmd[0] == "dvc" else [*GIT, *cmd[1:]]
        return run(args, self.root, timeout, env=self.env)

    def reset(self) -> None:
        """Back to the checked-out commit's files and outputs (runs/ and the store stay)."""
        self.sh("git", "checkout", "-q", "--", ".")
        self.sh("dvc", "checkout", "-q")

    def set_params(self, changes: dict[str, Any], base: Params = PARAMS) -> Params:
        params = with_overrides(base, changes)
        (self.root / "params.yaml").write_text(dump_params(params))
        return params

    @property
    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(f"sqlite:///{self.root / 'mlflow.db'}")

    def runs(self) -> list[Any]:
        """Every active run of the experiment, oldest first."""
        exp = self.client.get_experiment_by_name(EXPERIMENT).experiment_id
        found = self.client.search_runs([exp], max_results=1000, order_by=["start_time ASC"])
        return list(found)

    def evolve_runs(self) -> list[Any]:
        return [r for r in self.runs() if "mlflow.parentRunId" not in r.data.tags]

    def children(self, run_id: str, name: str | None = None) -> list[Any]:
        kids = [r for r in self.runs() if r.data.tags.get("mlflow.parentRunId") == run_id]
        if name is not None:
            kids = [r for r in kids if r.data.tags["mlflow.runName"].startswith(name)]
        return kids

    def versions(self) -> list[Any]:
        return sorted(
            self.client.search_model_versions(f"name = '{MODEL}'"), key=lambda v: int(v.version)
        )

    def elite_sha(self) -> str:
        return file_sha256(self.root / "models/elite/elite.pt")

    def link(self) -> dict[str, Any]:
        return json.loads((self.root / "runs/evolve/mlflow_run.json").read_text())

    def checkpoint(self) -> Path:
        return self.root / "runs/evolve/checkpoint"


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    root = tmp_path_factory.mktemp("workflows") / "repo"
    return Session(pipeline_repo(root, PARAMS))


def assert_evolve_run(s: Session, run: Any, name: str, params: Params) -> None:
    """A finished evolve run named ``name``, logged with ``params``, with one child run per
    generation, its evaluation nested under it, and ``eval.*`` on itself."""
    assert run.info.status == "FINISHED"
    assert run.data.tags["mlflow.runName"] == name
    assert run.data.params["seed"] == str(params.seed)
    assert run.data.params["evolution.generations"] == str(params.evolution.generations)
    generations = s.children(run.info.run_id, "generation-")
    expected = [f"generation-{g:03d}" for g in range(params.evolution.generations)]
    assert sorted(r.data.tags["mlflow.runName"] for r in generations) == expected
    history = s.client.get_metric_history(run.info.run_id, "elite_fitness")
    assert sorted(m.step for m in history) == list(range(params.evolution.generations))
    [evaluation] = s.children(run.info.run_id, "evaluate")
    assert "score" in evaluation.data.metrics
    assert run.data.metrics["eval.score"] == evaluation.data.metrics["score"]
    version = evaluation.data.tags["registered_version"]
    tags = s.client.get_model_version(MODEL, version).tags
    assert tags["checkpoint_sha256"] == s.elite_sha()


def assert_champion(s: Session) -> None:
    """The champion alias is on the best-scoring registered version."""
    versions = s.versions()
    best = max(versions, key=lambda v: float(v.tags["score"]))
    assert s.client.get_model_version_by_alias(MODEL, "champion").version == best.version


def test_repro_twice(session: Session) -> None:
    s = session
    out = s.sh("dvc", "repro")
    for stage in ("envspec", "init_population", "evolve", "evaluate"):
        assert f"Running stage '{stage}'" in out
    assert (s.root / "ran-here").is_file()  # the repo's own package ran, not the installed one
    assert "Running stage" not in s.sh("dvc", "repro")
    assert "up to date" in s.sh("dvc", "status")
    [evolved] = s.evolve_runs()
    assert_evolve_run(s, evolved, "speaker_listener-matd3-s1", PARAMS)
    assert s.link()["run_id"] == evolved.info.run_id
    assert [int(v.version) for v in s.versions()] == [1]
    assert_champion(s)
    assert not s.checkpoint().exists()  # a finished run keeps no resume state
    s.sh("git", "add", "-A")
    s.sh("git", "commit", "-qm", "experiment A")
    s.seen.update(commit_a=s.sh("git", "rev-parse", "HEAD").strip(), elite_a=s.elite_sha(),
                  link_a=s.link(), runs=len(s.runs()))  # fmt: skip


def test_an_evaluate_setting_reruns_evaluate_alone(session: Session) -> None:
    s = session
    s.set_params({"evaluate": {"episodes": 4}})
    status = s.sh("dvc", "status")
    assert "evaluate:" in status and "evolve:" not in status
    out = s.sh("dvc", "repro")
    assert out.count("Running stage") == 1 and "Running stage 'evaluate'" in out
    assert json.loads((s.root / "reports/eval.json").read_text())["episodes"] == 4
    assert "score" in s.sh("dvc", "metrics", "show")
    assert [int(v.version) for v in s.versions()] == [1]  # the same checkpoint, same version
    s.reset()
    assert "up to date" in s.sh("dvc", "status")


NEUTRAL = [
    {"population": {"ray_address": "127.0.0.1:6379"}},
    {"population": {"workers": 2}},
    {"population": {"backend": "processes"}},
    {"population": {"num_cpus": 2}},
    {"population": {"num_gpus": 0}},
    {"env": {"backend": "async"}},
    {"env": {"fast": False}},
    {"tracking": {"experiment": "elsewhere"}},
    {"tracking": {"registered_model": "another-name"}},
    {"tracking": {"enabled": False}},
]
CHANGES_RESULTS = [
    {"seed": 7},
    {"population": {"torch_threads": 2}},
    {"population": {"experience": "shared"}},
    {"evolution": {"generations": 3}},
]


def test_settings_that_do_not_change_results_do_not_invalidate(session: Session) -> None:
    s = session
    for change in NEUTRAL:
        s.set_params(change)
        assert "up to date" in s.sh("dvc", "status"), change
    for change in CHANGES_RESULTS:
        s.set_params(change)
        assert "evolve:" in s.sh("dvc", "status"), change
    # The Ray backend needs merged experience (which changes results): on top of that, moving
    # the members onto Ray changes nothing more.
    merged = with_overrides(PARAMS, {"population": {"experience": "merged"}})
    s.set_params({}, merged)
    alone = s.sh("dvc", "status")
    s.set_params({"population": {"backend": "ray", "workers": 2}}, merged)
    assert s.sh("dvc", "status") == alone
    s.sh("git", "checkout", "params.yaml")
    # dvc.yaml and the resume key agree on what is neutral.
    stages = yaml.safe_load((s.root / "dvc.yaml").read_text())["stages"]
    listed = {key for stage in stages.values() for key in stage.get("params", [])}
    for group, keys in resume.RESULT_NEUTRAL.items():
        for key in keys:
            assert f"{group}.{key}" not in listed and group not in listed
    assert {"population.size", "population.device", "population.experience",
            "population.torch_threads", "seed"} <= listed  # fmt: skip


def test_exp_run_is_a_new_mlflow_run(session: Session) -> None:
    """The reported bug: ``-S evolution.generations=...`` after a finished run reopened it."""
    s = session
    out = s.sh("dvc", "exp", "run", "-S", "evolution.generations=3")
    assert "Running stage 'evolve'" in out
    [first, second] = s.evolve_runs()
    params = with_overrides(PARAMS, {"evolution": {"generations": 3}})
    exp_name = second.data.tags["dvc_exp_name"]
    assert exp_name in s.sh("dvc", "exp", "list", "--name-only").split()
    assert_evolve_run(s, second, exp_name, params)
    # The first run is untouched: its params, its two generations.
    assert first.info.run_id == s.seen["link_a"]["run_id"]
    assert first.data.params["evolution.generations"] == "2"
    assert len(s.children(first.info.run_id, "generation-")) == 2
    assert [int(v.version) for v in s.versions()] == [1, 2]
    assert_champion(s)


def test_queued_grid_runs(session: Session) -> None:
    s = session
    s.reset()  # back to experiment A as the baseline
    before = {r.info.run_id for r in s.evolve_runs()}
    for seed in (3, 4):
        s.sh("dvc", "exp", "run", "--queue", "-S", f"seed={seed}")
    status = run_queue(s.root, s.env)
    assert status.count("Success") == 2, status
    new = [r for r in s.evolve_runs() if r.info.run_id not in before]
    assert sorted(r.data.params["seed"] for r in new) == ["3", "4"]
    names = {r.data.params["seed"]: r.data.tags["mlflow.runName"] for r in new}
    for evolved in new:  # named after its experiment, evaluated, registered
        assert evolved.info.status == "FINISHED"
        assert evolved.data.tags["mlflow.runName"] == evolved.data.tags["dvc_exp_name"]
        assert evolved.data.tags["dvc_exp_name"] in status
        [evaluation] = s.children(evolved.info.run_id, "evaluate")
        assert evolved.data.metrics["eval.score"] == evaluation.data.metrics["score"]
        assert len(s.children(evolved.info.run_id, "generation-")) == 2
    assert len({*names.values()}) == 2
    assert [int(v.version) for v in s.versions()] == [1, 2, 3, 4]
    assert_champion(s)
    s.seen["queued"] = {r.data.params["seed"]: r for r in new}


def test_exp_apply_restores_the_experiment(session: Session) -> None:
    s = session
    s.reset()
    queued = s.seen["queued"]["3"]
    s.sh("dvc", "exp", "apply", queued.data.tags["dvc_exp_name"])
    assert load_params(s.root / "params.yaml").seed == 3
    assert "up to date" in s.sh("dvc", "status")
    assert "Running stage" not in s.sh("dvc", "repro")
    assert s.link()["run_id"] == queued.info.run_id
    [evaluation] = s.children(queued.info.run_id, "evaluate")
    version = evaluation.data.tags["registered_version"]
    assert s.client.get_model_version(MODEL, version).tags["checkpoint_sha256"] == s.elite_sha()


def test_repro_force_trains_again_in_a_new_run(session: Session) -> None:
    s = session
    elite, before = s.elite_sha(), {r.info.run_id for r in s.evolve_runs()}
    out = s.sh("dvc", "repro", "-f")
    assert "Running stage 'evolve'" in out and "resuming" not in out
    [new] = [r for r in s.evolve_runs() if r.info.run_id not in before]
    params = load_params(s.root / "params.yaml")
    assert_evolve_run(s, new, "speaker_listener-matd3-s3", params)
    assert s.elite_sha() == elite  # the same params and seed: the same model, byte for byte
    assert len(s.versions()) == 4  # the very same checkpoint keeps its version
    s.sh("git", "add", "-A")
    s.sh("git", "commit", "-qm", "experiment B")


def start_and_kill(s: Session, after_generation: int = 0) -> None:
    """``dvc repro`` killed with SIGKILL (its whole process group) once evolve has checkpointed
    ``after_generation``."""
    proc = subprocess.Popen(
        [*DVC, "repro"], cwd=s.root, env=s.env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    state = s.checkpoint() / "state.json"
    deadline = time.monotonic() + 240
    try:
        while True:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            try:
                generation = json.loads(state.read_text())["loop"]["generation"]
            except (OSError, ValueError, KeyError):
                generation = 0
            if generation > after_generation:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_kill_during_evolve_and_a_comment_edit_then_repro_resumes_the_same_run(
    session: Session,
) -> None:
    s = session
    params = s.set_params({"seed": 5, **LONGER})
    start_and_kill(s)
    [killed] = [r for r in s.evolve_runs() if r.info.status == "RUNNING"]
    source = s.root / "marlpipe" / "algos" / "matd3.py"
    s.seen["matd3"] = source.read_text()
    source.write_text(s.seen["matd3"] + "\n# a comment added while the run was stopped\n")
    assert "evolve:" in s.sh("dvc", "status")  # DVC sees the edit; the resume key does not
    out = s.sh("dvc", "repro")
    assert "resuming the interrupted run" in out
    run = s.client.get_run(killed.info.run_id)  # the same run, finished, each generation once
    assert_evolve_run(s, run, "speaker_listener-matd3-s5", params)
    assert s.link()["run_id"] == killed.info.run_id
    assert not s.checkpoint().exists()


def test_a_code_edit_during_an_interrupted_run_moves_it_aside(session: Session) -> None:
    s = session
    s.set_params({"seed": 6, **LONGER})
    start_and_kill(s)
    kept = sorted(p.relative_to(s.checkpoint()) for p in s.checkpoint().rglob("*"))
    [killed] = [r for r in s.evolve_runs() if r.info.status == "RUNNING"]
    source = s.root / "marlpipe" / "algos" / "matd3.py"
    source.write_text(s.seen["matd3"] + "\n_EDITED = True\n")
    out = s.sh("dvc", "repro")
    assert s.client.get_run(killed.info.run_id).info.status == "KILLED"  # not left "running"
    assert s.link()["run_id"] != killed.info.run_id
    assert "resuming" not in out
    [line] = [line for line in out.splitlines() if "moved it to" in line]
    assert "made by other training code" in line and "generation 0" in line
    [stale] = (s.root / "runs/evolve").glob("checkpoint.stale-code-*")
    assert stale.name in line  # kept whole, for the user to remove
    assert sorted(p.relative_to(stale) for p in stale.rglob("*")) == kept
    assert not s.checkpoint().exists()
    s.reset()  # the code and experiment B's params and models back


def test_a_neutral_change_during_an_interrupted_run_resumes_the_same_mlflow_run(
    session: Session,
) -> None:
    """Settings that do not change results, changed while the run was stopped: the resume
    continues the same MLflow run, whose params say what changed at which generation."""
    s = session
    s.set_params({"seed": 7, **LONGER})
    start_and_kill(s)
    [killed] = [r for r in s.evolve_runs() if r.info.status == "RUNNING"]
    before = {r.info.run_id for r in s.evolve_runs()}
    fast = PARAMS.env.fast
    changes = {"evaluate": {"episodes": 4}, "env": {"fast": not fast}}
    params = s.set_params({"seed": 7, **LONGER, **changes})
    out = s.sh("dvc", "repro")
    assert "resuming the interrupted run" in out
    assert {r.info.run_id for r in s.evolve_runs()} == before  # no second run
    run = s.client.get_run(killed.info.run_id)
    assert_evolve_run(s, run, "speaker_listener-matd3-s7", params)
    assert s.link()["run_id"] == killed.info.run_id
    logged = run.data.params
    assert logged["evaluate.episodes"] == "3" and logged["env.fast"] == json.dumps(fast)
    resumed = {k.split(".", 2)[2]: v for k, v in logged.items() if k.startswith("resumed.g")}
    assert resumed == {"evaluate.episodes": "4", "env.fast": json.dumps(not fast)}
    s.reset()


def test_evolve_fresh_after_a_kill_marks_the_old_mlflow_run_killed(session: Session) -> None:
    """``marlpipe evolve --fresh`` sets the partial run aside: its MLflow run says KILLED."""
    s = session
    s.set_params({"seed": 8, **LONGER})
    start_and_kill(s)
    [killed] = [r for r in s.evolve_runs() if r.info.status == "RUNNING"]
    before = {r.info.run_id for r in s.evolve_runs()}
    out = run([sys.executable, "-m", "marlpipe", "evolve", "--fresh"], s.root, env=s.env)
    assert "checkpoint.stale-fresh-" in out and "resuming" not in out
    old = s.client.get_run(killed.info.run_id)
    assert old.info.status == "KILLED" and "abandoned" in old.data.tags  # not left "running"
    [new] = [r for r in s.evolve_runs() if r.info.run_id not in before]
    assert new.info.status == "FINISHED" and s.link()["run_id"] == new.info.run_id
    assert len(s.children(new.info.run_id, "generation-")) == LONGER["evolution"]["generations"]
    assert not s.checkpoint().exists()
    # The CLI's outputs are in no DVC cache: experiment B's are checked out over them.
    s.sh("git", "checkout", "-q", "--", ".")
    s.sh("dvc", "checkout", "-q", "-f")


def test_checkout_of_an_earlier_commit_and_a_remote(session: Session) -> None:
    s = session
    s.sh("git", "checkout", "-q", s.seen["commit_a"])
    s.sh("dvc", "checkout")
    assert "up to date" in s.sh("dvc", "status")
    runs = len(s.runs())
    assert "Running stage" not in s.sh("dvc", "repro")
    assert len(s.runs()) == runs
    assert s.elite_sha() == s.seen["elite_a"] and s.link() == s.seen["link_a"]
    # A local-folder remote: push here, then a fresh clone pulls instead of retraining.
    remote = s.root.parent / "remote"
    s.sh("dvc", "remote", "add", "-d", "storage", str(remote))
    s.sh("dvc", "push")
    clone = s.root.parent / "clone"
    run(["git", "clone", "-q", str(s.root), str(clone)], s.root.parent)
    run([*DVC, "remote", "add", "-d", "storage", str(remote)], clone, env=s.env)
    run([*DVC, "pull"], clone, env=s.env)
    assert "up to date" in run([*DVC, "status"], clone, env=s.env)
    assert "Running stage" not in run([*DVC, "repro"], clone, env=s.env)
    assert file_sha256(clone / "models/elite/elite.pt") == s.seen["elite_a"]


def test_a_fresh_clone_retrains_evaluates_and_keeps_the_version(session: Session) -> None:
    """A clone has dvc.lock and the git-tracked reports, but no models and no DVC cache: its
    ``dvc repro`` trains the same models, logs a new run and finds the version registered."""
    s = session
    clone = s.root.parent / "fresh"
    run(["git", "clone", "-q", str(s.root), str(clone)], s.root.parent)
    env = {**s.env, "MLFLOW_TRACKING_URI": f"sqlite:///{s.root / 'mlflow.db'}"}  # one store
    before, versions = {r.info.run_id for r in s.evolve_runs()}, len(s.versions())
    out = run([*DVC, "repro"], clone, env=env)
    assert "Running stage 'evolve'" in out and "Running stage 'evaluate'" in out
    for path in ("models/elite/elite.pt", "models/elite/elite.json", "reports/eval.json"):
        assert (clone / path).read_bytes() == (s.root / path).read_bytes(), path
    assert run(["git", "status", "--porcelain"], clone).split() == ["M", "dvc.lock"]
    [new] = [r for r in s.evolve_runs() if r.info.run_id not in before]
    # the name is taken by the session's earlier run of these params: the new run's is its own
    taken = {r.data.tags["mlflow.runName"] for r in s.evolve_runs() if r.info.run_id in before}
    assert "speaker_listener-matd3-s1" in taken
    name = next(f"speaker_listener-matd3-s1-{n}" for n in range(2, 100)
                if f"speaker_listener-matd3-s1-{n}" not in taken)  # fmt: skip
    assert_evolve_run(s, new, name, PARAMS)
    assert len(s.versions()) == versions  # experiment A's checkpoint: no new version


def test_a_queue_of_two_on_a_repo_without_a_store_yet(tmp_path: Path) -> None:
    """``dvc queue start -j 2`` on a repo with no ``mlflow.db``: both evolves open the fresh
    store at once; it is created once, under its file lock, and both experiments succeed."""
    root = pipeline_repo(tmp_path / "repo", PARAMS)
    env = user_env()
    assert not (root / "mlflow.db").exists()
    for seed in (5, 6):
        run([*DVC, "exp", "run", "--queue", "-S", f"seed={seed}"], root, env=env)
    status = run_queue(root, env)
    assert status.count("Success") == 2, status
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    evolved = [r for r in client.search_runs([exp]) if "mlflow.parentRunId" not in r.data.tags]
    assert sorted(r.data.params["seed"] for r in evolved) == ["5", "6"]
    assert {r.info.status for r in evolved} == {"FINISHED"}


def test_a_copied_repo_stops_before_writing_into_the_original(session: Session) -> None:
    """``cp -r`` of the repo copies its mlflow.db, which holds the original's absolute artefact
    folder: the copy's evaluate stops in one line before any work, the original untouched."""
    s = session
    copy = s.root.parent / "copied"
    run(["cp", "-r", str(s.root), str(copy)], s.root.parent)
    artefacts = s.root / "mlartifacts"
    before = sorted(p.relative_to(artefacts) for p in artefacts.rglob("*"))
    runs = len(s.runs())
    done = subprocess.run(
        [*DVC, "repro", "-f", "-s", "evaluate"], cwd=copy, capture_output=True, text=True,
        timeout=300, env=s.env,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    [line] = [x for x in out.splitlines() if "copied or moved" in x]
    assert f"{s.root.resolve() / 'mlartifacts'}" in line and "move mlflow.db" in line
    assert "Traceback" not in out
    assert sorted(p.relative_to(artefacts) for p in artefacts.rglob("*")) == before
    assert len(s.runs()) == runs
