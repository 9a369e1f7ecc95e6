"""Atomic writes: permissions like a plain write, the old file kept when writing fails."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from marlpipe.io import atomic_dir, atomic_write, read_json, write_json


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        written = write_json(tmp_path / "a.json", {"x": 1})
        with atomic_dir(tmp_path / "models") as tmp:
            (tmp / "m.txt").write_text("m")
    finally:
        os.umask(old)
    assert mode(written) == 0o644
    assert mode(tmp_path / "models") == 0o755


def test_failed_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = write_json(tmp_path / "a.json", {"version": 1})

    def half_then_crash(handle) -> None:
        handle.write(b'{"version": ')
        raise KeyboardInterrupt  # a kill in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_crash)
    assert read_json(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # no temporary file left


def test_mlflow_errors_are_one_line_naming_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.exceptions import MlflowException

    from marlpipe.pipeline.errors import one_line, user_error_types

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "bogus://nowhere")
    err = MlflowException("Could not find a registered tracking store\nfor scheme 'bogus'")
    assert isinstance(err, user_error_types())
    assert one_line(err) == (
        "MLflow tracking failed with MLFLOW_TRACKING_URI=bogus://nowhere: "
        "Could not find a registered tracking store"
    )


def test_a_missing_pipeline_dependency_is_one_line_naming_the_extra() -> None:
    from marlpipe.errors import UserError, require

    with pytest.raises(UserError, match=r"^Tracking needs nosuch_pkg_xyz, which is not installed: "
                       r"pip install 'marlpipe\[pipeline\]'$"):  # fmt: skip
        require("nosuch_pkg_xyz.sub", "Tracking")
    assert require("json", "x").dumps(1) == "1"
