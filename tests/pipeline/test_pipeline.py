"""The pipeline stages: outputs, atomic writes, exact resume after a kill, DVC rerun rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from marlpipe.algos import load_agent
from marlpipe.algos.episodes import run_episodes
from marlpipe.config import ConfigError, Params, with_overrides
from marlpipe.config.keys import generation_keys
from marlpipe.envs import EnvFactory
from marlpipe.io import atomic_dir
from marlpipe.pipeline import envspec, evaluate, evolve, init_population, resume
from marlpipe.pipeline.paths import Paths
from tests.helpers.builders import checkpoint_weights

REPO = Path(__file__).resolve().parents[2]


class Killed(Exception):
    """Stands in for a kill between generations."""


def prepare(root: Path, params: Params) -> None:
    envspec.run(params, root)
    init_population.run(params, root)


def assert_same_weights(a: Path, b: Path) -> None:
    left, right = checkpoint_weights(a), checkpoint_weights(b)
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
    evaluate.run(params, tmp_path)
    # eval.json against the elite's episodes played here, on a fresh env with evaluate's seed.
    report = json.loads(paths.eval_report.read_text())
    env = EnvFactory(elite.spec.env_name, elite.spec.env_kwargs).eval_env(3)
    returns = run_episodes(elite, env, 3, params.evaluate.max_steps, seed=params.evaluate.seed)
    env.close()
    totals = returns.sum(1)
    assert report["episodes"] == 3 and report["score"] == pytest.approx(totals.mean())
    assert (report["score_min"], report["score_max"]) == pytest.approx((totals.min(), totals.max()))
    for column, agent_id in enumerate(elite.agent_ids):
        assert report[f"return_{agent_id}"] == pytest.approx(returns[:, column].mean())
    assert report["elite_fitness"] == card["fitness"] and report["generations"] == 2
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
    frames = evaluate.render_video(params, tmp_path, tmp_path / "elite.gif", agent=elite)
    assert frames == params.evaluate.max_steps  # the reset and every step but the last


def test_vmas_unknown_scenario_is_one_line_naming_env_name(tmp_path: Path, tiny_params: Params):
    pytest.importorskip("vmas")
    from marlpipe.envs import EnvNameError

    params = with_overrides(tiny_params, {"env": {"name": "vmas.no_such_task"}})
    with pytest.raises(EnvNameError) as err:
        envspec.run(params, tmp_path)
    assert "\n" not in str(err.value) and "env.name 'vmas.no_such_task'" in str(err.value)


SELECTING = {
    "seed": 2,
    "population": {"size": 3},
    "evolution": {"generations": 3},
    "mutation": {"no_mutation": 0.0, "architecture": 0.25, "parameters": 0.25,
                 "activation": 0.25, "rl_hp": 0.25},
}  # fmt: skip
"""On top of the tiny params: 3 members, so a tournament of 2 can choose, and every mutation
kind drawn within 3 generations (the test checks both on the uninterrupted run)."""


MF_PBT = {
    "seed": 2,
    "population": {"size": 6},
    "evolution": {"generations": 3, "selection": "mf_pbt"},
    "mf_pbt": {"subpopulations": 2, "frequency_ratios": [1, 2]},
}
"""MF-PBT on top of the tiny params: 2 subpopulations of 3 (a winner, an open slot, a loser);
the first evolves every generation, the second every other one."""


@pytest.mark.parametrize("selecting", [False, True, "mf_pbt"], ids=["tiny", "selecting", "mf_pbt"])
def test_resume_after_kill_matches_uninterrupted_run(
    tmp_path: Path, tiny_params: Params, selecting: bool | str
) -> None:
    overrides = MF_PBT if selecting == "mf_pbt" else SELECTING if selecting else {}
    params = with_overrides(tiny_params, overrides)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    prepare(straight, params)
    shutil.copytree(straight, resumed)
    expected = evolve.run(params, straight)
    lineage = json.loads((straight / "reports" / "lineage.json").read_text())
    if selecting == "mf_pbt":  # both frequencies at work: a wait, then both groups evolving
        steps = [[c["selection"]["action"] for c in row["children"]] for row in lineage]
        assert steps[0][3:] == ["waiting"] * 3 and "waiting" not in steps[1], steps
        assert {"kept", "cloned"} <= set(steps[1]), steps
    elif selecting:  # what the resumed generations must reproduce: choices and every mutation
        children = [child for generation in lineage for child in generation["children"]]
        kinds = {child["mutation"] for child in children}
        assert kinds == {"none", "architecture", "parameters", "activation", "rl_hp"}, kinds
        later = [{child["parent"] for child in generation["children"]} for generation in lineage]
        assert all(len(parents) > 1 for parents in later[:2]), later

    def kill_after_first(generation: int, _result: object) -> None:
        if generation == 0:
            raise Killed

    with pytest.raises(Killed):
        evolve.run(params, resumed, on_generation=kill_after_first)
    assert not Paths(resumed).elite.exists()  # nothing half-written among the outputs
    seen: list[int] = []
    result = evolve.run(params, resumed, on_generation=lambda g, _: seen.append(g))
    assert seen == list(range(1, params.evolution.generations))  # generation 0 not run again
    assert result.history == expected.history
    assert result.elite_fitness == expected.elite_fitness
    assert_same_weights(Paths(straight).elite / "elite.pt", Paths(resumed).elite / "elite.pt")
    for index in range(params.population.size):
        name = f"member_{index:02d}.pt"
        assert_same_weights(Paths(straight).population / name, Paths(resumed).population / name)
    # The lineage of the generation run before the kill came back from the checkpoint.
    for name in ("lineage.json", "lineage.png", "fitness_members.png"):
        report = Path("reports") / name
        assert (straight / report).read_bytes() == (resumed / report).read_bytes(), name


OTHER_VALUES = {
    "algorithm": "MADDPG",
    "env.name": "mpe2.simple_spread_v3",
    "env.kwargs": {"continuous_actions": False},
    "net_config.hidden_sizes": [16],
    "net_config.critic_hidden_sizes": [32],
    "net_config.activation": "GELU",
    "population.device": "cuda",
    "population.experience": "shared",
    "mutation.rl_hp_selection": ["lr_actor"],
    "mutation.activation_selection": ["ReLU", "ELU"],
    "evolution.target": 0.0,
    "evolution.fitness_agents": ["speaker_0"],
    "evolution.selection": "mf_pbt",
    "mf_pbt.frequency_ratios": [2],
}
"""Another valid value for each generation key that is not a number or a flag."""


def other_values(key: str, value: object) -> list[object]:
    """Values to try in turn for ``key`` (the first the params accept is used)."""
    if key in OTHER_VALUES:
        return [OTHER_VALUES[key]]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1, value - 1]
    assert isinstance(value, float), (key, value)  # a new kind of key: add it to OTHER_VALUES
    return [value / 2 if value else 0.5, value * 1.5]


def changed_params(params: Params, dotted: str) -> Params:
    """``params`` with the leaf ``dotted`` set to another valid value."""
    value = params.to_dict()
    for group in dotted.split("."):
        value = value[group]
    for candidate in other_values(dotted, value):
        for part in reversed(dotted.split(".")):
            candidate = {part: candidate}
        try:
            return with_overrides(params, candidate)
        except ConfigError:
            continue
    raise AssertionError(f"no other valid value tried for {dotted}")


def test_resume_key_counts_every_setting_that_shapes_the_generations(tiny_params: Params) -> None:
    """Each generation key, in every group (seed, algorithm, env, net_config, init_hp,
    population, tournament, mf_pbt, mutation, evolution), changed alone changes the fingerprint
    (one subpopulation of MF-PBT, so that ``evolution.selection: mf_pbt`` fits 3 members)."""
    base = with_overrides(
        tiny_params, {"net_config": {"hidden_sizes": [16, 16]}, "population": {"size": 3},
                      "mf_pbt": {"subpopulations": 1, "frequency_ratios": [1]}},
    )  # fmt: skip
    key, keys = resume.fingerprint(base), generation_keys()
    assert {k.partition(".")[0] for k in keys} == {
        "seed", "algorithm", "env", "net_config", "init_hp", "population", "tournament",
        "mf_pbt", "mutation", "evolution",
    }  # fmt: skip
    for dotted in keys:
        assert resume.fingerprint(changed_params(base, dotted)) != key, dotted


def test_resume_key_leaves_out_the_neutral_settings(tiny_params: Params) -> None:
    merged = with_overrides(tiny_params, {"population": {"experience": "merged"}})
    for neutral in (
        {"population": {"backend": "ray", "workers": 2, "num_cpus": 2, "num_gpus": 0}},
        {"population": {"backend": "processes", "workers": 3}},
        {"population": {"ray_address": "127.0.0.1:6379"}}, {"env": {"backend": "async"}},
        {"tracking": {"enabled": True, "experiment": "x"}}, {"evaluate": {"episodes": 9}},
    ):  # fmt: skip
        other = with_overrides(merged, neutral)
        assert resume.fingerprint(other) == resume.fingerprint(merged), neutral
    assert set(resume.RESULT_NEUTRAL) == {"population", "env", "tracking"}


def test_only_a_real_code_change_invalidates_a_resume(tmp_path: Path) -> None:
    package = tmp_path / "marlpipe"
    shutil.copytree(REPO / "marlpipe", package, ignore=shutil.ignore_patterns("__pycache__"))
    before = resume.training_code_hash(package)
    assert before == resume.training_code_hash()  # the same sources as the installed package
    source = package / "algos" / "matd3.py"
    text = source.read_text()
    source.write_text(text.replace('"""', '"""An edited docstring. ', 1) + "\n# a comment\n\n")
    assert resume.training_code_hash(package) == before
    (package / "tracking" / "provenance.py").write_text("X = 1\n")  # logging, not training
    assert resume.training_code_hash(package) == before
    source.write_text(text + "\nTHRESHOLD = 2\n")
    assert resume.training_code_hash(package) != before


def test_a_finished_run_is_never_resumed(tmp_path: Path, tiny_params: Params) -> None:
    """``dvc repro -f`` reruns the stage: it trains from generation 0 and ends where it did."""
    prepare(tmp_path, tiny_params)
    first = evolve.run(tiny_params, tmp_path)
    assert not (Paths(tmp_path).evolve_run / "checkpoint").exists()
    elite = (Paths(tmp_path).elite / "elite.pt").read_bytes()
    seen: list[int] = []
    again = evolve.run(tiny_params, tmp_path, on_generation=lambda g, _: seen.append(g))
    assert seen == [0, 1]
    assert again.history == first.history
    assert (Paths(tmp_path).elite / "elite.pt").read_bytes() == elite


def stale_dirs(root: Path) -> list[Path]:
    return sorted((root / "runs" / "evolve").glob("checkpoint.stale-*"))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("params", "params"),
        ("state.json", "unreadable"),
        ("buffer.npz", "unreadable"),
        ("member", "unreadable"),
        ("old-format", "format"),
    ],
)
def test_a_resume_state_that_does_not_fit_is_moved_aside_not_deleted(
    tmp_path: Path, tiny_params: Params, caplog: pytest.LogCaptureFixture, damage: str, why: str
) -> None:
    """The run says so in one warning of the ``marlpipe`` logger (stderr: see marlpipe.log)."""
    prepare(tmp_path, tiny_params)

    def kill_after_first(generation: int, _result: object) -> None:
        raise Killed

    with pytest.raises(Killed):
        evolve.run(tiny_params, tmp_path, on_generation=kill_after_first)
    checkpoint = Paths(tmp_path).evolve_run / "checkpoint"
    params = tiny_params
    if damage == "params":
        params = with_overrides(tiny_params, {"mutation": {"mutation_sd": 0.3}})
    elif damage == "member":
        (checkpoint / "population" / "member_00.pt").write_bytes(b"garbage")
    elif damage == "old-format":
        state = json.loads((checkpoint / "state.json").read_text())
        state.pop("format")
        (checkpoint / "state.json").write_text(json.dumps(state))
    else:
        (checkpoint / damage).write_text("garbage")
    files = sorted(p.relative_to(checkpoint) for p in checkpoint.rglob("*"))
    caplog.clear()
    seen: list[int] = []
    evolve.run(params, tmp_path, on_generation=lambda g, _: seen.append(g))
    assert seen == [0, 1]  # started over
    warnings = [r for r in caplog.records if r.name.startswith("marlpipe.")]
    assert all(r.levelname == "WARNING" for r in warnings)
    err = "\n".join(r.getMessage() for r in warnings)
    [moved] = stale_dirs(tmp_path)
    assert moved.name.startswith(f"checkpoint.stale-{why}-")
    assert sorted(p.relative_to(moved) for p in moved.rglob("*")) == files  # kept whole
    [line] = [line for line in err.splitlines() if "moved it to" in line]
    assert str(checkpoint) in line and moved.name in line and "generation 0" in line


def test_a_fresh_start_keeps_the_partial_run(tmp_path: Path, tiny_params: Params) -> None:
    """``marlpipe evolve --fresh`` (``resume=False``) trains from generation 0 and moves the
    partial run aside rather than deleting it."""
    prepare(tmp_path, tiny_params)

    def kill_after_first(generation: int, _result: object) -> None:
        raise Killed

    with pytest.raises(Killed):
        evolve.run(tiny_params, tmp_path, on_generation=kill_after_first)
    seen: list[int] = []
    evolve.run(tiny_params, tmp_path, resume=False, on_generation=lambda g, _: seen.append(g))
    assert seen == [0, 1]
    [moved] = stale_dirs(tmp_path)
    assert moved.name.startswith("checkpoint.stale-fresh-") and (moved / "state.json").is_file()


def test_atomic_dir_keeps_old_content_on_error(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


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
    env = make_env(params.env.name, **params.env.call_kwargs)
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_an_elite_trained_on_cuda_is_evaluated_on_cpu(tmp_path: Path, tiny_params: Params) -> None:
    """The champion of a GPU run can be scored anywhere; a partial GPU run resumes exactly."""
    params = with_overrides(tiny_params, {"population": {"device": "cuda"}})
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    prepare(straight, params)
    shutil.copytree(straight, resumed)
    result = evolve.run(params, straight)
    payload = torch.load(Paths(straight).elite / "elite.pt", weights_only=True)
    assert payload["state"]["torch_rng"]["device"] == "cuda"
    on_cpu = with_overrides(params, {"population": {"device": "cpu"}})
    first = evaluate.run(on_cpu, straight)
    assert evaluate.run(on_cpu, straight) == first  # re-seeded from the checkpoint: repeatable
    elite = load_agent(Paths(straight).elite / "elite.pt", device="cpu")
    assert elite.torch_rng.device.type == "cpu"

    def kill_after_first(generation: int, _result: object) -> None:
        if generation == 0:
            raise Killed

    with pytest.raises(Killed):
        evolve.run(params, resumed, on_generation=kill_after_first)
    assert evolve.run(params, resumed).history == result.history


USER_ENV = """from marlpipe.envs.toy import MatchEnv


