"""Logging and loading the elite's pyfunc model prints no warning a user cannot act on.

Each step runs in a fresh Python, as ``marlpipe train``/``evaluate`` and a user's
``mlflow.pyfunc.load_model`` do: MLflow's warnings about ``predict``'s type hints come once per
process (when the class is defined), so an earlier test in this process would hide them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
from pathlib import Path

import numpy as np

root, step = Path(sys.argv[1]), sys.argv[2]
if step == "log":
    from marlpipe.algos import load_agent
    from marlpipe.tracking import MlflowTracker
    from marlpipe.tracking.pyfunc_model import save_elite_model

    checkpoint = root / "elite.pt"
    spec = load_agent(checkpoint).spec
    tracker = MlflowTracker("quiet", root=root, run_name="quiet")
    tracker.start()
    uri, model_id = tracker.log_model(
        "model", lambda path, meta: save_elite_model(path, checkpoint, spec, mlflow_model=meta)
    )
    version = tracker.register_model("quiet-elite", uri, model_id=model_id)
    tracker.finish()
    print("logged", version)
else:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model("models:/quiet-elite/1")
    actions = model.predict({"a": np.zeros((4, 3), np.float32), "b": np.zeros(4, np.int64)})
    print("actions", sorted(actions), actions["a"].shape)
"""

NOISE = ("Warning", "WARNING", "Downloading artifacts", "Uploading artifacts", "CloudPickle")
"""What MLflow prints for a warning (``warnings`` and its logger) or an artefact progress bar."""


def run_step(root: Path, step: str) -> str:
    """Run one step in a fresh Python with the default warning filters; its stdout."""
    unset = ("MLFLOW_", "PYTHONWARN", "DVC_")  # e.g. a progress-bar setting, a DVC root
    env = {k: v for k, v in os.environ.items() if not k.startswith(unset)}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), step],
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    noisy = [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)]
    assert not noisy, f"{step} printed:\n" + "\n".join(noisy)
    return done.stdout


def test_logging_and_loading_the_pyfunc_model_prints_no_warning(tmp_path: Path) -> None:
    from marlpipe.algos import MATD3
    from tests.helpers.builders import make_spec

    MATD3(make_spec(), {"hidden_sizes": [16]}, seed=3).save_checkpoint(tmp_path / "elite.pt")
    assert "logged 1" in run_step(tmp_path, "log")
    assert "actions ['a', 'b'] (4, 2)" in run_step(tmp_path, "load")
    # from code, as MLflow recommends: no pickled model object
    (model,) = (tmp_path / "mlartifacts").glob("quiet/models/*/artifacts")
    assert (model / "elite_model_code.py").is_file()
    assert not list(model.glob("*.pkl"))


def test_predict_says_what_it_takes_and_returns() -> None:
    from marlpipe.tracking.pyfunc_model import ElitePolicy

    hints = typing.get_type_hints(ElitePolicy.predict)
    assert hints["model_input"] == hints["return"] == dict[str, np.ndarray]
