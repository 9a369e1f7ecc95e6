"""The benchmark scripts start (``--help``) and the shared harness writes its JSON report.

Nothing is timed here: ``benchmarks/`` figures are measured by hand (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != "harness.py")


@pytest.fixture
def harness(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import harness

    return harness


def test_every_script_prints_its_help_with_json_option():
    """All scripts at once (each imports torch: seconds apiece, so in parallel)."""
    runs = {
        p.name: subprocess.Popen([sys.executable, str(p), "--help"], stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)  # fmt: skip
        for p in SCRIPTS
    }
    for name, proc in runs.items():
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name} --help:\n{out}"
        assert "--json PATH" in out, name


def test_scripts_use_the_harness_and_import_no_other_script():
    others = {p.stem for p in SCRIPTS}
    for path in SCRIPTS:
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert "harness" in imported, path.name
        assert not imported & others, f"{path.name} imports {imported & others}"


def test_report_json_shape(harness, tmp_path, capsys):
    path = tmp_path / "out.json"
    parser = harness.parser("A trivial benchmark.\n\nMore text.")
    parser.add_argument("--seconds", type=float, default=0.01)
    args = parser.parse_args(["--seconds", "0.01", "--json", str(path)])
    report = harness.Report("benchmarks/trivial.py", args, cpu="test CPU")
    rate = harness.calls_per_second(lambda: None, args.seconds)
    report.figure("calls_per_s", rate, f"trivial: {rate:.0f} calls/s")
    report.figure("repeats", harness.summarize([3.0, 1.0, 2.0]))
    assert report.write() == path
    assert "CPU: test CPU" in capsys.readouterr().out
    data = json.loads(path.read_text())
    assert data == {
        "script": "trivial.py", "cpu": "test CPU", "args": {"seconds": 0.01},
        "figures": {"calls_per_s": rate, "repeats": {
            "median": 2.0, "min": 1.0, "max": 3.0, "n": 3, "values": [3.0, 1.0, 2.0]}},
    }  # fmt: skip
    with pytest.raises(KeyError):
        report.figure("calls_per_s", 0.0)


def test_no_json_writes_nothing(harness, tmp_path):
    report = harness.Report("x.py", argparse.Namespace(json=None), cpu="c")
    report.figure("a", 1)
    assert report.write() is None


def test_alternate_runs_sides_in_turn_and_compare(harness):
    order = []
    runs = harness.alternate({"a": lambda: order.append("a") or 2.0,
                              "b": lambda: order.append("b") or 4.0}, 3)  # fmt: skip
    assert order == ["a", "b"] * 3
    against = harness.compare(runs, "a")
    assert against["b"]["ratio_of_medians"] == 2.0
    assert against["b"]["paired_ratios"] == [2.0, 2.0, 2.0]
    with pytest.raises(ValueError):
        harness.alternate({"a": lambda: 1.0}, 0)


def test_cpu_model_is_named(harness):
    assert harness.cpu_model()