def make(**kwargs):
    return MatchEnv(**kwargs)
"""


def user_repo(root: Path, monkeypatch: pytest.MonkeyPatch, stages: dict[str, list[str]]) -> None:
    """A repository at ``root`` holding the env module ``usergame.py`` and a ``dvc.yaml`` whose
    stages list ``stages``' deps; ``root`` on ``sys.path`` as ``python -m`` puts the cwd."""
    import sys

    import yaml

    (root / "usergame.py").write_text(USER_ENV)
    spec = {name: {"cmd": f"python -m stages.{name}", "deps": deps}
            for name, deps in stages.items()}  # fmt: skip
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": spec}))
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setitem(sys.modules, "usergame", None)  # undone: no usergame left imported
    del sys.modules["usergame"]


def test_a_user_env_module_no_stage_lists_is_one_warning_per_stage_that_builds_the_env(
    tmp_path: Path, tiny_params: Params, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    user_repo(tmp_path, monkeypatch, {
        "envspec": ["stages/envspec.py", "marlpipe"], "init_population": [],
        "evolve": ["usergame.py"], "evaluate": ["models/elite"],
    })  # fmt: skip
    params = with_overrides(tiny_params, {"env": {"name": "usergame:make"}})
    with caplog.at_level("WARNING", logger="marlpipe.pipeline.env_deps"):
        prepare(tmp_path, params)
        evolve.run(params, tmp_path)
        evaluate.run(params, tmp_path)
    lines = [r.getMessage() for r in caplog.records if r.name == "marlpipe.pipeline.env_deps"]
    assert lines == [
        f"{stage}: env.name 'usergame:make' is built by usergame.py, which no dep of stage "
        f'{stage} covers: add "- usergame.py" under stages.{stage}.deps in dvc.yaml so that '
        "editing it reruns the stages that build the env"
        for stage in ("envspec", "evaluate")  # evolve lists it; init_population builds no env
    ]


def test_what_the_env_module_warning_leaves_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marlpipe.pipeline import env_deps

    user_repo(tmp_path, monkeypatch, {"envspec": ["."], "evolve": ["games", "usergame.py"],
                                      "evaluate": []})  # fmt: skip
    assert env_deps.env_module_file("usergame:make") == tmp_path / "usergame.py"
    assert env_deps.missing_env_dep("usergame:make", "envspec", tmp_path) is None  # a folder
    assert env_deps.missing_env_dep("usergame", "evolve", tmp_path) is None
    assert "stages.evaluate.deps" in env_deps.missing_env_dep("usergame", "evaluate", tmp_path)
    assert env_deps.missing_env_dep("usergame", "no_such_stage", tmp_path) is None
    # a module outside the repository (an installed package's): nothing to list
    assert env_deps.missing_env_dep("marlpipe.envs.toy:match_env", "evaluate", tmp_path) is None
    # mpe2, PettingZoo and VMAS names are not even looked up
    with monkeypatch.context() as patched:
        patched.setattr(env_deps.importlib.util, "find_spec", lambda name: 1 / 0)
        for name in ("mpe2.simple_spread_v3", "pettingzoo.mpe.simple_v3", "vmas.balance"):
            assert env_deps.missing_env_dep(name, "evaluate", tmp_path) is None
    # no dvc.yaml, or a name that is no module: nothing said (building the env reports a bad name)
    (tmp_path / "dvc.yaml").unlink()
    assert env_deps.env_module_file("usergame") == tmp_path / "usergame.py"
    assert env_deps.missing_env_dep("usergame", "evaluate", tmp_path) is None
    assert env_deps.env_module_file("no_such_module_here:make") is None
    assert env_deps.env_module_file("not a name") is None
