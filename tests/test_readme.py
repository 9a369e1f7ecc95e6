"""The README's package example runs, and twice gives the same numbers (no loop seed needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FULL_BUDGET = "max_steps=200_000, evo_steps=10_000"


def readme_example() -> str:
    """The first Python block of "Using the package directly", with a budget of seconds."""
    section = README.read_text().split("## Using the package directly", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert FULL_BUDGET in code, "the README example's budget changed: update this test"
    return code.replace(FULL_BUDGET, "max_steps=3_000, evo_steps=256")


def run_example() -> list[list[float]]:
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)  # noqa: S102
    namespace["env"].close()
    return namespace["fitnesses"]


def test_readme_package_example_is_repeatable(capsys: pytest.CaptureFixture) -> None:
    first, second = run_example(), run_example()
    assert len(first) == 3  # 3 generations of 4 members x 256 env steps reach 3,000
    assert first == second


BLOCKED = ("mlflow", "dvc", "PIL", "matplotlib")
"""What only the ``pipeline`` extra brings."""


def test_readme_example_needs_no_pipeline_extra(tmp_path: Path) -> None:
    """A user who only trains from Python (``pip install -e .``) runs the example."""
    import subprocess
    import sys

    script = tmp_path / "example.py"
    script.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BLOCKED!r}:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (blocked)')\n"
        "sys.meta_path.insert(0, Block())\n"
        + readme_example()
        + f"\nassert not [m for m in sys.modules if m.split('.')[0] in {BLOCKED!r}]\n"
        "print('ok', len(fitnesses))\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok 3")


def test_ci_runs_the_readme_test_command() -> None:
    readme = README.read_text()
    ci = (README.parent / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci.startswith("pip install") and f"\n{ci}\n" in readme
    assert '".[pipeline,vmas,ray,server,test]"' in ci
    assert '-e ".[pipeline,vmas,ray]" && dvc repro' in readme


def test_the_readme_stays_short() -> None:
    """A guide, not the manual: the rest lives in docs/."""
    lines = README.read_text().count("\n")
    assert lines < 250, f"README.md has {lines} lines: move detail to docs/"
