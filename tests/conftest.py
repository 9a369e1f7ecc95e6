"""Shared fixtures: tiny pipeline params and a throwaway MLflow store."""

from __future__ import annotations

from pathlib import Path

import pytest

from marlpipe.config import Params, dump_params, with_overrides
from tests.helpers.builders import TINY


@pytest.fixture
def tiny_params() -> Params:
    """Default params shrunk to 2 members x 2 envs x 200 steps x 2 generations, no tracking."""
    return with_overrides(Params(), TINY)


@pytest.fixture
def tiny_params_file(tmp_path: Path, tiny_params: Params) -> Path:
    """``tiny_params`` written as a complete params.yaml in ``tmp_path``."""
    path = tmp_path / "params.yaml"
    path.write_text(dump_params(tiny_params))
    return path


@pytest.fixture
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point MLflow at a fresh SQLite store in ``tmp_path`` (via MLFLOW_TRACKING_URI)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def pytest_configure(config: pytest.Config) -> None:
    """Run torch on one thread: on 2-core machines the tiny networks here are dominated by
    thread hand-off, and the pipeline stages also use one thread (``population.torch_threads``)."""
    import torch

    torch.set_num_threads(1)
