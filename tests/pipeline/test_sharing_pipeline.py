"""Shared networks through the pipeline (``net_config.share_homogeneous``): the groups in the
spec file, shared networks in every member file and the elite, architecture mutations growing
the shared networks, and an exact resume after a kill."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from marlpipe.algos import load_agent
from marlpipe.config import Params, with_overrides
from marlpipe.pipeline import envspec, evolve, init_population
from marlpipe.pipeline.paths import Paths
from tests.helpers.builders import checkpoint_weights


class Killed(Exception):
    """Stands in for a kill between generations."""


def shared_params(tiny_params: Params, algorithm: str, continuous: bool) -> Params:
    """Tiny spread with sharing on; mutations architecture or parameters only, 3 members."""
    return with_overrides(tiny_params, {
        "seed": 2,
        "algorithm": algorithm,
        "env": {"name": "mpe2.simple_spread_v3",
                "kwargs": {"N": 3, "continuous_actions": continuous}},
        "net_config": {"share_homogeneous": True},
        "population": {"size": 3},
        "evolution": {"generations": 3},
        "mutation": {"no_mutation": 0.0, "architecture": 0.5, "parameters": 0.5,
                     "activation": 0.0, "rl_hp": 0.0},
    })  # fmt: skip


@pytest.mark.parametrize(
    ("algorithm", "continuous"), [("MATD3", True), ("MADDPG", False)], ids=["matd3", "maddpg-d"]
)
def test_a_shared_run_resumes_exactly_and_its_elite_shares(
    tmp_path: Path, tiny_params: Params, algorithm: str, continuous: bool
) -> None:
    params = shared_params(tiny_params, algorithm, continuous)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    envspec.run(params, straight)
    init_population.run(params, straight)
    spec_file = json.loads(Paths(straight).envspec.read_text())
    assert spec_file["groups"] == {"agent": ["agent_0", "agent_1", "agent_2"]}
    shutil.copytree(straight, resumed)
    expected = evolve.run(params, straight)

    lineage = json.loads((straight / "reports" / "lineage.json").read_text())
    grown = [c for row in lineage for c in row["children"] if c["mutation"] == "architecture"]
    assert grown, "no architecture mutation was drawn"
    elite = load_agent(Paths(straight).elite / "elite.pt")
    assert elite.net_owners == ("agent_0",)
    assert elite.actors["agent_2"] is elite.actors["agent_0"]
    assert not any(key.startswith("actor/agent_1") for key in elite.state_dicts())

    def kill_after_first(generation: int, _result: object) -> None:
        if generation == 0:
            raise Killed

    with pytest.raises(Killed):
        evolve.run(params, resumed, on_generation=kill_after_first)
    result = evolve.run(params, resumed)
    assert result.history == expected.history
    left, right = (checkpoint_weights(Paths(r).elite / "elite.pt") for r in (straight, resumed))
    assert left.keys() == right.keys()
    assert all(torch.equal(left[k], right[k]) for k in left)
