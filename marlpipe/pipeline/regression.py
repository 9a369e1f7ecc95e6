"""CI fitness regression: a short pipeline run compared with a committed baseline score.

The four stages run in a temporary directory (so the repo's models, reports and MLflow store
are untouched) on the CI params, with tracking off. The evaluated score must not fall more than
``tolerance`` below the baseline. Seeds are fixed, so on one machine type with one set of library
builds the score is the same on every run; another CPU (other SIMD kernels) or another torch or
numpy changes float results in the last digits, and over thousands of updates that moves the
score by a few points: the tolerance absorbs that, not luck.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from marlpipe.config import load_params, with_overrides
from marlpipe.errors import UserError
from marlpipe.io import read_json, write_json

DEFAULT_PARAMS = "params-ci.yaml"
DEFAULT_BASELINE = "ci/fitness-baseline.json"
DEFAULT_TOLERANCE = 8.0


@dataclass(frozen=True)
class RegressionReport:
    """Outcome of one regression check."""

    passed: bool
    """Score within tolerance of (or above) the baseline."""
    score: float
    """Evaluated score of this run."""
    baseline: float | None
    """Committed baseline score (``None`` when writing a first baseline)."""
    tolerance: float
    """Allowed drop below the baseline."""
    seconds: float
    """Wall time of the short pipeline."""
    message: str
    """One line that shows both numbers."""


def measured_on() -> str:
    """Python, torch and numpy versions and the machine: what the baseline's digits depend on."""
    import numpy
    import torch

    return (
        f"python {platform.python_version()}, torch {torch.__version__}, numpy "
        f"{numpy.__version__}, {platform.machine()} ({torch.backends.cpu.get_cpu_capability()})"
    )


def run_pipeline(params_path: str | Path, workdir: str | Path, progress: bool = True) -> float:
    """Run the four stages (:class:`~marlpipe.pipeline.experiment.Experiment`) in ``workdir``,
    tracking off, from generation 0; return the score."""
    from marlpipe.pipeline.experiment import Experiment

    params = with_overrides(load_params(params_path), {"tracking": {"enabled": False}})
    return Experiment(params, workdir, resume=False, progress=progress).run().score


def run(
    params_path: str | Path | None = None,
    baseline_path: str | Path | None = None,
    *,
    update: bool = False,
    progress: bool = True,
) -> RegressionReport:
    """Run the short pipeline and compare (or, with ``update``, record) the baseline."""
    params_path = Path(params_path or DEFAULT_PARAMS)
    baseline_path = Path(baseline_path or DEFAULT_BASELINE)
    if not params_path.is_file():
        raise UserError(f"{params_path}: file not found (CI params for the regression run)")
    baseline = baseline_machine = None
    tolerance = DEFAULT_TOLERANCE
    if baseline_path.is_file():
        data = read_json(baseline_path)
        baseline, tolerance = float(data["score"]), float(data.get("tolerance", tolerance))
        baseline_machine = data.get("measured_on")
    elif not update:
        raise UserError(
            f"{baseline_path}: file not found (create it with `marlpipe check-regression --update`)"
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="marlpipe-regression-") as workdir:
        score = run_pipeline(params_path, workdir, progress)
    seconds = time.perf_counter() - started
    if update:
        write_json(
            baseline_path,
            {
                "score": round(score, 4),
                "tolerance": tolerance,
                "params": params_path.as_posix(),
                "measured_on": measured_on(),
            },
        )
        message = f"baseline written: score {score:.2f} (tolerance {tolerance:.2f})"
        return RegressionReport(True, score, baseline, tolerance, seconds, message)
    passed = score >= baseline - tolerance
    verdict = "ok" if passed else "FITNESS REGRESSION"
    message = (
        f"{verdict}: score {score:.2f} vs baseline {baseline:.2f} "
        f"(allowed down to {baseline - tolerance:.2f}, tolerance {tolerance:.2f}; {seconds:.0f}s)"
    )
    if not passed and baseline_machine:
        message += f"; baseline measured on {baseline_machine}, this run on {measured_on()}"
    return RegressionReport(passed, score, baseline, tolerance, seconds, message)
