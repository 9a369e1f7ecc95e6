"""``dvc.yaml`` against the code and the params: what each stage lists is what changes it.

- params: no stage lists a setting marked neutral (``marlpipe.config.keys``); the evolve stage
  and the stages upstream of it list every key that shapes the generations, the evaluate stage
  with its upstream also ``evaluate.*``.
- code: each stage's deps cover every file of ``marlpipe/`` its entry point
  (``python -m stages.<name>``) can import (``tests/helpers/module_imports.closure``).

Only the pipeline's ``dvc.yaml`` at the repository root; ``results/dvc.yaml`` is not checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from marlpipe.config import ConfigError, keys
from tests.helpers.module_imports import REPO, closure

STAGES: dict[str, Any] = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _paths(entries: list[Any]) -> list[str]:
    """``deps``/``outs`` entries as paths (an entry may be ``{path: options}``)."""
    return [p for e in entries for p in ([e] if isinstance(e, str) else e)]


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def upstream(stage: str, stages: dict[str, Any] = STAGES) -> list[str]:
    """``stage`` and every stage whose outputs it depends on, directly or not."""
    found, todo = [], [stage]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found.append(name)
        deps = _paths(stages[name].get("deps", []))
        for other, spec in stages.items():
            outs = _paths(spec.get("outs", []) + spec.get("metrics", []))
            if any(_under(d, o) or _under(o, d) for d in deps for o in outs):
                todo.append(other)
    return found


def listed_params(stage: str, stages: dict[str, Any] = STAGES) -> set[str]:
    """The leaf keys of params.yaml that ``stage``'s ``params:`` names (a group: its keys)."""
    names: list[str] = []
    for entry in stages[stage].get("params", []):
        if isinstance(entry, str):
            names.append(entry)
        else:
            for file, file_keys in entry.items():
                assert file == "params.yaml", f"stages.{stage}.params: {file}: another file"
                names.extend(file_keys)
    return {leaf for name in names for leaf in keys.expand(name)}


def covered(stages: list[str], all_stages: dict[str, Any] = STAGES) -> set[str]:
    return set().union(*(listed_params(s, all_stages) for s in stages))


def test_the_pipeline_is_the_one_checked():
    assert list(STAGES) == ["envspec", "init_population", "evolve", "evaluate"]
    assert upstream("evolve") == ["evolve", "init_population", "envspec"]
    assert set(upstream("evaluate")) == set(STAGES)


@pytest.mark.parametrize("stage", list(STAGES))
def test_no_stage_lists_a_neutral_setting(stage):
    neutral = sorted(listed_params(stage) & set(keys.result_neutral_keys()))
    assert not neutral, (
        f"dvc.yaml: stages.{stage}.params: {', '.join(neutral)} marked neutral in "
        "marlpipe/config/params.py: changing it would rerun the stage for the same numbers"
    )


def test_evolve_and_its_upstream_list_every_key_that_shapes_the_generations():
    missing = sorted(set(keys.generation_keys()) - covered(upstream("evolve")))
    assert not missing, (
        f"dvc.yaml: stages.evolve.params (or a stage upstream of it) misses {', '.join(missing)}:"
        " changing it changes the generations but reruns nothing"
    )


def test_evaluate_and_its_upstream_list_what_it_reads():
    reads = {*keys.read_only_by("evaluate"), "evolution.fitness_agents",
             "population.device", "population.torch_threads"}  # fmt: skip
    assert reads <= listed_params("evaluate")
    missing = sorted({*keys.generation_keys(), *reads} - covered(upstream("evaluate")))
    assert not missing, f"dvc.yaml: stages.evaluate.params (with upstream) misses {missing}"


def test_the_checks_see_a_neutral_or_a_missing_key():
    """Each check fails on a dvc.yaml that breaks it."""
    broken = {name: dict(spec) for name, spec in STAGES.items()}
    broken["evolve"]["params"] = [*STAGES["evolve"]["params"], "population"]
    assert "population.workers" in listed_params("evolve", broken)
    assert set(keys.result_neutral_keys()) & listed_params("evolve", broken)
    broken["evolve"]["params"] = [p for p in STAGES["evolve"]["params"] if p != "tournament"]
    assert "tournament.eval_last" not in covered(upstream("evolve", broken), broken)
    with pytest.raises(ConfigError, match="tournament.nope: unknown params key"):
        keys.expand("tournament.nope")


def missing_code_deps(stage: str) -> list[str]:
    """Files of ``marlpipe/`` the stage's entry point can import that its deps do not cover."""
    spec = STAGES[stage]
    assert spec["cmd"] == f"python -m stages.{stage}", f"stages.{stage}.cmd: {spec['cmd']}"
    deps = _paths(spec.get("deps", []))
    entry = REPO / "stages" / f"{stage}.py"
    assert f"stages/{stage}.py" in deps, f"dvc.yaml: stages.{stage}.deps: misses stages/{stage}.py"
    needed = sorted(str(Path(p).relative_to(REPO)) for p in closure(entry))
    return [p for p in needed if not any(_under(p, d) for d in deps)]


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_depends_on_the_code_it_imports(stage):
    missing = missing_code_deps(stage)
    assert not missing, (
        f"dvc.yaml: stages.{stage}.deps: misses {', '.join(missing)} (imported when "
        f"`python -m stages.{stage}` runs): editing it would not rerun the stage"
    )


def test_the_closure_follows_deferred_imports_and_packages():
    files = {str(p.relative_to(REPO)) for p in closure(REPO / "stages" / "evaluate.py")}
    assert "marlpipe/evolution/fitness.py" in files  # imported inside a function
    assert {"marlpipe/__init__.py", "marlpipe/pipeline/__init__.py"} <= files
    assert "marlpipe/cli.py" not in files and "marlpipe/results/__init__.py" not in files
