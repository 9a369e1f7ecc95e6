"""The one algorithm registry and the one place of each default: who reads them, what they say."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
import torch

from marlpipe.algos import MADDPG, MATD3, CheckpointError, load_agent
from marlpipe.algos.hyperparameters import as_init_hp
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.config import ConfigError, InitHP, NetConfig, Params, params_from_dict
from marlpipe.evolution import create_population
from marlpipe.registry import ACTIVATIONS, ALGORITHMS, algorithm_class, algorithm_info
from tests.helpers.builders import make_spec

NET = {"hidden_sizes": [16]}


def test_importing_the_registry_and_the_config_leaves_torch_out():
    code = (
        "import sys, marlpipe.registry, marlpipe.config\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_classes_take_their_capabilities_from_the_registry(name):
    cls, info = algorithm_class(name), ALGORITHMS[name]
    assert algorithm_class(name.lower()) is cls and algorithm_info(name.lower()) is info
    assert (cls.info, cls.algo_name, cls.HYPERPARAMETERS) == (info, name, info.hyperparameters)
    assert (cls.n_critics, cls.target_smoothing) == (info.n_critics, info.target_smoothing)
    agent = cls(make_spec(), NET, seed=0)
    assert agent.critic.ensemble_size == info.n_critics * 2  # two agents
    assert list(agent.hyperparameters()) == list(info.hyperparameters)
    assert set(info.hyperparameters) <= {f.name for f in dataclasses.fields(InitHP)}
    with pytest.raises(ValueError, match=r"algo must be one of \['MATD3', 'MADDPG'\], got 'PPO'"):
        algorithm_info("PPO")


def test_agents_refuse_action_kinds_their_entry_does_not_support(monkeypatch):
    monkeypatch.setattr(MATD3, "info", dataclasses.replace(MATD3.info, discrete=False))
    MATD3(make_spec(discrete=False), NET)
    with pytest.raises(ValueError, match="MATD3 does not support discrete actions .agent 'a'"):
        MATD3(make_spec(discrete=True), NET)


def test_create_population_accepts_exactly_the_registry():
    spec = make_spec()
    for name in ALGORITHMS:
        (member,) = create_population(name, spec, NET, {"batch_size": 8}, 1, seed=0)
        assert type(member) is algorithm_class(name)
    with pytest.raises(ValueError, match=str(list(ALGORITHMS)).replace("[", r"\[")):
        create_population("DDPG", spec, NET, None, 1, seed=0)


def test_params_validation_accepts_exactly_the_registry():
    (field,) = [f for f in dataclasses.fields(Params) if f.name == "algorithm"]
    assert field.metadata["choices"] == tuple(ALGORITHMS)
    for name in ALGORITHMS:
        assert params_from_dict({"algorithm": name}).algorithm == name
    with pytest.raises(ConfigError, match="algorithm: expected one of 'MATD3', 'MADDPG'"):
        params_from_dict({"algorithm": "DDPG"})
    (field,) = [f for f in dataclasses.fields(NetConfig) if f.name == "activation"]
    assert field.metadata["choices"] == ACTIVATIONS


def test_checkpoint_loading_accepts_exactly_the_registry(tmp_path):
    for name in ALGORITHMS:
        path = tmp_path / f"{name}.pt"
        algorithm_class(name)(make_spec(), NET, seed=0).save_checkpoint(path)
        assert type(load_agent(path)) is algorithm_class(name)
    raw = torch.load(path, weights_only=True)
    raw["metadata"] = json.dumps({**json.loads(raw["metadata"]), "algo": "DDPG"})
    torch.save(raw, path)
    expected = f"unknown algorithm 'DDPG', expected one of {list(ALGORITHMS)}"
    with pytest.raises(CheckpointError, match=expected.replace("[", r"\[")):
        load_agent(path)


# ------------------------------------------------------------------------------- defaults
@pytest.mark.parametrize("cls", [MATD3, MADDPG])
def test_default_agent_uses_every_init_hp_default(cls):
    agent = cls(make_spec(), NET)
    for field in dataclasses.fields(InitHP):
        if field.name in cls.info.hyperparameters:
            assert getattr(agent, field.name) == field.default, field.name
    if cls is MADDPG:  # MATD3-only fields are ignored, whatever InitHP says
        odd = cls(make_spec(), NET, InitHP(policy_freq=7, target_noise=0.9))
        assert (odd.policy_freq, odd.target_noise, odd.target_noise_clip) == (1, 0.0, 0.0)
        assert "policy_freq" not in odd.hyperparameters()


def test_default_networks_use_every_net_config_default():
    defaults = NetConfig()
    bounds = ("min_hidden_layers", "max_hidden_layers", "min_nodes", "max_nodes")
    net = EvolvableMLP(4, 2, [32])
    agent = MATD3(make_spec())
    for name in bounds:
        assert getattr(net, name) == getattr(defaults, name), name
        assert agent.critic.config[name] == getattr(defaults, name), name
        assert agent.actors["a"].config[name] == getattr(defaults, name), name
    assert agent.actors["a"].hidden_sizes == defaults.hidden_sizes
    assert agent.critic.hidden_sizes == defaults.hidden_sizes  # critic_hidden_sizes null
    assert agent.critic.activation == defaults.activation


def test_net_config_dataclass_is_stored_as_the_pipeline_always_stored_it():
    agent = MATD3(make_spec(), NetConfig(hidden_sizes=[16]))
    assert list(agent.net_config) == [
        "hidden_sizes", "activation", "min_hidden_layers", "max_hidden_layers", "min_nodes",
        "max_nodes", "critic_hidden_sizes",
    ]  # fmt: skip
    assert agent.net_config["critic_hidden_sizes"] == [16]


def test_init_hp_from_mappings_and_keywords():
    hp = as_init_hp({"BATCH_SIZE": 64, "memory_size": 10, "policy_freq": None}, gamma=0.5)
    assert (hp.batch_size, hp.gamma, hp.policy_freq) == (64, 0.5, InitHP().policy_freq)
    assert as_init_hp(hp) == hp and as_init_hp(None) == InitHP()
    with pytest.raises(ValueError, match="init_hp: lr: unknown key; expected one of batch_size"):
        as_init_hp({"lr": 0.1})
    with pytest.raises(ValueError, match="init_hp: gamma: expected a finite number"):
        as_init_hp({"GAMMA": 1.5})
    with pytest.raises(ValueError, match="init_hp: memory_size: unknown key"):
        MATD3(make_spec(), NET, memory_size=10)  # run-level keys only pass inside a mapping
    agent = MATD3(make_spec(), NET, InitHP(batch_size=64, lr_actor=0.5), batch_size=8)
    assert (agent.batch_size, agent.lr_actor) == (8, 0.5)
    assert isinstance(agent.batch_size, int) and isinstance(agent.gamma, float)
