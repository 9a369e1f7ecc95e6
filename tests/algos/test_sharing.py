"""Shared networks for homogeneous agents (``net_config.share_homogeneous``): the groups in the
spec, one actor and one critic per group, each agent's own view of the centralised critic,
learning from every member, checkpoints, mutations, masking and the served model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from marlpipe.algos import MADDPG, MATD3, load_agent
from marlpipe.algos.checkpoint_checks import check_content
from marlpipe.algos.critics import CriticLayout, SharedCriticLayout
from marlpipe.envs.spec import EnvSpec, ObservationSpec
from marlpipe.evolution.mutations import actor_modules
from tests.helpers.builders import make_spec, make_team_spec, random_batch, random_obs

ALGOS = [MATD3, MADDPG]
SHARED = {"hidden_sizes": [16], "share_homogeneous": True}
GROUPS = {"agent": ("agent_0", "agent_1", "agent_2"), "adversary": ("adversary_0", "adversary_1")}


def test_groups_are_teams_of_equal_spaces() -> None:
    spec = make_team_spec()
    assert spec.groups == GROUPS  # leader_0 is a team of one: no group
    assert "group agent: agent_0, agent_1, agent_2" in spec.describe()
    # a team whose spaces differ is no group, and the reason names the agents
    odd = {**spec.observations, "agent_2": ObservationSpec("vector", (7,))}
    mixed = dataclasses.replace(spec, observations=odd)
    assert mixed.groups == {"adversary": GROUPS["adversary"]}
    assert "agent_2 and agent_0 differ in their observation" in mixed.mixed_team(GROUPS["agent"])
    assert make_spec().groups == {}


def test_a_team_of_unequal_spaces_keeps_its_own_networks(caplog) -> None:
    spec = make_team_spec()
    odd = {**spec.actions, "adversary_1": dataclasses.replace(spec.actions["adversary_1"], n=9,
                                                              kind="discrete")}  # fmt: skip
    mixed = dataclasses.replace(spec, actions=odd)
    with caplog.at_level("WARNING", logger="marlpipe.algos.base"):
        agent = MATD3(mixed, SHARED, seed=0)
    assert agent.net_owners == ("agent_0", "adversary_0", "leader_0", "adversary_1")
    assert agent.actors["adversary_1"] is not agent.actors["adversary_0"]
    assert agent.actors["agent_2"] is agent.actors["agent_0"]  # the equal team still shares
    (said,) = [r.getMessage() for r in caplog.records]
    assert "adversary_1 and adversary_0 differ in their action spaces" in said


def test_groups_are_written_into_the_spec_file_and_old_files_still_load() -> None:
    spec = make_team_spec(discrete=True)
    data = spec.to_dict()
    assert data["groups"] == {team: list(members) for team, members in GROUPS.items()}
    assert EnvSpec.from_json(spec.to_json()) == spec
    old = {k: v for k, v in data.items() if k != "groups"}  # a file from before groups
    assert EnvSpec.from_dict(old).groups == GROUPS
    edited = {**data, "groups": {"agent": ["agent_0", "agent_1"]}}
    with pytest.raises(ValueError, match="groups .* do not follow from the agents"):
        EnvSpec.from_dict(edited)
    lone = make_spec()  # no team of two: the file (and the checkpoints) stay as they were
    assert not lone.groups and "groups" not in lone.to_dict()
    assert EnvSpec.from_json(lone.to_json()) == lone


@pytest.mark.parametrize("algo", ALGOS)
def test_sharing_is_off_by_default(algo) -> None:
    spec = make_team_spec()
    agent = algo(spec, {"hidden_sizes": [16]}, seed=0)
    assert agent.net_owners == spec.agent_ids
    assert "share_homogeneous" not in agent.net_config  # checkpoints hold what they held
    assert "share_homogeneous" not in algo(spec, {"share_homogeneous": False}).net_config
    assert isinstance(agent.critic_layout, CriticLayout)
    assert agent.critic.ensemble_size == algo.n_critics * 6
    assert len({id(net) for net in agent.actors.values()}) == 6


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
@pytest.mark.parametrize("algo", ALGOS)
def test_a_group_has_one_actor_and_one_critic(algo, discrete) -> None:
    spec = make_team_spec(discrete)
    shared, own = algo(spec, SHARED, seed=0), algo(spec, {"hidden_sizes": [16]}, seed=0)
    assert shared.net_owners == ("agent_0", "adversary_0", "leader_0")
    for members in GROUPS.values():
        assert all(shared.actors[m] is shared.actors[members[0]] for m in members)
        assert all(shared.actor_targets[m] is shared.actor_targets[members[0]] for m in members)
    assert shared.actors["agent_0"] is not shared.actors["adversary_0"]
    assert shared.critic.ensemble_size == algo.n_critics * 3  # one per unit (2 groups, 1 agent)

    def count(agent) -> int:
        return sum(p.numel() for p in agent._actor_params + agent._critic_params)

    assert count(shared) < count(own) / 1.8
    # the optimisers hold each parameter once
    assert len(shared.actor_optimizer.param_groups[0]["params"]) == len(
        {id(p) for net in shared.actors.values() for p in net.parameters()}
    )


def own_view_reference(spec: EnvSpec, agent: str, obs, actions) -> torch.Tensor:
    """Agent's critic input written out by hand: its group's observations and actions with its
    own first, then the next member's (cyclically), each other agent's in its own place."""
    group = next((m for m in spec.groups.values() if agent in m), (agent,))
    turn = group.index(agent)

    def whose(place: str) -> str:
        if place not in group:
            return place
        return group[(turn + group.index(place)) % len(group)]

    order = [whose(place) for place in spec.agent_ids]
    return torch.cat([obs[a] for a in order] + [actions[a] for a in order], dim=1)


@pytest.mark.parametrize("algo", ALGOS)
def test_the_shared_critic_values_each_agent_on_its_own_view(algo) -> None:
    spec = make_team_spec()
    agent = algo(spec, SHARED, seed=0)
    layout = agent.critic_layout
    assert isinstance(layout, SharedCriticLayout)
    state, action, *_ = random_batch(spec, 5, seed=3)
    ids = spec.agent_ids
    joint = layout.joint_input([state[a] for a in ids], [action[a] for a in ids])
    q = layout.q_values(agent.critic, joint)  # (n_critics, n_agents, B)
    assert q.shape == (algo.n_critics, 6, 5)
    units = {"agent": 0, "adversary": 1, "leader": 2}
    with torch.no_grad():
        for i, a in enumerate(ids):
            x = own_view_reference(spec, a, state, action)
            every = agent.critic(x)  # (E, B, 1): every member on this view
            for k in range(algo.n_critics):
                member = k * 3 + units[a.rsplit("_", 1)[0]]
                torch.testing.assert_close(q[k, i], every[member, :, 0])
        # the actor step's path gives the first critic's values on the same rows
        first = layout.first_q(agent.critic, joint.expand(6, *joint.shape))
        torch.testing.assert_close(first[..., 0], q[0])
    # agents of one group see different views of one batch, so their values differ
    assert not torch.allclose(q[0, 0], q[0, 2])


def test_the_shared_actor_learns_from_every_member() -> None:
    spec = make_team_spec()
    agent = MADDPG(spec, SHARED, seed=0, batch_size=8)  # actors step on every learn()
    seen: list[torch.Tensor] = []
    agent.actors["agent_0"].register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    batch = random_batch(spec, 8, seed=1)
    before = [p.detach().clone() for p in agent.actors["agent_1"].parameters()]
    stats = agent.learn(batch)
    state = batch[0]
    assert [s.shape[0] for s in seen] == [8, 8, 8]
    for got, member in zip(seen, GROUPS["agent"], strict=True):
        torch.testing.assert_close(got, state[member])
    after = list(agent.actors["agent_2"].parameters())
    assert not all(torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert set(stats.actor_losses) == set(spec.agent_ids)


@pytest.mark.parametrize("algo", ALGOS)
def test_checkpoints_keep_the_groups(tmp_path, algo) -> None:
    spec = make_team_spec(discrete=algo is MADDPG)
    agent = algo(spec, SHARED, seed=0, batch_size=8)
    for seed in range(3):
        agent.learn(random_batch(spec, 8, seed=seed))
    state = agent.state_dicts()
    assert {k for k in state if k.startswith("actor/")} == {
        "actor/agent_0", "actor/adversary_0", "actor/leader_0",
    }  # fmt: skip
    path = tmp_path / "agent.pt"
    agent.save_checkpoint(path)
    loaded = load_agent(path)
    assert loaded.net_owners == agent.net_owners
    assert loaded.actors["agent_2"] is loaded.actors["agent_0"]
    obs = random_obs(spec, 4, np.random.default_rng(0))
    mine, theirs = agent.get_action(obs, training=False), loaded.get_action(obs, training=False)
    for a in spec.agent_ids:
        np.testing.assert_array_equal(mine[1][a], theirs[1][a])
    # resume: the next learn() gives the same numbers on the loaded agent
    batch = random_batch(spec, 8, seed=9)
    assert agent.learn(batch).to_dict() == loaded.learn(batch).to_dict()
    # a state with groups taken over by an agent built without them adopts the groups
    plain = algo(spec, {"hidden_sizes": [16]}, seed=1)
    plain.load_checkpoint(path)
    assert plain.net_owners == agent.net_owners
    assert plain.actors["agent_1"] is plain.actors["agent_0"]
    assert len(plain._actor_params) == len(list(agent._actor_params))
    # a file whose actors do not fit its groups is refused by name
    metadata = agent.metadata()
    metadata["net_config"] = {**metadata["net_config"], "share_homogeneous": False}
    with pytest.raises(ValueError, match="one per shared group|keyed by agents"):
        check_content(algo, metadata, state)


def test_a_clone_has_its_own_shared_networks() -> None:
    agent = MATD3(make_team_spec(), SHARED, seed=0)
    twin = agent.clone()
    assert twin.actors["agent_1"] is twin.actors["agent_0"]
    with torch.no_grad():
        next(twin.actors["agent_0"].parameters()).add_(1.0)
    assert not torch.equal(
        next(twin.actors["agent_0"].parameters()), next(agent.actors["agent_0"].parameters())
    )


@pytest.mark.parametrize("algo", ALGOS)
def test_an_architecture_mutation_grows_a_shared_network_once(algo) -> None:
    spec = make_team_spec()
    agent = algo(spec, SHARED, seed=0, batch_size=8)
    record = agent.mutate_architecture("add_nodes", np.random.default_rng(0), layer=0, num_nodes=16)
    assert record["where"] == ["actor:agent_0", "actor:adversary_0", "actor:leader_0", "critic"]
    for a in spec.agent_ids:
        assert agent.actors[a].hidden_sizes == [32]  # 16 + 16 once, not once per member
        assert agent.actor_targets[a].hidden_sizes == [32]
    assert agent.actors["agent_2"] is agent.actors["agent_0"]
    agent.mutate_architecture("add_layer", np.random.default_rng(1))
    assert len(agent.actors["agent_1"].hidden_sizes) == 2
    assert len(agent.actor_optimizer.param_groups[0]["params"]) == len(agent._actor_params)
    agent.learn(random_batch(spec, 8))  # the mutated networks still train
    # parameter noise touches each shared actor once
    assert len(actor_modules(agent)) == 3


@pytest.mark.parametrize("discrete", [False, True], ids=["continuous", "discrete"])
def test_masking_replaces_one_member_of_a_group(discrete) -> None:
    spec = make_team_spec(discrete)
    agent = MATD3(spec, SHARED, seed=0)
    obs = random_obs(spec, 4, np.random.default_rng(0))
    _, free = agent.get_action(obs, training=False)
    act = spec.actions["agent_1"]
    defined = np.full(4, 1) if discrete else np.full((4, act.dim), 0.5, np.float32)
    mask = {"agent_1": np.array([True, False, True, False])}
    _, masked = agent.get_action(
        obs, training=False, agent_mask=mask, env_defined_actions={"agent_1": defined}
    )
    np.testing.assert_array_equal(masked["agent_1"][[1, 3]], defined[[1, 3]])
    np.testing.assert_array_equal(masked["agent_1"][[0, 2]], free["agent_1"][[0, 2]])
    for a in ("agent_0", "agent_2"):  # the group's other members act as before
        np.testing.assert_array_equal(masked[a], free[a])
    # each member acts on its own observation through the one actor
    assert not np.array_equal(free["agent_0"], free["agent_2"])


def test_the_served_model_acts_with_the_groups(tmp_path) -> None:
    from marlpipe.tracking.pyfunc_model import greedy_actions

    spec = make_team_spec()
    agent = MATD3(spec, SHARED, seed=0)
    agent.save_checkpoint(tmp_path / "elite.pt")
    served = load_agent(tmp_path / "elite.pt")
    obs = random_obs(spec, 3, np.random.default_rng(5))
    got = greedy_actions(served, obs)
    _, expected = agent.get_action(obs, training=False)
    for a in spec.agent_ids:
        np.testing.assert_array_equal(got[a], expected[a])
