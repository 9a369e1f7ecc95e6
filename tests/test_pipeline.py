"""The pipeline stages: outputs, atomic writes, exact resume after a kill, DVC rerun rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from marlpipe.algos import load_agent
from marlpipe.config import ConfigError, Params, dump_params, with_overrides
from marlpipe.pipeline import envspec, evaluate, evolve, init_population, resume
from marlpipe.pipeline.paths import Paths, atomic_dir

REPO = Path(__file__).resolve().parents[1]


class Killed(Exception):
    """Stands in for a kill between generations."""


def prepare(root: Path, params: Params) -> None:
    envspec.run(params, root)
    init_population.run(params, root)


def state_of(path: Path) -> dict[str, torch.Tensor]:
    payload = torch.load(path, weights_only=True)
    return {
        f"{name}.{key}": value
        for name, part in payload["state"].items()
        if name.startswith(("actor", "critic")) and "optimizer" not in name
        for key, value in part.items()
    }


def assert_same_weights(a: Path, b: Path) -> None:
    left, right = state_of(a), state_of(b)
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.mark.parametrize(
    ("algorithm", "continuous"),
    [("MATD3", True), ("MATD3", False), ("MADDPG", True), ("MADDPG", False)],
)
def test_stages_write_loadable_outputs(
    tmp_path: Path, tiny_params: Params, algorithm: str, continuous: bool
) -> None:
    params = with_overrides(tiny_params, {
        "algorithm": algorithm, "env": {"kwargs": {"continuous_actions": continuous}},
    })  # fmt: skip
    prepare(tmp_path, params)
    result = evolve.run(params, tmp_path)
    paths = Paths(tmp_path)
    assert result.generations == 2
    assert len(json.loads(paths.fitness_report.read_text())) == 2
    members = json.loads((paths.population / "population.json").read_text())["members"]
    assert len(members) == params.population.size
    elite = load_agent(paths.elite / "elite.pt")
    assert type(elite).__name__ == algorithm
    assert elite.spec.actions[elite.agent_ids[0]].discrete is not continuous
    card = json.loads((paths.elite / "elite.json").read_text())
    assert card["algorithm"] == algorithm
    assert card["fitness"] == pytest.approx(result.elite_fitness)
    assert card["hyperparameters"]["batch_size"] == elite.batch_size
    assert "parent" in card["lineage"]
    metrics = evaluate.run(params, tmp_path)
    assert metrics["episodes"] == 3
    assert json.loads(paths.eval_report.read_text())["score"] == pytest.approx(metrics["score"])
    # no temporary files or directories left behind by the atomic writes
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old"))]


def test_vmas_stages_write_loadable_outputs(tmp_path: Path, tiny_params: Params) -> None:
    """envspec -> init_population -> evolve -> evaluate on a VMAS task, one batched simulator
    for the training copies and one (a copy per episode) for each evaluation."""
    pytest.importorskip("vmas")
    params = with_overrides(tiny_params, {"env": {"name": "vmas.simple_speaker_listener"}})
    prepare(tmp_path, params)
    paths = Paths(tmp_path)
    recorded = json.loads(paths.envspec.read_text())
    assert recorded["env_name"] == "vmas.simple_speaker_listener"
    assert recorded["actions"]["speaker_0"]["low"] == [-1.0, -1.0, 0.0, 0.0, 0.0]
    result = evolve.run(params, tmp_path)
    assert result.generations == 2
    history = json.loads(paths.fitness_report.read_text())
    assert [row["env_steps"] for row in history] == [400, 800]  # 2 members x 200 transitions
    elite = load_agent(paths.elite / "elite.pt")
    assert elite.spec.env_name == "vmas.simple_speaker_listener"
    metrics = evaluate.run(params, tmp_path)
    assert metrics["episodes"] == 3 and metrics["score_min"] < metrics["score_max"]
    assert evaluate.run(params, tmp_path)["score"] == metrics["score"]  # same seed, same score
    frames = evaluate.render_gif(params, tmp_path, tmp_path / "elite.gif", agent=elite)
    assert frames == params.evaluate.max_steps  # the reset and every step but the last


def test_vmas_unknown_scenario_is_one_line_naming_env_name(tmp_path: Path, tiny_params: Params):
    pytest.importorskip("vmas")
    from marlpipe.envs import EnvNameError

    params = with_overrides(tiny_params, {"env": {"name": "vmas.no_such_task"}})
    with pytest.raises(EnvNameError) as err:
        envspec.run(params, tmp_path)
    assert "\n" not in str(err.value) and "env.name 'vmas.no_such_task'" in str(err.value)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path: Path, tiny_params: Params) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    prepare(straight, tiny_params)
    shutil.copytree(straight, resumed)
    expected = evolve.run(tiny_params, straight)

    def kill_after_first(generation: int, _result: object) -> None:
        if generation == 0:
            raise Killed

    with pytest.raises(Killed):
        evolve.run(tiny_params, resumed, on_generation=kill_after_first)
    assert not Paths(resumed).elite.exists()  # nothing half-written among the outputs
    seen: list[int] = []
    result = evolve.run(tiny_params, resumed, on_generation=lambda g, _: seen.append(g))
    assert seen == [1]  # generation 0 was not run again
    assert result.history == expected.history
    assert result.elite_fitness == expected.elite_fitness
    assert_same_weights(Paths(straight).elite / "elite.pt", Paths(resumed).elite / "elite.pt")
    for name in ("member_00.pt", "member_01.pt"):
        assert_same_weights(Paths(straight).population / name, Paths(resumed).population / name)
    # The lineage of the generation run before the kill came back from the checkpoint.
    for name in ("lineage.json", "lineage.png", "fitness_members.png"):
        report = Path("reports") / name
        assert (straight / report).read_bytes() == (resumed / report).read_bytes(), name


def test_checkpoint_of_other_params_is_not_resumed(tiny_params: Params) -> None:
    more = with_overrides(tiny_params, {"evolution": {"generations": 5, "target": 0.0}})
    assert resume.fingerprint(more) == resume.fingerprint(tiny_params)
    other = with_overrides(tiny_params, {"mutation": {"mutation_sd": 0.2}})
    assert resume.fingerprint(other) != resume.fingerprint(tiny_params)


def test_atomic_dir_keeps_old_content_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def run(cmd: list[str], cwd: Path) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
DVC = [sys.executable, "-m", "dvc"]


def pipeline_repo(root: Path, params: Params) -> Path:
    """A git + DVC repo at ``root`` holding this checkout's pipeline and ``params``."""
    root.mkdir(exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "stages", root / "stages", ignore=ignore)
    shutil.copytree(REPO / "marlpipe", root / "marlpipe", ignore=ignore)
    (root / "params.yaml").write_text(dump_params(params))
    # The stages must run the package they declare as deps, not whichever copy is installed.
    marker = "\nfrom pathlib import Path as _P\n(_P(__file__).parents[1] / 'ran-here').touch()\n"
    with open(root / "marlpipe" / "__init__.py", "a") as init:
        init.write(marker)
    run(["git", "init", "-q"], root)
    run([*DVC, "init", "-q"], root)
    run([*GIT, "add", "-A"], root)
    run([*GIT, "commit", "-qm", "pipeline"], root)
    return root


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not installed")
def test_dvc_repro_rerun_rules(tmp_path: Path, tiny_params: Params) -> None:
    pipeline_repo(tmp_path, tiny_params)
    dvc = DVC

    first = run([*dvc, "repro"], tmp_path)
    for stage in ("envspec", "init_population", "evolve", "evaluate"):
        assert f"Running stage '{stage}'" in first
    assert (tmp_path / "ran-here").is_file()
    assert "Running stage" not in run([*dvc, "repro"], tmp_path)
    assert "up to date" in run([*dvc, "status"], tmp_path)

    changed = with_overrides(tiny_params, {"evaluate": {"episodes": 4}})
    (tmp_path / "params.yaml").write_text(dump_params(changed))
    status = run([*dvc, "status"], tmp_path)
    assert "evaluate:" in status and "evolve:" not in status
    again = run([*dvc, "repro"], tmp_path)
    assert again.count("Running stage") == 1 and "Running stage 'evaluate'" in again
    assert json.loads((tmp_path / "reports/eval.json").read_text())["episodes"] == 4
    assert "score" in run([*dvc, "metrics", "show"], tmp_path)


