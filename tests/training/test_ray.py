"""The population on Ray: merged experience, identical results on any number of workers."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.config import ConfigError, Params, with_overrides
from marlpipe.errors import UserError
from marlpipe.evolution import create_population
from marlpipe.training import LoopState
from marlpipe.training.trainers import LocalTrainer
from tests.helpers.ray_runs import (
    ENV,
    SIZE,
    assert_identical,
    assert_resume_ends_as_uninterrupted,
    tiny_run,
    worker_pythonpath,
)

ray = pytest.importorskip("ray")

from marlpipe.training.ray_trainer import RayTrainer, connect  # noqa: E402

pytestmark = pytest.mark.e2e  # starts a local Ray: deselect with -m 'not e2e'

@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module's tests (workers import this checkout: PYTHONPATH)."""
    path = worker_pythonpath()
    ray.init(num_cpus=2, address="local", include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_merged():
    return tiny_run(LocalTrainer())


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_equals_local_merged(local_ray, local_merged, workers):
    trainer = RayTrainer(ENV, workers=workers)
    try:
        on_ray = tiny_run(trainer)
    finally:
        trainer.close()
    assert_identical(local_merged, on_ray)
    records = on_ray[2]
    labels = {m.worker for r in records for m in r.members}
    assert None not in labels and 1 <= len(labels) <= workers
    assert all(r.extra["slowest_member_s"] > 0 and "merge_s" in r.extra for r in records)
    assert all(m.worker is None for r in local_merged[2] for m in r.members)
    # the fitness episodes ran on the worker that trained the member, not on the driver
    ray_members = [m for r in records for m in r.members]
    local_members = [m for r in local_merged[2] for m in r.members]
    assert all(m.evaluated_on == m.worker and m.node for m in ray_members)
    assert all(m.evaluated_on is None and m.node is None for m in local_members)
    assert [m.fitness for m in ray_members] == [m.fitness for m in local_members]
    assert all(m.reruns == 0 for m in ray_members) and all(r.extra["reruns"] == 0 for r in records)


def test_driver_evaluation_flag_gives_the_same_numbers(local_ray, local_merged):
    """``evaluate=False`` keeps the old path (the driver plays every member's fitness episodes
    after the turns) with the same numbers; it is what the benchmark measures against."""
    trainer = RayTrainer(ENV, workers=2, evaluate=False)
    try:
        on_driver = tiny_run(trainer)
    finally:
        trainer.close()
    assert_identical(local_merged, on_driver)
    assert all(m.evaluated_on is None and m.worker for r in on_driver[2] for m in r.members)


def test_merged_differs_from_shared_and_appends_every_member(local_merged):
    shared = tiny_run(None)
    assert shared[0].history != local_merged[0].history  # members no longer see each other
    assert local_merged[1].counter == shared[1].counter == 2 * SIZE * 200


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_killed_worker_mid_generation_gives_the_same_result(local_ray, local_merged):
    """SIGKILL one worker while it trains a member of the second generation: the task reruns on
    a fresh worker and the run ends exactly as without the kill."""
    trainer = RayTrainer(ENV, workers=2)
    killed: list[int] = []

    def kill_mid_training(generation, _result, _state=None) -> None:
        if generation != 0:
            return
        pid = trainer.pids()[0]
        start = _cpu_ticks(pid)

        def killer() -> None:
            deadline = time.monotonic() + 30
            try:
                while time.monotonic() < deadline:  # busy once its next task has started
                    if _cpu_ticks(pid) - start >= 5:  # 50 ms of CPU: well into a turn's work
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                        return
                    time.sleep(0.005)
            except FileNotFoundError:  # the worker is gone already: the test fails below
                return

        threading.Thread(target=killer, daemon=True).start()

    try:
        on_ray = tiny_run(
            trainer,
            on_generation=lambda result, _state: kill_mid_training(
                result.record.generation, result
            ),
        )
        assert killed and trainer.restarts == 1 and trainer.code_checks == 2 + 1
    finally:
        trainer.close()
    assert_identical(local_merged, on_ray)
    second = on_ray[2][1]  # the replaced work is recorded: one rerun turn in generation 1
    assert second.extra["reruns"] == 1 and sum(m.reruns for m in second.members) == 1
    assert on_ray[2][0].extra["reruns"] == 0


def test_replacement_worker_passes_the_same_code_check(local_ray):
    """A worker started to replace a dead one is checked like the first ones: once the driver
    expects other code (as if the replacement imported another marlpipe), the rerun stops with
    the one-line error instead of training on it."""
    from marlpipe.training.member import member_task
    from marlpipe.training.rollout import EpsilonSchedule

    env = ENV.vec_env()
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]}, {"batch_size": 32}, 1, 0)
    memory = MultiAgentReplayBuffer(2000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    env.close()
    task = member_task(pop[0], 0, LoopState.start(0), 20, EpsilonSchedule(1.0, 0.1, 0.9999))
    trainer = RayTrainer(ENV, workers=1)
    try:
        assert trainer.code_checks == 1
        os.kill(trainer.pids()[0], signal.SIGKILL)
        trainer.code = "0" * 64  # the hash no worker imports
        with pytest.raises(UserError) as err:
            trainer.train([task], memory.snapshot())
        assert trainer.code_checks == 2 and trainer.restarts == 0
        message = str(err.value)
        assert "\n" not in message and "Ray worker" in message and "population.backend" in message
    finally:
        trainer.close()


def test_unreachable_address_is_one_line_within_seconds():
    started = time.monotonic()
    with pytest.raises(UserError) as err:
        connect("127.0.0.1:1")
    message = str(err.value)
    assert "\n" not in message and "127.0.0.1:1" in message and "population.ray_address" in message
    assert time.monotonic() - started < 5


def test_ray_backend_needs_merged_experience():
    with pytest.raises(ConfigError) as err:
        with_overrides(Params(), {"population": {"backend": "ray", "experience": "shared"}})
    assert "population.experience" in str(err.value) and "\n" not in str(err.value)
    params = with_overrides(Params(), {"population": {"backend": "ray", "experience": "merged"}})
    assert params.population.workers is None and params.population.num_cpus == 1.0


def test_workers_reserve_a_gpu_when_members_train_on_cuda():
    from marlpipe.training.ray_trainer import worker_gpus

    def population(**values):
        return with_overrides(Params(), {"population": values}).population

    assert worker_gpus(population()) == 0.0
    assert worker_gpus(population(device="cuda")) == 1.0
    assert worker_gpus(population(device="cuda:1", num_gpus=0.5)) == 0.5
    assert worker_gpus(population(num_gpus=2)) == 2.0
    with pytest.raises(ConfigError, match="population.num_gpus"):
        population(num_gpus=-1)


def _pipeline_params(tiny_params: Params, **population) -> Params:
    return with_overrides(tiny_params, {"population": {"size": 2} | population})


MF_PBT = {"population": {"size": 6}, "evolution": {"selection": "mf_pbt"},
          "mf_pbt": {"subpopulations": 2, "frequency_ratios": [1, 2]}}  # fmt: skip
"""MF-PBT selection (with 6 members: 2 subpopulations of 3)."""


@pytest.mark.parametrize("selection", ["tournament", "mf_pbt"])
def test_resumed_ray_evolve_equals_an_uninterrupted_local_merged_run(
    local_ray, tmp_path: Path, tiny_params: Params, selection: str
) -> None:
    """The evolve stage on Ray, killed after its first generation and rerun, ends exactly where
    an uninterrupted local run with merged experience ends (both give the same models), with
    either selection."""
    size = 6 if selection == "mf_pbt" else 2
    params = with_overrides(tiny_params, MF_PBT) if selection == "mf_pbt" else tiny_params
    local = _pipeline_params(params, experience="merged", size=size)
    on_ray = _pipeline_params(params, experience="merged", backend="ray", workers=2, size=size)
    assert_resume_ends_as_uninterrupted(tmp_path, local, on_ray)


def test_cli_reports_an_unreachable_address_in_one_line(
    tmp_path: Path, tiny_params: Params
) -> None:
    from click.testing import CliRunner

    from marlpipe.cli import cli
    from marlpipe.config import dump_params
    from marlpipe.pipeline import envspec, init_population

    params = _pipeline_params(tiny_params, experience="merged", backend="ray",
                              ray_address="127.0.0.1:1")  # fmt: skip
    envspec.run(params, tmp_path)
    init_population.run(params, tmp_path)
    (tmp_path / "params.yaml").write_text(dump_params(params))
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["evolve", "--root", str(tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], result.stderr
    assert time.monotonic() - started < 15


def test_worker_and_slowest_member_reach_mlflow(tmp_path: Path, mlflow_uri: str) -> None:
    """The tracker logs who trained each member (a param) and the slowest turn (a metric)."""
    from marlpipe.tracking import MlflowTracker
    from marlpipe.training import GenerationRecord, MemberRecord

    tracker = MlflowTracker("tests", root=tmp_path)
    run_id = tracker.start()
    members = [
        MemberRecord(index=i, fitness=-1.0, selection_fitness=-1.0, parent=None, mutation=None,
                     hyperparameters={}, train_return=None, learn_calls=0,
                     worker=f"127.0.0.1:{100 + i}" if i else None)
        for i in range(2)
    ]  # fmt: skip
    tracker.log_generation(GenerationRecord(
        generation=0, env_steps=10, members=members, elite_index=0, elite_fitness=-1.0,
        wall_time=0.1, extra={"slowest_member_s": 2.5, "ship_s": 0.01, "merge_s": 0.02},
    ))  # fmt: skip
    tracker.finish()
    exp = tracker.client.get_run(run_id).info.experiment_id
    child = tracker.client.search_runs([exp], f"tags.mlflow.parentRunId = '{run_id}'")[0]
    assert child.data.params["member_1.worker"] == "127.0.0.1:101"
    assert "member_0.worker" not in child.data.params
    assert child.data.metrics["extra.slowest_member_s"] == 2.5
