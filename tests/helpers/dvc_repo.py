"""A git + DVC repo holding this checkout's pipeline, for tests that run DVC as users do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from marlpipe.config import Params, dump_params

REPO = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
DVC = [sys.executable, "-m", "dvc"]
# What a user's shell would not carry into a fresh terminal: a tracking URI or DVC variables
# from the test run itself. Without MLFLOW_TRACKING_URI the stages use the repo's mlflow.db.
_UNSET = ("MLFLOW_TRACKING_URI", "DVC_ROOT", "DVC_EXP_NAME", "DVC_STAGE")


def user_env() -> dict[str, str]:
    """The environment a user's commands run in (see ``_UNSET``)."""
    return {k: v for k, v in os.environ.items() if k not in _UNSET}


def run(cmd: list[str], cwd: Path, timeout: int = 300, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in ``cwd``; its stdout and stderr (asserting it succeeded)."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def pipeline_repo(root: Path, params: Params) -> Path:
    """A git + DVC repo at ``root`` holding this checkout's pipeline and ``params``."""
    root.mkdir(exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(REPO / name, root / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "stages", root / "stages", ignore=ignore)
    shutil.copytree(REPO / "marlpipe", root / "marlpipe", ignore=ignore)
    (root / "params.yaml").write_text(dump_params(params))
    # The stages must run the package they declare as deps, not whichever copy is installed.
    marker = "\nfrom pathlib import Path as _P\n(_P(__file__).parents[1] / 'ran-here').touch()\n"
    with open(root / "marlpipe" / "__init__.py", "a") as init:
        init.write(marker)
    run(["git", "init", "-q"], root)
    run([*DVC, "init", "-q"], root)
    run([*GIT, "add", "-A"], root)
    run([*GIT, "commit", "-qm", "pipeline"], root)
    return root


def run_queue(root: Path, env: dict[str, str], jobs: int = 2, deadline_s: float = 400) -> str:
    """``dvc queue start -j jobs``, then wait until no task is queued or running; the last ``dvc
    queue status``. Workers still idle a minute later are stopped (``dvc queue stop``).

    The workers are forked children of ``dvc queue start`` (``multiprocessing``) and inherit its
    stdout: captured through a pipe, ``queue start`` would return only once every worker had gone,
    however long an idle worker lingers. Its output goes to a file instead, and the queue is
    polled. On the deadline the assertion shows the status and every task's log.
    """
    (root / ".dvc" / "tmp").mkdir(exist_ok=True)  # ignored by .dvc/.gitignore
    start_log = root / ".dvc" / "tmp" / "queue-start.log"
    with open(start_log, "w") as log:
        done = subprocess.run(
            [*DVC, "queue", "start", "-j", str(jobs)], cwd=root, env=env, stdout=log,
            stderr=subprocess.STDOUT, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, start_log.read_text()
    deadline = time.monotonic() + deadline_s
    while True:
        status = run([*DVC, "queue", "status"], root, env=env)
        settled = not any(word in status for word in ("Queued", "Running"))
        if settled and "0 active" in status:
            break
        if time.monotonic() > deadline:
            running = [line.split()[0] for line in status.splitlines() if "Running" in line]
            logs = [run([*DVC, "queue", "logs", task], root, env=env) for task in running]
            raise AssertionError(status + "\n".join(logs))
        time.sleep(2)
    idle_until = time.monotonic() + 60
    while "0 idle" not in run([*DVC, "queue", "status"], root, env=env):
        if time.monotonic() > idle_until:
            run([*DVC, "queue", "stop"], root, env=env)
            break
        time.sleep(2)
    return status