def test_regression_check_shows_both_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marlpipe.pipeline import regression

    params = tmp_path / "ci.yaml"
    params.write_text("seed: 0\n")
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"score": -20.0, "tolerance": 5.0}))
    monkeypatch.setattr(regression, "run_pipeline", lambda *a, **k: -30.0)
    report = regression.run(params, baseline, progress=False)
    assert not report.passed
    assert "-30.00" in report.message and "-20.00" in report.message
    monkeypatch.setattr(regression, "run_pipeline", lambda *a, **k: -22.0)
    assert regression.run(params, baseline, progress=False).passed


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not installed")
def test_fresh_clone_repro_evaluates_and_registers(
    tmp_path: Path, tiny_params: Params, mlflow_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    params = with_overrides(tiny_params, {"tracking": {"enabled": True}})
    origin = pipeline_repo(tmp_path / "origin", params)
    run([*DVC, "repro"], origin)
    run([*GIT, "add", "-A"], origin)
    run([*GIT, "commit", "-qm", "run"], origin)

    # A clone has dvc.lock and the git-tracked reports, but no models and no DVC cache.
    run(["git", "clone", "-q", str(origin), str(tmp_path / "clone")], tmp_path)
    clone = tmp_path / "clone"
    out = run([*DVC, "repro"], clone)
    assert "Running stage 'evolve'" in out and "Running stage 'evaluate'" in out
    # Same seed, same models: only the MLflow link in dvc.lock differs from the origin's.
    for path in ("models/elite/elite.pt", "models/elite/elite.json", "reports/eval.json"):
        assert (clone / path).read_bytes() == (origin / path).read_bytes(), path
    assert run(["git", "status", "--porcelain"], clone).split() == ["M", "dvc.lock"]

    client = MlflowClient(mlflow_uri)
    name = evaluate.registered_model_name(params, params.env.name)
    versions = client.search_model_versions(f"name='{name}'")
    assert len(versions) == 1  # the clone evaluated the very same checkpoint: no second version
    link = json.loads((clone / "runs/evolve/mlflow_run.json").read_text())
    experiment = client.get_experiment_by_name(params.tracking.experiment).experiment_id
    evaluated = client.search_runs([experiment], f"tags.evolve_run_id = '{link['run_id']}'")
    assert [r.data.tags["registered_version"] for r in evaluated] == [str(versions[0].version)]


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not installed")
def test_checkout_or_pull_of_an_earlier_experiment_needs_no_retraining(
    tmp_path: Path, tiny_params: Params
) -> None:
    repo = pipeline_repo(tmp_path / "repo", tiny_params)
    run([*DVC, "repro"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "experiment A"], repo)
    elite_a = (repo / "models/elite/elite.pt").read_bytes()
    link_a = (repo / "runs/evolve/mlflow_run.json").read_bytes()

    other = with_overrides(tiny_params, {"seed": tiny_params.seed + 1})
    (repo / "params.yaml").write_text(dump_params(other))
    assert "Running stage 'evolve'" in run([*DVC, "repro"], repo)
    run([*GIT, "add", "-A"], repo)
    run([*GIT, "commit", "-qm", "experiment B"], repo)
    assert (repo / "models/elite/elite.pt").read_bytes() != elite_a

    # Back to A: the models and the MLflow link come from the DVC cache, nothing is stale.
    run(["git", "checkout", "-q", "HEAD~1"], repo)
    run([*DVC, "checkout"], repo)
    assert "up to date" in run([*DVC, "status"], repo)
    assert "Running stage" not in run([*DVC, "repro"], repo)
    assert (repo / "models/elite/elite.pt").read_bytes() == elite_a
    assert (repo / "runs/evolve/mlflow_run.json").read_bytes() == link_a

    # A local-folder remote: push here, then a fresh clone pulls instead of retraining.
    run([*DVC, "remote", "add", "-d", "storage", str(tmp_path / "remote")], repo)
    run([*DVC, "push"], repo)
    run(["git", "clone", "-q", str(repo), str(tmp_path / "clone")], tmp_path)
    clone = tmp_path / "clone"
    run([*DVC, "remote", "add", "-d", "storage", str(tmp_path / "remote")], clone)
    run([*DVC, "pull"], clone)
    assert "up to date" in run([*DVC, "status"], clone)
    assert "Running stage" not in run([*DVC, "repro"], clone)
    assert (clone / "models/elite/elite.pt").read_bytes() == elite_a


def test_a_team_is_scored_in_a_competitive_game(tmp_path: Path, tiny_params: Params) -> None:
    """simple_adversary: fitness and score are the good agents' team return; every agent's and
    every team's return is reported."""
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import make_env
    from marlpipe.evolution.fitness import evaluate_population

    params = with_overrides(tiny_params, {
        "env": {"name": "mpe2.simple_adversary_v3"},
        "evolution": {"fitness_agents": ["agent"]},
    })  # fmt: skip
    prepare(tmp_path, params)
    evolve.run(params, tmp_path)
    paths = Paths(tmp_path)
    elite = load_agent(paths.elite / "elite.pt")
    assert elite.agent_ids == ("adversary_0", "agent_0", "agent_1")
    # Fitness sums the chosen columns of the very returns a summed score would add up.
    env = make_env(params.env.name, **params.env.kwargs)
    returns = run_episodes(elite, env, 2, 25, seed=7)
    team = evaluate_population(
        [elite.clone()], env, episodes=2, seed=7, agents=["agent_0", "agent_1"]
    )
    assert team == [pytest.approx(float(returns[:, 1:].sum(1).mean()))]
    env.close()

    metrics = evaluate.run(params, tmp_path)
    report = json.loads(paths.eval_report.read_text())
    assert set(report) >= {"return_adversary_0", "return_agent_0", "return_agent_1",
                           "team_adversary", "team_agent"}  # fmt: skip
    assert report["team_agent"] == pytest.approx(
        report["return_agent_0"] + report["return_agent_1"]
    )
    assert report["team_adversary"] == report["return_adversary_0"]
    assert metrics["score"] == pytest.approx(report["team_agent"])


def test_an_unknown_fitness_agent_is_one_line_before_training(
    tmp_path: Path, tiny_params: Params
) -> None:
    params = with_overrides(tiny_params, {"evolution": {"fitness_agents": ["agent"]}})
    prepare(tmp_path, params)
    with pytest.raises(ConfigError) as info:
        evolve.run(params, tmp_path)
    message = str(info.value)
    assert message.startswith("evolution.fitness_agents: 'agent' is neither an agent nor a team")
    assert "['speaker_0', 'listener_0']" in message and "['listener', 'speaker']" in message
    assert not Paths(tmp_path).elite.exists()
