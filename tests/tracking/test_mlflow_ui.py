"""Opening the runs in MLflow's UI: the address the README gives is the one the UI reads.

MLflow 3.17's UI picks GenAI or machine-learning mode from the address's ``workflowType``
parameter, else from the choice the browser stored (``mlflow.workflowType``), else GenAI; the
experiment's ``mlflow.experimentKind`` tag does not change it, nor does any server setting. So
marlpipe cannot make a bare ``mlflow ui`` open on the runs: ``marlpipe ui`` starts it and opens
that address, and the README gives the address first.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADDRESS = "http://127.0.0.1:5000/#/experiments?workflowType=machine_learning"
"""The runs of a default ``mlflow ui`` (127.0.0.1:5000), in machine-learning mode."""


def section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def bullets(text: str) -> list[str]:
    """The top-level ``- `` items of a Markdown section, each joined into one line."""
    items = re.split(r"\n- ", "\n" + text.split("```\n\n", 1)[-1])[1:]
    return [" ".join(item.split()) for item in items]


def test_the_readme_gives_the_runs_address_before_anything_else() -> None:
    looking = section((REPO / "README.md").read_text(), "Looking at a run")
    assert "mlflow ui" in looking.split("```\n\n", 1)[0]  # the command, in the block
    first = bullets(looking)[0]
    assert ADDRESS in first and "GenAI" in first
    assert ADDRESS in (REPO / "docs" / "pipeline.md").read_text()


def query_of(address: str) -> dict[str, list[str]]:
    """The query of the address's route (the part after ``#``: the UI routes in the fragment)."""
    route = urllib.parse.urlsplit(address).fragment
    return urllib.parse.parse_qs(urllib.parse.urlsplit(route).query)


def ui_bundle() -> str:
    """The installed MLflow UI's main script (minified)."""
    import mlflow

    build = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    found = sorted(build.glob("main.*.js"))
    if not found:
        pytest.skip("this MLflow has no UI build (mlflow-skinny?)")
    return found[0].read_text(encoding="utf-8", errors="replace")


def reads_workflow_type(bundle: str, name: str, value: str) -> bool:
    """Whether the UI script takes its mode from query parameter ``name`` set to ``value``."""
    return f'.get("{name}")' in bundle and f'="{value}"' in bundle


def test_the_installed_ui_reads_that_address() -> None:
    ((name, [value]),) = query_of(ADDRESS).items()
    bundle = ui_bundle()
    assert reads_workflow_type(bundle, name, value), (
        f"MLflow's UI no longer reads ?{name}={value}: find what it reads now "
        "(mlflow/server/js/src/common/contexts/WorkflowTypeContext.tsx) and fix the README"
    )


def test_marlpipe_ui_serves_the_store_and_gives_the_runs_address(tmp_path: Path) -> None:
    """``marlpipe ui`` starts ``mlflow ui`` on the project's store, says the address of its
    experiment's runs in the model-training view (the one the installed UI reads), serves the
    runs there, and stops the server when stopped."""
    import json
    import signal
    import sys
    import time
    import urllib.request

    from marlpipe.tracking import store
    from tests.helpers.dvc_repo import user_env
    from tests.helpers.local_server import Service, answers, free_port

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = store.client(uri)
    experiment = client.create_experiment("marlpipe", artifact_location=str(tmp_path / "art"))
    client.create_run(experiment, tags={"mlflow.runName": "spread-matd3-s0"})
    port = free_port()
    log = tmp_path / "ui.log"
    command = [sys.executable, "-m", "marlpipe", "ui", "--no-browser", "--port", str(port)]
    # started as by a parent that ignores Ctrl+C (a background job): it must still stop on it
    ignore_ctrl_c = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731
    with Service(command, answers(f"http://127.0.0.1:{port}/"), log, cwd=tmp_path,
                 env=user_env(), stop_signal=signal.SIGINT,
                 preexec_fn=ignore_ctrl_c) as service:  # fmt: skip
        deadline = time.monotonic() + 30
        while "MLflow UI on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        [line] = [x for x in log.read_text().splitlines() if "MLflow UI on" in x]
        address = line.split(": ", 1)[1].split()[0]
        assert address == f"http://127.0.0.1:{port}/#/experiments/{experiment}?workflowType=machine_learning"
        ((name, [value]),) = query_of(address).items()
        assert reads_workflow_type(ui_bundle(), name, value)
        search = urllib.request.Request(
            f"http://127.0.0.1:{port}/ajax-api/2.0/mlflow/runs/search",
            data=json.dumps({"experiment_ids": [experiment]}).encode(),
            headers={"Content-Type": "application/json"},
        )
        runs = json.loads(urllib.request.urlopen(search, timeout=10).read())["runs"]
        assert [r["info"]["run_name"] for r in runs] == ["spread-matd3-s0"]  # this store's
        process = service.process
        process.send_signal(signal.SIGINT)  # Ctrl+C: marlpipe stops the server it started
        assert process.wait(timeout=60) == 0  # the server gets 15 s
        assert not answers(f"http://127.0.0.1:{port}/")()  # before the group is killed
