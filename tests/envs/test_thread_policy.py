"""torch's OpenMP threads must not spin beside the async backend's env workers: marlpipe,
imported before torch, makes them wait passively; imported after, the env factory steps the
copies in this process instead and says how to get async's speed back
(benchmarks/bench_threads.py measures both)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

import marlpipe
from marlpipe.envs import openmp as async_vector  # the async backend's OpenMP checks


def policy_in_fresh_python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport os; print(os.environ.get('OMP_WAIT_POLICY'))"],
        capture_output=True, text=True, check=True, env={**clean, **env},
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def test_marlpipe_imported_first_makes_openmp_wait_passively():
    assert policy_in_fresh_python("import marlpipe") == "PASSIVE"


def test_a_policy_you_set_is_kept():
    assert policy_in_fresh_python("import marlpipe", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"


def test_after_torch_it_is_too_late_and_left_alone():
    code = "import torch, marlpipe\nassert marlpipe.TORCH_LOADED_FIRST"
    assert policy_in_fresh_python(code) == "None"


@pytest.fixture
def spinning(monkeypatch):
    """torch loaded first, no policy set, 2 cores, 2 torch threads; the warning not yet given."""
    import torch

    monkeypatch.setattr(marlpipe, "TORCH_LOADED_FIRST", True)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(async_vector.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(async_vector, "_warned", False)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_the_async_env_warns_once_when_torch_threads_would_spin_beside_its_workers(
    spinning, caplog
):
    with caplog.at_level(logging.WARNING, logger="marlpipe.envs.async_vector"):
        assert async_vector.warn_if_spinning(1)
        assert not async_vector.warn_if_spinning(1)  # once per process
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message and "OMP_WAIT_POLICY=PASSIVE" in message
    assert "torch.set_num_threads(1)" in message and "import marlpipe first" in message


@pytest.mark.parametrize(
    "change",
    ["fits", "passive", "marlpipe_first"],
)
def test_no_warning_when_nothing_spins(spinning, monkeypatch, change):
    import torch

    if change == "fits":
        torch.set_num_threads(1)
    elif change == "passive":
        monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    else:
        monkeypatch.setattr(marlpipe, "TORCH_LOADED_FIRST", False)
    assert not async_vector.warn_if_spinning(1)


def test_the_factory_steps_the_copies_here_rather_than_beside_spinning_threads(
    spinning, monkeypatch, caplog
):
    from marlpipe.envs import EnvFactory
    from marlpipe.envs.async_vector import AsyncVecEnv
    from marlpipe.envs.mpe_fast import FastMpeVecEnv

    factory = EnvFactory("mpe2.simple_speaker_listener_v4", {"continuous_actions": True},
                         num_envs=4, backend="async", seed=3)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="marlpipe.envs.async_vector"):
        here = factory.vec_env()
    try:
        assert type(here) is FastMpeVecEnv  # what the sync backend builds: the same numbers
        (record,) = caplog.records
        assert "copies step in this process instead" in record.getMessage()
    finally:
        here.close()
    monkeypatch.setattr(marlpipe, "TORCH_LOADED_FIRST", False)  # marlpipe first: no spinning
    beside = factory.vec_env()
    try:
        assert type(beside) is AsyncVecEnv
    finally:
        beside.close()
