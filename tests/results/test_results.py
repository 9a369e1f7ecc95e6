"""The results table: presets, baselines, one cell, and the aggregate from synthetic runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from marlpipe.config import dump_params, load_params, with_overrides
from marlpipe.results.aggregate import aggregate, markdown, mean_ci, table_rows

REPO = Path(__file__).resolve().parents[2]
PRESETS = sorted((REPO / "configs").glob("*.yaml"))


def test_presets_resolve_to_params_whose_envs_build() -> None:
    from marlpipe.pipeline.envspec import extract

    names = {p.stem for p in PRESETS}
    assert {"speaker_listener", "speaker_listener_discrete", "spread", "adversary"} <= names
    assert "reference" in names or "push" in names
    for preset in PRESETS:
        # a preset holds only what it changes (tests/config/test_config.py); resolved, it is
        # complete
        params = load_params(preset)
        assert load_params_text(dump_params(params)) == params, preset.name
        spec = extract(params)
        if params.evolution.fitness_agents is not None:
            from marlpipe.evolution.fitness import scored_agents

            assert scored_agents(spec.agent_ids, params.evolution.fitness_agents)
    # the speaker-listener preset is the default run: its rows are today's defaults
    assert load_params(REPO / "configs" / "speaker_listener.yaml") == load_params(
        REPO / "params.yaml"
    )


def test_baselines_are_measured_by_the_evaluation_code() -> None:
    from marlpipe.results.baselines import baseline_scores

    params = with_overrides(load_params(REPO / "configs" / "speaker_listener.yaml"),
                            {"evaluate": {"episodes": 20}})  # fmt: skip
    first = baseline_scores(params)
    assert first == baseline_scores(params)  # seeded: the same episodes, the same actions
    assert -95 < first["random"]["score"] < -55  # about -74 over 100 episodes
    assert first["random"]["score"] < first["zero"]["score"] < -40  # doing nothing is no plan
    assert set(first["random"]["returns"]) == {"speaker_0", "listener_0"}
    more = baseline_scores(params, episodes=40)  # the table's baselines play 1,000
    assert more["episodes"] == 40 and more["random"]["score"] != first["random"]["score"]
    sem = more["random"]["score_std"] * (40 / 39) ** 0.5 / 40**0.5
    assert more["random"]["score_sem"] == pytest.approx(sem)

    adversary = with_overrides(load_params(REPO / "configs" / "adversary.yaml"),
                               {"evaluate": {"episodes": 5}})  # fmt: skip
    scores = baseline_scores(adversary)
    assert scores["scored_agents"] == ["agent_0", "agent_1"]
    assert scores["random"]["score"] == pytest.approx(scores["random"]["teams"]["agent"])
    assert "adversary" in scores["random"]["teams"]


def load_params_text(text: str):
    from marlpipe.config import params_from_dict

    return params_from_dict(yaml.safe_load(text))


def synthetic_cell(task: str, algorithm: str, seed: int, score: float) -> dict:
    return {
        "task": task, "env": f"mpe2.{task}", "algorithm": algorithm, "seed": seed,
        "score": score, "score_std": 1.0, "episodes": 100, "returns": {}, "teams": {},
        "scored_agents": None, "elite_fitness": score, "generations": 20,
        "env_steps": 1_600_000, "wall_s": 420.0,
    }  # fmt: skip


def test_mean_and_95_percent_t_interval() -> None:
    mean, half = mean_ci([-14.0, -16.0, -15.0])
    assert mean == pytest.approx(-15.0)
    assert half == pytest.approx(
        4.302653 * 1.0 / math.sqrt(3), rel=1e-6
    )  # t(0.975, 2) * sd/sqrt(n)
    assert mean_ci([-3.0]) == (-3.0, None)


def test_aggregate_writes_the_table_and_plot_from_synthetic_runs(tmp_path: Path) -> None:
    summaries, baselines = tmp_path / "summaries", tmp_path / "baselines"
    summaries.mkdir()
    baselines.mkdir()
    cells = [
        synthetic_cell("spread", "MATD3", 0, -50.0),
        synthetic_cell("speaker_listener", "MATD3", 1, -16.0),
        synthetic_cell("speaker_listener", "MATD3", 0, -14.0),
        synthetic_cell("speaker_listener", "MADDPG", 0, -22.0),
        synthetic_cell("spread", "MATD3", 1, -42.0),
    ]
    cells[0]["teams"] = cells[4]["teams"] = {"agent": -45.0, "adversary": 3.0}
    cells[0]["returns"] = cells[4]["returns"] = {"agent_0": -22.5, "agent_1": -22.5,
                                                 "adversary_0": 3.0}  # fmt: skip
    for cell in cells[1:3]:  # teams of one agent each: not listed
        cell["teams"] = {"speaker": -7.0, "listener": -7.0}
        cell["returns"] = {"speaker_0": -7.0, "listener_0": -7.0}
    cells[2]["wall_s"] = 600.0
    for cell in cells:
        name = f"{cell['task']}-{cell['algorithm']}-s{cell['seed']}.json"
        (summaries / name).write_text(json.dumps(cell))
    for task, random in (("speaker_listener", -74.0), ("spread", -78.0)):
        base = {"random": {"score": random, "teams": {"agent": -70.0}}, "zero": {"score": -68.0}}
        (baselines / f"{task}.json").write_text(json.dumps(base))

    md, png = tmp_path / "RESULTS.md", tmp_path / "results.png"
    rows = aggregate(summaries, baselines, md, png)
    assert [(r["task"], r["algorithm"]) for r in rows] == [
        ("speaker_listener", "MADDPG"), ("speaker_listener", "MATD3"), ("spread", "MATD3"),
    ]  # fmt: skip
    assert rows[1]["seeds"] == [0, 1] and rows[1]["scores"] == [-14.0, -16.0]
    assert rows[1]["mean"] == pytest.approx(-15.0)
    assert rows[1]["ci95"] == pytest.approx(12.706205 * math.sqrt(2) / math.sqrt(2), rel=1e-6)
    text = md.read_text()
    assert (
        "| speaker_listener | MATD3 | 2 | -15.0 ± 12.7 | -15.0 [-16.0, -14.0] | -14.0, -16.0 "
        "| -74.0 | -68.0 | -7.5 (-37.0, -34.0) |"
    ) in text  # the IQM of 2 seeds is their mean; per agent: over the 2 agents scored
    assert "-15 or better: met" in text
    assert "| speaker_listener | MADDPG | 1 | -22.0 | -22.0 [-22.0, -22.0] | -22.0 |" in text
    assert "-45 or better (random about -77): missed" in text  # mean -46
    assert "spread / MATD3: agent -45.0 (-70.0), adversary 3.0 (–)" in text
    assert "speaker_listener / MATD3: speaker" not in text
    assert "1.60M" in text and "| 7.0 min |" in text
    assert "- none: no published figure could be checked" in text  # none is listed unchecked
    assert "| 8.5 min (7.0-10.0) |" in text  # median of 7 and 10 minutes, and the range
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = png.read_bytes()
    aggregate(summaries, baselines, md, png)
    assert png.read_bytes() == first  # same summaries, same bytes
    assert markdown(table_rows([synthetic_cell("x", "MATD3", 0, 1.0)], {})).count("| x |") == 1


def test_aggregate_without_summaries_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from marlpipe.cli import cli

    result = CliRunner().invoke(cli, ["results", "aggregate", str(tmp_path), str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"marlpipe: error: {tmp_path}: no cell summaries (*.json) found"


def test_a_cell_trains_evaluates_and_summarises(tmp_path: Path, tiny_params) -> None:
    from marlpipe.results.cell import run_cell

    preset = tmp_path / "tiny_adversary.yaml"
    params = with_overrides(tiny_params, {
        "env": {"name": "mpe2.simple_adversary_v3"}, "evolution": {"fitness_agents": ["agent"]},
        "tracking": {"enabled": True},  # the cell turns it off
    })  # fmt: skip
    preset.write_text(dump_params(params))
    row = run_cell(preset, "MADDPG", 3, tmp_path / "cell", tmp_path / "summary.json")
    assert json.loads((tmp_path / "summary.json").read_text()) == row
    assert row["task"] == "tiny_adversary" and row["algorithm"] == "MADDPG" and row["seed"] == 3
    assert row["score"] == pytest.approx(row["teams"]["agent"])
    assert set(row["returns"]) == {"adversary_0", "agent_0", "agent_1"}
    assert row["generations"] == 2 and row["env_steps"] == 2 * 2 * 200
    from marlpipe.results.machine import cpu_kind

    assert row["cpu_kind"] == cpu_kind()  # the numbers' last bits are this kind's
    assert (tmp_path / "cell" / "models" / "elite" / "elite.pt").is_file()
    assert not (tmp_path / "cell" / "runs").exists()  # the resumable checkpoint is gone
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "cell" / "mlflow.db").exists()
    # the competitive view: the same elite with one side random, and the mixing itself
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.pipeline.evaluate import load_elite
    from marlpipe.results.baselines import baseline_scores
    from marlpipe.results.versus import MixedPolicy, versus_scores

    cell_params = load_params(preset)
    versus = versus_scores(cell_params, tmp_path / "cell")
    assert versus["scored_agents"] == ["agent_0", "agent_1"]
    for side in ("random_vs_elite", "elite_vs_random"):
        assert versus[side]["score"] == pytest.approx(versus[side]["teams"]["agent"])
    elite, _ = load_elite(tmp_path / "cell")
    cfg = cell_params.evaluate

    def play(random_agents: set[str]) -> dict[str, float]:
        env = EnvFactory(elite.spec.env_name, elite.spec.env_kwargs).eval_env(cfg.episodes)
        policy = MixedPolicy(elite, random_agents, cfg.seed, env.num_envs)
        returns = run_episodes(policy, env, cfg.episodes, cfg.max_steps, seed=cfg.seed)
        env.close()
        return {
            a: pytest.approx(float(returns[:, i].mean())) for i, a in enumerate(elite.agent_ids)
        }

    assert play(set()) == row["returns"]  # nobody random: the evaluate stage's elite
    assert play(set(elite.agent_ids)) == baseline_scores(cell_params)["random"]["returns"]
    assert play({"agent_0", "agent_1"}) == versus["random_vs_elite"]["returns"]
    assert play({"adversary_0"}) == versus["elite_vs_random"]["returns"]


def test_versus_needs_a_scored_team(tiny_params, tmp_path: Path) -> None:
    from marlpipe.results.versus import versus_scores

    with pytest.raises(ValueError, match="evolution.fitness_agents: versus needs"):
        versus_scores(tiny_params, tmp_path)


def test_aggregate_compares_a_team_with_its_random_self_against_the_same_opponents(
    tmp_path: Path,
) -> None:
    summaries, baselines, versus = (tmp_path / d for d in ("summaries", "baselines", "versus"))
    for folder in (summaries, baselines, versus):
        folder.mkdir()
    for seed, score in ((0, 9.0), (1, 11.0)):
        cell = synthetic_cell("adversary", "MATD3", seed, score)
        cell["teams"] = {"adversary": -13.0, "agent": score}
        (summaries / f"adversary-matd3-s{seed}.json").write_text(json.dumps(cell))
        low = -1.0 - seed
        sides = {
            "random_vs_elite": {"score": low, "teams": {"adversary": -17.0, "agent": low}},
            "elite_vs_random": {"score": 37.0, "teams": {"adversary": -27.0, "agent": 37.0}},
        }
        (versus / f"adversary-matd3-s{seed}.json").write_text(json.dumps(sides))
    base = {"random": {"score": 18.4, "teams": {"adversary": -27.1, "agent": 18.4}},
            "zero": {"score": 16.7, "teams": {}}}  # fmt: skip
    (baselines / "adversary.json").write_text(json.dumps(base))

    rows = aggregate(summaries, baselines, tmp_path / "R.md", tmp_path / "r.png", versus=versus)
    assert rows[0]["versus"]["random_vs_elite"]["score"] == pytest.approx(-1.5)
    text = (tmp_path / "R.md").read_text()
    assert "+11.5 over random vs the same opponents" in text  # 10.0 - (-1.5)
    assert (
        "| adversary | MATD3 | 10.0 (adversary -13.0, agent 10.0) | -1.5 (adversary -17.0, "
        "agent -1.5) | 37.0 (adversary -27.0, agent 37.0) | 18.4 (adversary -27.1, agent 18.4) |"
    ) in text
    (versus / "adversary-matd3-s1.json").unlink()
    with pytest.raises(FileNotFoundError, match="versus: no file for adversary-matd3-s1"):
        aggregate(summaries, baselines, tmp_path / "R.md", tmp_path / "r.png", versus=versus)


def test_vmas_target_is_mpe2s_score_relative_to_its_random_policy() -> None:
    cells = [synthetic_cell("speaker_listener", "MATD3", 0, -15.0),
             synthetic_cell("vmas_speaker_listener", "MATD3", 0, -20.0)]  # fmt: skip
    baselines = {"speaker_listener": {"random": {"score": -75.0}},
                 "vmas_speaker_listener": {"random": {"score": -120.0}}}  # fmt: skip
    rows = table_rows(cells, baselines)
    assert rows[1]["target"] == pytest.approx(-24.0)  # -120 x (-15 / -75)
    text = markdown(rows)
    assert "-24.0 or better (speaker_listener's -15.0 is 0.200 x its random -75.0): met" in text


def test_the_table_says_which_code_and_which_cpu_kind_made_each_row(tmp_path: Path) -> None:
    summaries, baselines, kind = tmp_path / "s", tmp_path / "b", tmp_path / "f" / "x86_64-amd"
    for folder in (summaries, baselines, kind):
        folder.mkdir(parents=True)
    for seed, cpu in ((0, "x86_64-amd"), (1, None)):
        cell = synthetic_cell("speaker_listener", "MATD3", seed, -14.0 - seed)
        if cpu:
            cell["cpu_kind"] = cpu
        (summaries / f"c{seed}.json").write_text(json.dumps(cell))
    (kind / "speaker_listener-matd3.json").write_text(json.dumps({"fitness_sha256": "ab" * 32}))
    md = tmp_path / "R.md"
    aggregate(summaries, baselines, md, tmp_path / "r.png", fingerprints=kind.parent / kind.name)
    text = md.read_text()
    assert "| speaker_listener | MATD3 | abababababab (x86_64-amd) | x86_64-amd; 1 cell(s) " in text
    aggregate(summaries, baselines, md, tmp_path / "r.png")  # no folder: no fingerprint named
    assert "abababababab" not in md.read_text()


def test_a_peer_row_joins_the_table_and_names_its_library(tmp_path: Path) -> None:
    summaries, baselines, peers = tmp_path / "s", tmp_path / "b", tmp_path / "peer"
    for folder in (summaries, baselines, peers):
        folder.mkdir()
    for seed in (0, 1):
        ours = synthetic_cell("speaker_listener", "MATD3", seed, -14.0 - seed)
        (summaries / f"ours{seed}.json").write_text(json.dumps(ours))
        theirs = synthetic_cell("speaker_listener", "AgileRL-MATD3", seed, -30.0 - seed)
        theirs |= {"peer": "AgileRL 2.58.0", "cpu_kind": "x86_64-amd"}
        (peers / f"theirs{seed}.json").write_text(json.dumps(theirs))
    (baselines / "speaker_listener.json").write_text(json.dumps({"random": {"score": -74.0}}))
    md = tmp_path / "R.md"
    rows = aggregate(summaries, baselines, md, tmp_path / "r.png", peers=peers)
    assert [(r["algorithm"], r["mean"], r["peer"]) for r in rows] == [
        ("MATD3", -14.5, None), ("AgileRL-MATD3", -30.5, "AgileRL 2.58.0"),
    ]  # fmt: skip: a task's peer rows after ours
    text = md.read_text()
    assert "| speaker_listener | AgileRL-MATD3 | 2 | -30.5 ± " in text
    assert "- speaker_listener / AgileRL-MATD3: AgileRL 2.58.0" in text  # the peer paragraph
    assert "| AgileRL 2.58.0's training (its scoring: ours) | x86_64-amd |" in text
    assert "- AgileRL-MATD3: 0.73 [" in text  # normalised like ours: (-30.5 + 74) / (-14.5 + 74)
    assert aggregate(summaries, baselines, md, tmp_path / "r.png")[0]["algorithm"] == "MATD3"
    (peers / "anonymous.json").write_text(json.dumps(synthetic_cell("x", "PPO", 0, 1.0)))
    with pytest.raises(ValueError, match=r"anonymous.json: a peer summary needs 'peer'"):
        aggregate(summaries, baselines, md, tmp_path / "r.png", peers=peers)
