"""The resume module's own helpers: moving a stale checkpoint aside, the MLflow run a checkpoint
names, and the one-line error text (the whole-run resume tests are in test_pipeline.py)."""

from __future__ import annotations

import json
import logging
import re

import numpy as np
import pytest

from marlpipe.config import Params
from marlpipe.pipeline import resume


def checkpoint_dir(root, name="checkpoint"):
    directory = root / name
    directory.mkdir()
    (directory / "state.json").write_text('{"mlflow_run_id": "abc"}')
    return directory


def test_move_aside_keeps_everything_under_a_dated_name_and_says_why(tmp_path, caplog):
    directory = checkpoint_dir(tmp_path)
    with caplog.at_level(logging.WARNING, logger=resume.__name__):
        target = resume.move_aside(directory, "params", "seed 1 -> 2")
    assert re.fullmatch(r"checkpoint\.stale-params-\d{8}T\d{6}Z", target.name), target.name
    assert not directory.exists() and (target / "state.json").read_text().endswith('"abc"}')
    assert caplog.messages == [
        f"evolve: the partial run in {directory} made under other params: seed 1 -> 2; moved it "
        f"to {target.name} and starting at generation 0 (remove it when you no longer need it)"
    ]


def test_move_aside_never_overwrites_an_earlier_stale_copy(tmp_path, monkeypatch, caplog):
    """Within the same second the names count on: -2, -3; without a detail, the reason alone."""
    formats = []

    def fixed(fmt, *_):
        formats.append(fmt)
        return "20261207T101500Z"

    monkeypatch.setattr(resume.time, "strftime", fixed)
    names = []
    with caplog.at_level(logging.WARNING, logger=resume.__name__):
        for _ in range(3):
            names.append(resume.move_aside(checkpoint_dir(tmp_path), "code").name)
    assert formats == ["%Y%m%dT%H%M%SZ"] * 3
    stale = "checkpoint.stale-code-20261207T101500Z"
    assert names == [stale, f"{stale}-2", f"{stale}-3"]
    assert all((tmp_path / name / "state.json").is_file() for name in names)
    assert "made by other training code; moved it to" in caplog.messages[-1]


def test_mlflow_run_of_reads_the_checkpoints_run_id_or_none(tmp_path):
    assert resume.mlflow_run_of(checkpoint_dir(tmp_path)) == "abc"
    other = tmp_path / "other"
    other.mkdir()
    (other / "state.json").write_text(json.dumps({"mlflow_run_id": 7}))
    assert resume.mlflow_run_of(other) is None  # not a run id
    assert resume.mlflow_run_of(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("err", "text"),
    [(ValueError("bad\n  json   here"), "bad json here"), (KeyError(), "KeyError"),
     (OSError("x" * 400), "x" * 300)],
)  # fmt: skip
def test_an_error_is_one_short_line(err, text):
    assert resume._short(err) == text


def test_a_checkpoint_keeps_the_elite_and_its_run_and_other_code_is_moved_aside(
    tmp_path, monkeypatch, caplog
):
    from marlpipe.algos import MATD3
    from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
    from tests.helpers.builders import make_spec, random_obs

    spec, net = make_spec(), {"hidden_sizes": [16]}
    population = [MATD3(spec, net, seed=i, index=i) for i in range(2)]
    elite = MATD3(spec, net, seed=7, index=5)
    state = resume.EvolveState(population, elite, 1.5, {"generation": 3}, {}, {},
                               mlflow_run_id="run-1")  # fmt: skip
    params, directory = Params(), tmp_path / "checkpoint"
    buffer = MultiAgentReplayBuffer(10, TRANSITION_FIELDS, spec.agent_ids)
    resume.save(directory, state, buffer, params)
    resumed: list[str] = []  # its run is resumed, so it is not left among the abandoned
    loaded = resume.load(directory, MultiAgentReplayBuffer(10, TRANSITION_FIELDS, spec.agent_ids),
                         params, resumed)  # fmt: skip
    assert resumed == []
    assert loaded.elite.index == 5 and loaded.elite_fitness == 1.5
    assert loaded.mlflow_run_id == "run-1" and loaded.loop == {"generation": 3}
    obs = random_obs(spec, 4, np.random.default_rng(0))
    for a, b in zip(loaded.elite.get_action(obs, training=False)[1].values(),
                    elite.get_action(obs, training=False)[1].values(), strict=True):  # fmt: skip
        assert (a == b).all()
    member = next((directory / "population").glob("*.pt"))
    saved = member.read_bytes()
    member.write_bytes(saved[: len(saved) // 2])  # a damaged member file
    with caplog.at_level(logging.WARNING, logger=resume.__name__):
        assert resume.load(directory, buffer, params) is None
    assert f"cannot be read: {member}" in caplog.messages[-1]  # the damage, named
    [damaged] = tmp_path.glob("checkpoint.stale-unreadable-*")
    damaged.rename(directory)
    (directory / "population" / member.name).write_bytes(saved)
    monkeypatch.setattr(resume, "training_code_hash", lambda: "other code")
    abandoned: list[str] = []
    with caplog.at_level(logging.WARNING, logger=resume.__name__):
        assert resume.load(directory, buffer, params, abandoned) is None
    assert abandoned == ["run-1"] and not directory.exists()
    [moved] = tmp_path.glob("checkpoint.stale-code-*")
    assert "made by other training code" in caplog.messages[-1]
    assert (moved / "elite.pt").is_file()


def test_a_finished_run_discards_its_checkpoint_and_any_other_end_keeps_it(tmp_path):
    directory = checkpoint_dir(tmp_path)
    tracker = resume.CheckpointTracker.__new__(resume.CheckpointTracker)
    tracker.directory = directory
    tracker.finish("KILLED")
    assert directory.is_dir()
    tracker.finish()  # a run that ends normally
    assert not directory.exists()
    resume.discard(directory)  # already gone: nothing to do


def test_unreadable_or_foreign_state_is_moved_aside_and_half_saves_are_cleared(tmp_path, caplog):
    params = Params()
    directory = checkpoint_dir(tmp_path)
    (directory / "state.json").write_text("{not json")
    half = tmp_path / ".checkpoint.123.tmp"  # a save killed half-way
    half.mkdir()
    (half / "state.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger=resume.__name__):
        assert resume.load(directory, None, params) is None
    assert not half.exists() and not directory.exists()
    message = caplog.messages[-1]
    assert "cannot be read: state.json is not the JSON state a checkpoint holds (" in message
    assert "line 1 column 2" in message  # the parser's own words, on the same line
    directory = checkpoint_dir(tmp_path)
    (directory / "state.json").write_text("[1, 2]")  # JSON, but not a checkpoint's state
    abandoned: list[str] = []
    assert resume.load(directory, None, params, abandoned) is None and abandoned == []
    assert "written by another version of marlpipe" in caplog.messages[-1]
