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
