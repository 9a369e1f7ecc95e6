"""The population in a pool of processes (``population.backend: processes``, the default):
byte-identical to one member after another in this process, for any number of processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from marlpipe.config import ConfigError, Params, with_overrides
from marlpipe.envs import EnvFactory
from marlpipe.errors import UserError
from marlpipe.pipeline.experiment import Experiment
from marlpipe.training import process_trainer
from marlpipe.training.process_trainer import ProcessTrainer, pool_size
from marlpipe.training.trainers import LocalTrainer
from tests.helpers.ray_runs import (
    ENV,
    assert_identical,
    assert_resume_ends_as_uninterrupted,
    tiny_run,
)


@pytest.fixture(scope="module")
def local_merged():
    return tiny_run(LocalTrainer())


@pytest.mark.parametrize("workers", [1, 2])
def test_processes_equal_local_merged(local_merged, workers):
    trainer = ProcessTrainer(ENV, workers=workers)
    try:
        in_pool = tiny_run(trainer)
    finally:
        trainer.close()
    assert_identical(local_merged, in_pool)
    members = [m for r in in_pool[2] for m in r.members]
    labels = {m.worker for m in members}
    assert all(label.startswith("process:") for label in labels)
    assert 1 <= len(labels) <= workers
    # each member's fitness episodes ran in the process that trained it, with the same scores
    assert all(m.evaluated_on == m.worker for m in members)
    assert [m.fitness for m in members] == [m.fitness for r in local_merged[2] for m in r.members]


def test_a_dead_process_is_one_line_naming_the_backend():
    import os
    import signal

    trainer = ProcessTrainer(ENV, workers=1)
    killed = []

    def kill_the_worker(_result, _state):
        if not killed:
            pid = next(iter(trainer._pool._processes))
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        with pytest.raises(UserError) as err:
            tiny_run(trainer, on_generation=kill_the_worker)
    finally:
        trainer.close()
    message = str(err.value)
    assert killed and "\n" not in message
    assert "population.backend 'processes'" in message and "resumed" in message


def test_the_processes_start_with_the_trainer_and_a_failed_start_is_one_line():
    trainer = ProcessTrainer(ENV, workers=2)
    try:
        pids = trainer.wait_ready()  # before any work was sent: started by the constructor
        assert len(set(pids)) == 2 and set(pids) == set(trainer._pool._processes)
    finally:
        trainer.close()
    broken = ProcessTrainer(EnvFactory("marlpipe_no_such_module:make"), workers=1)
    try:
        with pytest.raises(UserError, match="could not start") as err:
            broken.wait_ready()
        assert "\n" not in str(err.value)
    finally:
        broken.close()


def test_pool_size_is_one_per_cpu_and_never_more_than_the_members(monkeypatch):
    monkeypatch.setattr(process_trainer, "usable_cpus", lambda: 2)
    assert pool_size(None, 4) == 2
    assert pool_size(None, 1) == 1
    assert pool_size(3, 4) == 3 and pool_size(8, 4) == 4
    monkeypatch.setattr(process_trainer, "usable_cpus", lambda: 1)
    assert pool_size(None, 4) == 1


def test_the_default_is_processes_with_merged_experience_and_one_cpu_trains_here(
    monkeypatch, tmp_path
):
    params = Params()
    assert (params.population.backend, params.population.experience) == ("processes", "merged")
    experiment = Experiment(params, tmp_path)
    monkeypatch.setattr(process_trainer, "usable_cpus", lambda: 1)
    assert type(experiment.trainer(ENV)) is LocalTrainer
    monkeypatch.setattr(process_trainer, "usable_cpus", lambda: 2)
    trainer = experiment.trainer(ENV)
    try:
        assert isinstance(trainer, ProcessTrainer) and trainer.workers == 2
    finally:
        trainer.close()


@pytest.mark.parametrize("backend", ["processes", "ray"])
def test_parallel_backends_need_merged_experience(backend):
    with pytest.raises(ConfigError) as err:
        with_overrides(Params(), {"population": {"backend": backend, "experience": "shared"}})
    message = str(err.value)
    assert "population.experience" in message and repr(backend) in message
    assert "'local'" in message and "\n" not in message
    local = with_overrides(Params(), {"population": {"backend": "local", "experience": "shared"}})
    assert local.population.experience == "shared"


MF_PBT = {"population": {"size": 6}, "evolution": {"selection": "mf_pbt"},
          "mf_pbt": {"subpopulations": 2, "frequency_ratios": [1, 2]}}  # fmt: skip
"""MF-PBT selection: 2 subpopulations of 3, evolving every generation and every other one."""


@pytest.mark.e2e
@pytest.mark.parametrize("selection", ["tournament", "mf_pbt"])
def test_resumed_evolve_in_processes_equals_an_uninterrupted_local_run(
    tmp_path: Path, tiny_params: Params, selection: str
) -> None:
    """The evolve stage in a pool of 2 processes, killed after its first generation and rerun,
    ends exactly where an uninterrupted run in this process ends (the same models), with
    either selection."""
    params = with_overrides(tiny_params, MF_PBT) if selection == "mf_pbt" else tiny_params
    local = with_overrides(params, {"population": {"backend": "local"}})
    pooled = with_overrides(params, {"population": {"backend": "processes", "workers": 2}})
    assert_resume_ends_as_uninterrupted(tmp_path, local, pooled)


def test_the_snapshot_file_gives_back_every_array_and_is_removed():
    """What a turn reads from the shared file is the snapshot, dtype, shape and bytes (float
    vectors and uint8 images alike); an empty buffer passes as it is; each generation's file
    replaces the last, and closing removes the folder."""
    import pickle

    import numpy as np

    from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
    from marlpipe.training.process_trainer import SnapshotFile, attach

    rng = np.random.default_rng(0)
    memory = MultiAgentReplayBuffer(50, TRANSITION_FIELDS, ["speaker_0", "eye_0"], seed=0)
    files = SnapshotFile()
    empty = memory.snapshot()
    assert files.publish(empty) is empty and attach(empty) is empty
    for _ in range(37):
        memory.save_to_memory(
            {"speaker_0": rng.normal(size=3).astype(np.float32),
             "eye_0": rng.integers(0, 255, size=(5, 7, 3), dtype=np.uint8)},
            {"speaker_0": rng.normal(size=2).astype(np.float32), "eye_0": np.int64(2)},
            {"speaker_0": 0.5, "eye_0": -1.0},
            {"speaker_0": rng.normal(size=3).astype(np.float32),
             "eye_0": rng.integers(0, 255, size=(5, 7, 3), dtype=np.uint8)},
            {"speaker_0": False, "eye_0": True},
        )  # fmt: skip
    snapshot = memory.snapshot()
    shared = files.publish(snapshot)
    assert shared["data"] is None and len(pickle.dumps(shared)) < 4096  # places, not arrays
    back = attach(shared)
    assert {k: v for k, v in back.items() if k != "data"} == {
        k: v for k, v in snapshot.items() if k != "data"}  # fmt: skip
    for name, field in snapshot["data"].items():
        for agent, rows in field.items():
            got = back["data"][name][agent]
            assert got.dtype == rows.dtype and got.shape == rows.shape, (name, agent)
            assert np.array_equal(got, rows), (name, agent)
    rebuilt = MultiAgentReplayBuffer.from_snapshot(back, seed=1)
    assert np.array_equal(rebuilt.snapshot()["data"]["state"]["eye_0"],
                          snapshot["data"]["state"]["eye_0"])  # fmt: skip
    first = Path(shared["file"]["path"])
    again = files.publish(memory.snapshot())
    assert not first.exists() and Path(again["file"]["path"]).exists()
    files.close()
    assert not files.folder.exists()
