"""Checkpoint round trips: identical actions and learning after load; clear errors otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_algos import make_spec, random_batch, random_obs

from marlpipe.algos import MADDPG, MATD3, CheckpointError, load_agent
from marlpipe.algos import checkpoint as checkpoint_module

NET = {"hidden_sizes": [16, 16]}


def trained(algo, discrete: bool = False, mutate: str | None = None):
    agent = algo(make_spec(discrete), NET, seed=3, index=2)
    batch = random_batch(agent.spec, 16)
    for _ in range(3):
        agent.learn(batch)
    if mutate:
        agent.mutate_architecture(mutate, np.random.default_rng(1))
        agent.learn(batch)
    agent.fitness += [-3.0, -2.5]
    agent.steps = 1234
    agent.lineage = {"parent": 1, "generation": 4, "mutations": ["add_nodes"]}
    return agent


def assert_same_behaviour(a, b) -> None:
    obs = random_obs(a.spec, 5, np.random.default_rng(9))
    for training in (False, True):  # with noise too: the RNG state was restored
        left = a.get_action(obs, epsilon=0.5, training=training)
        right = b.get_action(obs, epsilon=0.5, training=training)
        for agent in a.agent_ids:
            for k in (0, 1):
                np.testing.assert_array_equal(left[k][agent], right[k][agent])
    batch = random_batch(a.spec, 16, seed=5)
    for _ in range(2):  # a critic-only and an actor step (MATD3), with smoothing noise
        assert a.learn(batch).to_dict() == b.learn(batch).to_dict()
    for p, q in zip(a.critic.parameters(), b.critic.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    for agent in a.agent_ids:
        left, right = a.actor_targets[agent], b.actor_targets[agent]
        for p, q in zip(left.parameters(), right.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("algo", [MATD3, MADDPG])
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("mutate", [None, "add_layer", "add_nodes"])
def test_save_load_round_trip(tmp_path, algo, discrete, mutate):
    agent = trained(algo, discrete, mutate)
    path = tmp_path / "agent.pt"
    agent.save_checkpoint(path)
    loaded = algo.load(path)
    assert type(loaded) is algo
    assert loaded.critic.config == agent.critic.config
    assert loaded.hyperparameters() == agent.hyperparameters()
    assert (loaded.index, loaded.fitness, loaded.steps, loaded.lineage) == (
        2, [-3.0, -2.5], 1234, {"parent": 1, "generation": 4, "mutations": ["add_nodes"]}
    )  # fmt: skip
    assert loaded.learn_counter == agent.learn_counter
    assert_same_behaviour(agent, loaded)


def test_load_checkpoint_into_existing_agent_rebuilds_architecture(tmp_path):
    agent = trained(MATD3, mutate="add_layer")
    path = tmp_path / "agent.pt"
    agent.save_checkpoint(path)
    fresh = MATD3(make_spec(), NET, seed=99)
    fresh.load_checkpoint(path)
    assert fresh.actors["a"].hidden_sizes == [16, 16, 16]
    assert_same_behaviour(agent, fresh)


def test_generic_load_agent_picks_the_class(tmp_path):
    trained(MADDPG).save_checkpoint(tmp_path / "m.pt")
    assert type(load_agent(tmp_path / "m.pt")) is MADDPG


def test_file_format_and_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "agent.pt"
    trained(MATD3).save_checkpoint(path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "marlpipe-checkpoint" and raw["version"] == 1
    metadata = json.loads(raw["metadata"])
    assert metadata["algo"] == "MATD3" and metadata["spec"]["agent_ids"] == ["a", "b"]
    assert set(raw["state"]) >= {"actor/a", "critic", "critic_target", "actor_optimizer"}
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "load", spy)
    MATD3.load(path)
    assert calls == [True]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_missing_corrupt_truncated_files_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt.*not found"):
        MATD3.load(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        MATD3.load(garbage)
    good = tmp_path / "good.pt"
    trained(MATD3).save_checkpoint(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        MATD3.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt.*marlpipe-checkpoint"):
        MATD3.load(foreign)


def test_wrong_algorithm_or_spec_is_refused(tmp_path):
    path = tmp_path / "maddpg.pt"
    trained(MADDPG).save_checkpoint(path)
    with pytest.raises(CheckpointError, match="maddpg.pt.*MADDPG agent, expected MATD3"):
        MATD3.load(path)
    with pytest.raises(CheckpointError, match="expected MATD3"):
        MATD3(make_spec(), NET).load_checkpoint(path)
    with pytest.raises(CheckpointError, match="maddpg.pt.*different env spec"):
        MADDPG(make_spec(discrete=True), NET).load_checkpoint(path)
