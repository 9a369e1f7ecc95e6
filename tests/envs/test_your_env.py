"""Your own env, the way docs/your-env.md tells it: examples/rendezvous.py trains through
``marlpipe train`` run from its folder and through ``dvc repro``, and editing it reruns the
stages that build it."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers.builders import TINY
from tests.helpers.dvc_repo import DVC, pipeline_repo, run, user_env

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "rendezvous.py"
BUDGET = [f"--set={key}={value}" for key, value in {
    "evolution.generations": 2, "evolution.steps_per_generation": 200,
    "evolution.eval_episodes": 1, "evolution.memory_size": 2000, "init_hp.batch_size": 64,
    "population.size": 2, "population.backend": "local", "env.num_envs": 2,
    "evaluate.episodes": 3, "tracking.enabled": "false",
}.items()]  # fmt: skip
ENV_STAGES = ("envspec", "evolve", "evaluate")
"""The stages that build the env, whose deps docs/your-env.md says to extend."""


def marlpipe_command() -> list[str]:
    """The console script the README installs (not ``python -m``, which imports from the
    current folder by itself)."""
    script = shutil.which("marlpipe") or str(Path(sys.executable).parent / "marlpipe")
    assert Path(script).is_file(), "the marlpipe console script is not installed"
    return [script]


def test_the_example_passes_pettingzoo_api_test() -> None:
    from pettingzoo.test import parallel_api_test

    loaded = importlib.util.spec_from_file_location("rendezvous_example", EXAMPLE)
    rendezvous = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(rendezvous)  # not in sys.modules: later finds look at files
    parallel_api_test(rendezvous.make(num_agents=3), num_cycles=50)
    env = rendezvous.make(render_mode="rgb_array")
    env.reset(seed=0)
    assert env.render().shape == (200, 200, 3)


def test_train_from_the_env_folder(tmp_path: Path) -> None:
    """``marlpipe train --set env.name=rendezvous:make`` from the folder holding the module:
    it imports (as ``python -m`` would) and gets none of mpe2's kwargs; elsewhere, the error
    says how to make the module importable."""
    shutil.copy(EXAMPLE, tmp_path / "rendezvous.py")
    done = subprocess.run(
        [*marlpipe_command(), "train", "--set", "env.name=rendezvous:make", *BUDGET,
         "--out", "run"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=user_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "run: elite fitness" in done.stdout and "score" in done.stdout
    spec = yaml.safe_load((tmp_path / "run" / "models" / "envspec.json").read_text())
    assert spec["env_name"] == "rendezvous:make" and spec["env_kwargs"] == {}

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [*marlpipe_command(), "train", "--set", "env.name=rendezvous:make", *BUDGET],
        cwd=elsewhere, capture_output=True, text=True, timeout=300, env=user_env(),
    )  # fmt: skip
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "no module named 'rendezvous'" in line and "PYTHONPATH" in line
    assert "run from the folder that holds rendezvous.py" in line


def add_env_dep(root: Path, dep: str) -> None:
    """What docs/your-env.md asks: ``- <file>`` under the deps of the stages that build the env."""
    dvc_yaml = root / "dvc.yaml"
    data = yaml.safe_load(dvc_yaml.read_text())
    for stage in ENV_STAGES:
        data["stages"][stage]["deps"].append(dep)
    dvc_yaml.write_text(yaml.safe_dump(data, sort_keys=False))


def test_dvc_repro_reruns_the_env_stages_when_the_env_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from marlpipe.config import Params, with_overrides
    from marlpipe.pipeline.env_deps import missing_env_dep

    params = with_overrides(Params(), {**TINY, "env": {**TINY["env"], "name": "rendezvous:make"}})
    root = pipeline_repo(tmp_path / "repo", params)
    shutil.copy(EXAMPLE, root / "rendezvous.py")
    monkeypatch.syspath_prepend(str(root))  # as the stages, run from the repository, find it
    monkeypatch.delitem(sys.modules, "rendezvous", raising=False)
    advice = missing_env_dep("rendezvous:make", "evolve", root)  # before the deps are added
    assert advice is not None and '"- rendezvous.py" under stages.evolve.deps' in advice
    add_env_dep(root, "rendezvous.py")
    out = run([*DVC, "repro"], root, timeout=500, env=user_env())
    assert "which no dep of stage" not in out  # the advice is taken: no warning
    assert (root / "reports" / "eval.json").is_file()
    assert "up to date" in run([*DVC, "status"], root, env=user_env()).lower()

    env_file = root / "rendezvous.py"
    env_file.write_text(env_file.read_text().replace("speed: float = 0.1", "speed: float = 0.2"))
    status = run([*DVC, "status"], root, env=user_env())
    changed = {line.strip().rstrip(":") for line in status.splitlines() if line.endswith(":")
               and not line.startswith((" ", "\t"))}  # fmt: skip
    assert changed >= set(ENV_STAGES), status
