"""``marlpipe ui``: MLflow's UI on the project's store, opened on the runs.

MLflow 3.17's UI picks its GenAI or model-training view from the address (the ``workflowType``
query of the route after ``#``), else from the browser's last choice, else GenAI; no server
setting or experiment tag changes that (``tests/tracking/test_mlflow_ui.py``). So a plain
``mlflow ui`` opens on traces and token usage. This command starts ``mlflow ui`` on the store
the pipeline logs to (``$MLFLOW_TRACKING_URI``, else ``<root>/mlflow.db``), waits until it
answers, prints the address of the experiment's runs in the model-training view and opens it in
the browser. Ctrl+C (or a SIGTERM) stops the server.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from marlpipe.errors import UserError

WORKFLOW = "workflowType=machine_learning"
"""The query that opens MLflow 3's UI in its model-training view (the runs)."""


def runs_address(host: str, port: int, experiment_id: str | None) -> str:
    """The UI's address of an experiment's runs (every experiment without an id), in the
    model-training view."""
    route = f"/experiments/{experiment_id}" if experiment_id else "/experiments"
    return f"http://{host}:{port}/#{route}?{WORKFLOW}"


def find_experiment(tracking_uri: str, name: str) -> str | None:
    """The id of experiment ``name`` in the store, ``None`` if it has none (yet)."""
    from marlpipe.tracking import store

    found = store.client(tracking_uri).get_experiment_by_name(name)
    return None if found is None else str(found.experiment_id)


def ui_command(tracking_uri: str, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line for the store."""
    return [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracking_uri,
            "--host", host, "--port", str(port)]  # fmt: skip


def wait_until_up(process: subprocess.Popen, url: str, timeout: float = 120) -> None:
    """Return once ``url`` answers; a server that exits first, or never answers, is a one-line
    error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            pass
        if process.poll() is not None:
            raise UserError(
                f"mlflow ui stopped with status {process.returncode} before answering at {url} "
                "(its lines above say why; is the port taken? --port chooses another)"
            )
        if time.monotonic() > deadline:
            raise UserError(f"mlflow ui did not answer at {url} within {timeout:.0f} s")
        time.sleep(0.3)


def serve(
    root: str | Path, experiment: str, host: str, port: int, browser: bool, echo=print
) -> int:
    """Run the UI until it stops or Ctrl+C; its exit status (0 after Ctrl+C)."""
    from marlpipe.tracking.store import default_tracking_uri

    uri = default_tracking_uri(root)
    address = runs_address(host, port, find_experiment(uri, experiment))
    process = subprocess.Popen(ui_command(uri, host, port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a kill stops the server too
    # Ctrl+C stops it even when started by a process that ignores SIGINT (Python then leaves
    # it ignored, and the child inherits that: a background job, a test runner after Ray)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        wait_until_up(process, f"http://{host}:{port}/")
        echo(f"MLflow UI on the runs of {experiment!r}: {address}  (Ctrl+C stops it)")
        if browser:
            import webbrowser

            webbrowser.open(address)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


__all__ = ["WORKFLOW", "find_experiment", "runs_address", "serve", "ui_command"]
