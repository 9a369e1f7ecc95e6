"""Unit tests of MATD3/MADDPG on tiny hand-made specs (fast; no training)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium import spaces
from torch import nn

from marlpipe.algos import MADDPG, MATD3, LearnStats
from marlpipe.algos.base import gumbel_softmax_straight_through, preprocess_observation
from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.episodes import run_episodes
from tests.helpers.builders import make_spec, random_batch, random_obs

ALGOS = [MATD3, MADDPG]
NET = {"hidden_sizes": [16, 16]}


def params(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def same(left: list[torch.Tensor], right: list[torch.Tensor]) -> bool:
    if len(left) != len(right):
        return False
    return all(torch.equal(a, b) for a, b in zip(left, right, strict=True))


class FixedQ(nn.Module):
    """Stand-in critic ensemble returning preset Q values of shape (E, B, 1)."""

    def __init__(self, q: torch.Tensor):
        super().__init__()
        self.q = q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q


# ------------------------------------------------------------------------------- targets
def test_td_targets_clipped_double_q_and_termination_vs_truncation():
    agent = MATD3(make_spec(), NET, gamma=0.5, seed=0)
    # Members: twin k of agent i at k * 2 + i. Batch of 2 transitions.
    q1 = torch.tensor([[1.0, 4.0], [2.0, -1.0]])  # agents a, b
    q2 = torch.tensor([[3.0, 2.0], [0.5, 5.0]])
    agent.critic_target = FixedQ(torch.cat([q1, q2]).unsqueeze(-1))
    _, _, _, next_state, _ = random_batch(agent.spec, 2)
    reward = {"a": torch.tensor([1.0, 1.0]), "b": torch.tensor([0.0, 2.0])}
    # Transition 0 terminated; transition 1 truncated (not in `done`), so it bootstraps.
    done = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 0.0])}
    y = agent.td_targets(reward, next_state, done)
    expected = torch.tensor([[1.0, 1.0 + 0.5 * 2.0], [0.0, 2.0 + 0.5 * -1.0]])
    torch.testing.assert_close(y, expected)


def test_maddpg_td_target_uses_its_single_critic():
    agent = MADDPG(make_spec(), NET, gamma=0.9, seed=0)
    agent.critic_target = FixedQ(torch.tensor([[[2.0]], [[-3.0]]]))
    _, _, _, next_state, _ = random_batch(agent.spec, 1)
    reward = {"a": torch.tensor([1.0]), "b": torch.tensor([1.0])}
    done = {"a": torch.tensor([0.0]), "b": torch.tensor([0.0])}
    y = agent.td_targets(reward, next_state, done)
    torch.testing.assert_close(y, torch.tensor([[1.0 + 0.9 * 2.0], [1.0 - 0.9 * 3.0]]))


class Constant(nn.Module):
    """Stand-in actor: the same raw output (tanh output or logits) for every observation."""

    def __init__(self, out: list[float]):
        super().__init__()
        self.out = torch.tensor(out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out.expand(x.shape[0], -1)


class RecordingQ(FixedQ):
    """``FixedQ`` that keeps the joint input it was called with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x
        return self.q


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("discrete", [False, True])
def test_td_target_actions_come_from_the_target_actors(algo, discrete):
    """Online and target actors apart: the next actions in the target critic's input are the
    target actors' (scaled, or the one-hot argmax), never the online actors'."""
    agent = algo(make_spec(discrete), NET, target_noise=0.0, seed=0)
    if discrete:
        target, online = (
            {"a": [0.0, 0.0, 5.0], "b": [0.0, 5.0, 0.0, 0.0]},
            {"a": [5.0, 0, 0], "b": [0, 0, 0, 5.0]},
        )
        expected = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 0.0]]
    else:  # tanh outputs mapped onto a: [-1, 1] x [0, 2], b: [0, 1]^3
        target, online = {"a": [0.5, 0.5], "b": [0.5] * 3}, {"a": [-0.5, -0.5], "b": [-0.5] * 3}
        expected = [[0.5, 1.5], [0.75] * 3]
    agent.actor_targets = {a: Constant(v) for a, v in target.items()}
    agent.actors = {a: Constant(v) for a, v in online.items()}
    agent.critic_target = RecordingQ(torch.zeros(agent.critic_layout.ensemble_size, 4, 1))
    _, _, reward, next_state, done = random_batch(agent.spec, 4)
    agent.td_targets(reward, next_state, done)
    actions = agent.critic_target.seen[:, agent._action_slices[0].start :]
    torch.testing.assert_close(actions, torch.tensor(expected[0] + expected[1]).expand(4, -1))


@pytest.mark.parametrize("algo", ALGOS)
def test_critic_steps_regress_every_critic_on_the_td_target(algo):
    """``learn()`` reports the critics' mean squared TD error (per agent, averaged over the
    critics) before its step, and its steps lower every critic's error for every agent."""
    agent = algo(make_spec(), NET, lr_critic=1e-3, seed=0)
    state, action, reward, next_state, done = batch = random_batch(agent.spec, 64)
    y = agent.td_targets({a: r + 5.0 for a, r in reward.items()}, next_state, done)
    agent.td_targets = lambda *_: y  # fixed targets (MADDPG's would move with each step)
    obs = [preprocess_observation(state[a], agent.spec.observations[a]) for a in "ab"]
    critic_in = agent.critic_layout.joint_input(obs, [action["a"], action["b"]])

    def errors() -> torch.Tensor:  # (n_critics, n_agents)
        with torch.no_grad():
            return (agent.critic_layout.q_values(agent.critic, critic_in) - y).square().mean(-1)

    before = errors()
    stats = agent.learn(batch)
    torch.testing.assert_close(torch.stack([stats.critic_losses[a] for a in "ab"]), before.mean(0))
    for _ in range(4):
        agent.learn(batch)
    after = errors()
    assert (after < before).all(), (before, after)


@pytest.mark.parametrize("algo", ALGOS)
def test_actor_step_raises_each_agents_own_q(algo):
    """Small actor steps on a fixed batch raise every agent's Q1 (ensemble member i) of its own
    action (columns 8:10 for 'a', 10:13 for 'b'), the other agent's action from the batch."""
    agent = algo(make_spec(), NET, lr_actor=1e-4, seed=0)
    state, action, *_ = random_batch(agent.spec, 64)
    obs = [preprocess_observation(state[a], agent.spec.observations[a]) for a in "ab"]
    critic_in = torch.cat([state["a"], F.one_hot(state["b"].long(), 5).float(), action["a"],
                           action["b"]], dim=1)  # fmt: skip

    def own_q() -> torch.Tensor:
        with torch.no_grad():
            q = []
            for i, (agent_id, cols) in enumerate([("a", slice(8, 10)), ("b", slice(10, 13))]):
                joint = critic_in.clone()
                joint[:, cols] = agent._scales[agent_id](agent.actors[agent_id](obs[i]))
                q.append(agent.critic(joint)[i].mean())
            return torch.stack(q)

    critic, before = params(agent.critic), own_q()
    for _ in range(3):
        agent._actor_step(obs, critic_in)
    after = own_q()
    assert (after > before).all(), (before, after)
    assert same(critic, params(agent.critic))


@pytest.mark.parametrize("algo", ALGOS)
def test_pre_tanh_penalty_pulls_a_saturated_actor_back(algo):
    """Agent 'a' (continuous) starts saturated: its pre-tanh outputs near +5, where tanh is flat
    and the critic's gradient through it almost vanishes. With ``pre_tanh_penalty`` its actor
    steps pull them back towards 0; without, they stay."""
    state, action, *_ = random_batch(make_spec(), 64)
    critic_in = torch.cat([state["a"], F.one_hot(state["b"].long(), 5).float(), action["a"],
                           action["b"]], dim=1)  # fmt: skip

    def after_steps(penalty: float) -> tuple[float, float]:
        agent = algo(make_spec(), NET, seed=0, pre_tanh_penalty=penalty)
        actor = agent.actors["a"]
        with torch.no_grad():
            list(actor.biases.parameters())[-1].add_(5.0)
        obs = [preprocess_observation(state[a], agent.spec.observations[a]) for a in "ab"]

        def mean_pre() -> float:
            with torch.no_grad():
                return actor(obs[0], pre_activation=True).mean().item()

        before = mean_pre()
        for _ in range(50):
            agent._actor_step(obs, critic_in)
        return before, mean_pre()

    before, with_penalty = after_steps(1e-3)
    _, without = after_steps(0.0)
    assert before > 4.9
    assert with_penalty < before - 0.2, (before, with_penalty)
    assert without > before - 0.1, (before, without)


@pytest.mark.parametrize("algo", ALGOS)
def test_pre_tanh_penalty_leaves_discrete_actors_alone(algo):
    """Discrete actors output logits, not tanh: the penalty changes nothing of their learning."""
    batch = random_batch(make_spec(discrete=True), 32, seed=2)
    actors = []
    for penalty in (0.0, 0.5):
        agent = algo(make_spec(discrete=True), NET, seed=0, pre_tanh_penalty=penalty)
        for _ in range(4):
            agent.learn(batch)
        actors.append([p for a in "ab" for p in params(agent.actors[a])])
    assert same(*actors)


def test_target_smoothing_noise_is_clipped_and_within_bounds():
    agent = MATD3(make_spec(), NET, target_noise=10.0, target_noise_clip=0.1, seed=0)
    obs = preprocess_observation(torch.randn(4096, 3), agent.spec.observations["a"])
    clean = agent._scales["a"](agent.actor_targets["a"](obs)).detach()
    smoothed = agent.target_action("a", obs)
    half = torch.tensor([1.0, 1.0])  # half ranges of [-1, 1] and [0, 2]
    diff = smoothed - clean
    assert (diff.abs() <= 0.1 * half + 1e-6).all() and diff.abs().max() > 0.09
    assert (smoothed >= torch.tensor([-1.0, 0.0])).all()
    assert (smoothed <= torch.tensor([1.0, 2.0])).all()
    maddpg = MADDPG(make_spec(), NET, target_noise=0.2, seed=0)  # MADDPG never smooths
    plain = maddpg._scales["a"](maddpg.actor_targets["a"](obs))
    torch.testing.assert_close(maddpg.target_action("a", obs), plain)
    # Noise far past the bounds: both bounds are reached and none is crossed.
    wide = MATD3(make_spec(), NET, target_noise=10.0, target_noise_clip=5.0, seed=0)
    smoothed = wide.target_action("a", obs)
    low, high = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0])
    assert ((smoothed >= low) & (smoothed <= high)).all()
    assert (smoothed == low).any(dim=0).all() and (smoothed == high).any(dim=0).all()


def test_target_smoothing_noise_has_the_configured_spread():
    """TD3's target policy smoothing: Gaussian noise of sd ``target_noise`` (in half ranges).
    Measured where the clean action is far from both bounds, so no clipping acts."""
    agent = MATD3(make_spec(), NET, target_noise=0.2, target_noise_clip=0.5, seed=0)
    obs = preprocess_observation(torch.randn(20000, 3), agent.spec.observations["a"])
    clean = agent._scales["a"](agent.actor_targets["a"](obs)).detach()
    diff = agent.target_action("a", obs) - clean  # half ranges are 1 for agent 'a'
    centre = torch.tensor([0.0, 1.0])
    inner = (clean - centre).abs() < 0.3
    assert inner.sum() > 5000
    # Clamped at the clip (2.5 sd): sd * sqrt(1 - 2 c phi(c) - (1 - c^2) P(|z| > c)), c = 2.5
    assert diff[inner].std().item() == pytest.approx(0.2 * 0.9887, rel=0.02)
    assert diff.abs().max().item() <= 0.5 + 1e-6


def test_polyak_update_is_exact():
    agent = MATD3(make_spec(), NET, tau=0.25, seed=0)
    agent.learn(random_batch(agent.spec, 8))  # critic step: online != target
    online, target = params(agent.critic), params(agent.critic_target)
    agent.soft_update()
    for o, t, new in zip(online, target, agent.critic_target.parameters(), strict=True):
        torch.testing.assert_close(new, 0.25 * o + 0.75 * t, rtol=0, atol=1e-7)


# ------------------------------------------------------------------------------ learning
@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("discrete", [False, True])
def test_learn_returns_stats_and_delays_actor(algo, discrete):
    agent = algo(make_spec(discrete), NET, seed=0)
    batch = random_batch(agent.spec, 16)
    actor_before = params(agent.actors["a"])
    first = agent.learn(batch)
    assert isinstance(first, LearnStats) and set(first.critic_losses) == {"a", "b"}
    delayed = algo is MATD3
    assert (first.actor_losses is None) == delayed
    unchanged = same(actor_before, params(agent.actors["a"]))
    assert unchanged == delayed
    second = agent.learn(batch)
    assert second.actor_losses is not None and agent.learn_counter == 2
    values = second.to_dict()
    assert set(values) == {"critic_loss/a", "critic_loss/b", "actor_loss/a", "actor_loss/b"}
    assert all(np.isfinite(v) for v in values.values())
    assert not any(v.requires_grad for v in second.critic_losses.values())


def test_critic_loss_gradient_reaches_only_critics_and_actor_step_only_actors():
    agent = MATD3(make_spec(), NET, seed=0)
    batch = random_batch(agent.spec, 16)
    critic_target_before = params(agent.critic_target)
    agent.learn(batch)
    # After one call: critic moved, targets untouched (delayed).
    assert same(critic_target_before, params(agent.critic_target))
    critic_before = params(agent.critic)
    agent.critic_optimizer.zero_grad(set_to_none=True)
    agent._actor_step(
        [preprocess_observation(batch[0][a], agent.spec.observations[a]) for a in "ab"],
        torch.cat([batch[0]["a"], torch.nn.functional.one_hot(batch[0]["b"].long(), 5).float(),
                   batch[1]["a"], batch[1]["b"]], dim=1),
    )  # fmt: skip
    assert same(critic_before, params(agent.critic))
    assert all(p.grad is None for p in agent.critic.parameters())


# -------------------------------------------------------------------------------- acting
@pytest.mark.parametrize("training", [False, True])
def test_continuous_actions_within_bounds(training):
    agent = MATD3(make_spec(), NET, expl_noise=5.0, seed=0)
    obs = random_obs(agent.spec, 256, np.random.default_rng(0))
    store, env_actions = agent.get_action(obs, training=training)
    for a, low, high in (("a", [-1, 0], [1, 2]), ("b", [0] * 3, [1] * 3)):
        assert store[a] is env_actions[a] and store[a].dtype == np.float32
        assert (store[a] >= low).all() and (store[a] <= high).all()
    if training:  # such large noise hits the bounds
        assert (store["a"][:, 0] == -1).any() and (store["a"][:, 0] == 1).any()


def test_discrete_greedy_is_argmax_and_store_is_one_hot():
    agent = MATD3(make_spec(discrete=True), NET, seed=0)
    obs = random_obs(agent.spec, 32, np.random.default_rng(1))
    store, env_actions = agent.get_action(obs, epsilon=1.0, training=False)
    for a in agent.agent_ids:
        x = preprocess_observation(torch.as_tensor(obs[a]), agent.spec.observations[a])
        expected = agent.actors[a](x).argmax(-1).numpy()
        np.testing.assert_array_equal(env_actions[a], expected)
        assert env_actions[a].dtype.kind == "i"
        np.testing.assert_array_equal(store[a], np.eye(agent.spec.actions[a].n)[expected])


def test_discrete_epsilon_explores_per_copy():
    agent = MATD3(make_spec(discrete=True), NET, seed=0)
    obs = random_obs(agent.spec, 2000, np.random.default_rng(1))
    greedy = agent.get_action(obs, training=False)[1]["b"]
    explored = agent.get_action(obs, epsilon=0.5, training=True)[1]["b"]
    changed = np.mean(explored != greedy)
    assert 0.3 < changed < 0.45  # 0.5 * 3/4 of random draws differ from greedy
    assert set(np.unique(explored)) == {0, 1, 2, 3}


def test_gumbel_straight_through_forward_one_hot_gradient_soft():
    logits = torch.randn(64, 4, requires_grad=True)
    sample = gumbel_softmax_straight_through(logits, torch.Generator().manual_seed(0))
    assert set(sample.detach().unique().tolist()) == {0.0, 1.0}
    torch.testing.assert_close(sample.detach().sum(-1), torch.ones(64), rtol=0, atol=0)
    (sample * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_gumbel_straight_through_gradient_is_the_soft_samples():
    logits = torch.randn(64, 4, requires_grad=True)
    weights = torch.randn(64, 4)
    sample = gumbel_softmax_straight_through(logits, torch.Generator().manual_seed(0))
    (sample * weights).sum().backward()
    # The same Gumbel noise (same seed, same draws), relaxed: softmax(logits + g).
    uniform = torch.rand(logits.shape, generator=torch.Generator().manual_seed(0))
    gumbel = -torch.log(-torch.log(uniform.clamp(1e-10, 1.0 - 1e-7)))
    soft_logits = logits.detach().clone().requires_grad_(True)
    soft = torch.softmax(soft_logits + gumbel, dim=-1)
    (soft * weights).sum().backward()
    torch.testing.assert_close(sample.detach(), F.one_hot(soft.argmax(-1), 4).float())
    torch.testing.assert_close(logits.grad, soft_logits.grad, rtol=0, atol=1e-7)


def test_continuous_exploration_noise_is_independent_per_copy():
    agent = MATD3(make_spec(), NET, expl_noise=0.3, seed=0)
    one = random_obs(agent.spec, 1, np.random.default_rng(7))
    obs = {a: np.repeat(o, 64, axis=0) for a, o in one.items()}  # 64 identical copies
    greedy = agent.get_action(obs, training=False)[0]
    noisy = agent.get_action(obs, training=True)[0]
    for a, low, high in (("a", [-1, 0], [1, 2]), ("b", [0] * 3, [1] * 3)):
        assert (greedy[a] == greedy[a][0]).all()  # same input, same greedy action
        assert len(np.unique(noisy[a], axis=0)) == 64  # but each copy draws its own noise
        assert (noisy[a] >= low).all() and (noisy[a] <= high).all()


@pytest.mark.parametrize("discrete", [False, True])
def test_get_action_defaults_skipped_agents_and_a_mask_without_defined_actions(discrete):
    """By default ``get_action`` explores (continuous noise) with epsilon 0 (discrete: greedy);
    an agent missing from ``obs`` is skipped and the others still act; a mask with no
    env-defined actions changes nothing."""
    agent = MATD3(make_spec(discrete), NET, expl_noise=0.5, seed=0)
    obs = random_obs(agent.spec, 32, np.random.default_rng(5))
    greedy = agent.get_action(obs, training=False)[1]
    default = agent.get_action(obs)[1]
    for a in agent.agent_ids:
        same = np.array_equal(default[a], greedy[a])
        assert same == discrete, a
    store, env_actions = agent.get_action({"b": obs["b"]}, training=False)
    assert set(store) == set(env_actions) == {"b"}
    np.testing.assert_array_equal(env_actions["b"], greedy["b"])
    masked = agent.get_action(obs, agent_mask={"a": np.zeros(32, bool)}, training=False)[1]
    for a in agent.agent_ids:
        np.testing.assert_array_equal(masked[a], greedy[a])


@pytest.mark.parametrize("discrete", [False, True])
def test_batched_get_action_equals_row_wise(discrete):
    agent = MATD3(make_spec(discrete), NET, seed=0)
    obs = random_obs(agent.spec, 5, np.random.default_rng(2))
    store, env_actions = agent.get_action(obs, training=False)
    for i in range(5):
        row_store, row_env = agent.get_action({a: o[i] for a, o in obs.items()}, training=False)
        for a in agent.agent_ids:
            np.testing.assert_allclose(row_store[a], store[a][i], rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(row_env[a], env_actions[a][i], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("discrete", [False, True])
def test_masking_uses_env_defined_actions_in_both_outputs(discrete):
    agent = MATD3(make_spec(discrete), NET, seed=0)
    rng = np.random.default_rng(3)
    defined_b = 2 if discrete else np.array([0.1, 0.2, 0.3], np.float32)
    store, env_actions = agent.get_action(
        random_obs(agent.spec, None, rng), epsilon=1.0, agent_mask={"a": True, "b": False},
        env_defined_actions={"a": None, "b": defined_b},
    )  # fmt: skip
    expected_store = np.eye(4)[2] if discrete else defined_b
    np.testing.assert_allclose(store["b"], expected_store)
    np.testing.assert_allclose(env_actions["b"], defined_b)
    # Batched: only the masked copies take the env-defined action.
    obs = random_obs(agent.spec, 3, rng)
    mask = np.array([True, False, True])
    defined = np.array([0, 3, 1]) if discrete else np.full((3, 3), 0.7, np.float32)
    free_store, free_env = agent.get_action(obs, training=False)
    store, env_actions = agent.get_action(
        obs, agent_mask={"b": mask}, env_defined_actions={"b": defined}, training=False
    )
    np.testing.assert_allclose(env_actions["b"][1], defined[1])
    np.testing.assert_allclose(env_actions["b"][[0, 2]], free_env["b"][[0, 2]])
    np.testing.assert_allclose(store["b"][1], np.eye(4)[3] if discrete else defined[1])
    np.testing.assert_allclose(store["a"], free_store["a"])


@pytest.mark.parametrize(
    ("defined", "batched"),
    [(2, True), (np.array([2]), True), (np.zeros((3, 1), int), True), (np.eye(3), True),
     (np.zeros((3, 4, 1)), True), (np.eye(4)[:2], False), (np.array([1, 2]), False)],
)  # fmt: skip
def test_ambiguous_discrete_env_defined_action_shape_is_refused(defined, batched):
    agent = MATD3(make_spec(discrete=True), NET, seed=0)
    obs = random_obs(agent.spec, 3 if batched else None, np.random.default_rng(3))
    mask = np.array([True, False, True]) if batched else False
    expected = r"\(3,\).*\(3, 4\)" if batched else r"\(\).*\(4,\)"
    with pytest.raises(ValueError, match=rf"env_defined_actions\['b'\].*{expected}"):
        agent.get_action(obs, agent_mask={"b": mask}, env_defined_actions={"b": defined})


def test_batched_env_defined_one_hot_equals_indices():
    agent = MATD3(make_spec(discrete=True), NET, seed=0)
    obs = random_obs(agent.spec, 3, np.random.default_rng(3))
    mask = {"b": np.array([False, False, True])}
    indices = np.array([3, 0, 1])
    by_index, by_one_hot = (
        agent.get_action(obs, agent_mask=mask, env_defined_actions={"b": d}, training=False)[1]
        for d in (indices, np.eye(4)[indices])
    )
    np.testing.assert_array_equal(by_index["b"], by_one_hot["b"])
    np.testing.assert_array_equal(by_index["b"][:2], [3, 0])


# ------------------------------------------------------------------------------ evolution
def _check_kept(old: list[torch.Tensor], new: list[torch.Tensor]) -> None:
    """Every hidden layer's and the output layer's overlapping block is unchanged."""
    n_old, n_new = len(old) // 2, len(new) // 2  # weights then biases
    pairs = [(i, i) for i in range(min(n_old, n_new) - 1)] + [(n_old - 1, n_new - 1)]
    for s, d in pairs:
        for src, dst in ((old[s], new[d]), (old[n_old + s], new[n_new + d])):
            block = tuple(slice(0, min(a, b)) for a, b in zip(src.shape, dst.shape, strict=True))
            torch.testing.assert_close(dst[block], src[block], rtol=0, atol=0)


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize(
    ("method", "kwargs"),
    [("add_layer", {}), ("add_nodes", {"layer": 1}), ("add_nodes", {"num_nodes": 8}),
     ("change_activation", {"name": "Tanh"})],
)  # fmt: skip
def test_mutate_architecture_consistent_and_keeps_weights(algo, method, kwargs):
    agent = algo(make_spec(), {"hidden_sizes": [32, 32], "min_nodes": 8}, seed=0)
    batch = random_batch(agent.spec, 16)
    agent.learn(batch), agent.learn(batch)  # targets now differ from online nets
    nets = {**agent.actors, "critic": agent.critic}
    targets = {**agent.actor_targets, "critic": agent.critic_target}
    before = {k: params(v) for k, v in nets.items()}
    before_t = {k: params(v) for k, v in targets.items()}
    result = agent.mutate_architecture(method, np.random.default_rng(0), **kwargs)
    assert result["kind"] == "architecture" and result["method"] == method
    assert set(result["where"]) == {"actor:a", "actor:b", "critic"}
    nets = {**agent.actors, "critic": agent.critic}
    targets = {**agent.actor_targets, "critic": agent.critic_target}
    for k in nets:
        assert nets[k].config == targets[k].config
        _check_kept(before[k], params(nets[k]))
        _check_kept(before_t[k], params(targets[k]))
    if method == "add_nodes":  # the new units are initialised alike in online and target nets
        for k in nets:
            w, wt = nets[k].weights[1], targets[k].weights[1]
            torch.testing.assert_close(w[..., 32:], wt[..., 32:], rtol=0, atol=0)
            assert w.shape[-1] > 32
    if method == "change_activation":
        assert agent.critic.activation == agent.actors["a"].activation == "Tanh"
    assert agent.learn(batch).actor_losses is not None or algo is MATD3
    agent.learn(batch)
    before_update = params(agent.critic_target)
    agent.soft_update()  # Polyak still pairs each target with its online parameter
    shapes = [p.shape for p in agent.critic_target.parameters()]
    assert [p.shape for p in before_update] == shapes


def test_clone_is_independent():
    agent = MATD3(make_spec(), NET, seed=0)
    batch = random_batch(agent.spec, 16)
    agent.learn(batch), agent.learn(batch)
    agent.fitness.append(1.0)
    twin = agent.clone(index=7)
    assert twin.index == 7 and twin.fitness == [1.0] and twin.fitness is not agent.fitness
    assert twin.learn_counter == agent.learn_counter
    obs = random_obs(agent.spec, 4, np.random.default_rng(4))
    np.testing.assert_array_equal(agent.get_action(obs)[0]["a"], twin.get_action(obs)[0]["a"])
    before = params(agent.actors["a"]) + params(agent.critic)
    twin.learn(batch), twin.learn(batch)
    twin.fitness.append(2.0)
    after = params(agent.actors["a"]) + params(agent.critic)
    assert same(before, after)
    assert agent.fitness == [1.0]
    stats_a, stats_b = agent.learn(batch), twin.clone().learn(batch)
    assert stats_a.to_dict() != stats_b.to_dict()  # the twin moved on separately


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("discrete", [False, True])
def test_same_seed_same_actions_and_learning(algo, discrete):
    agents = [algo(make_spec(discrete), NET, seed=11) for _ in range(2)]
    obs = random_obs(agents[0].spec, 6, np.random.default_rng(5))
    batch = random_batch(agents[0].spec, 32)
    acts = [ag.get_action(obs, epsilon=0.5) for ag in agents]
    for a in agents[0].agent_ids:
        np.testing.assert_array_equal(acts[0][0][a], acts[1][0][a])
    stats = [[ag.learn(batch).to_dict() for _ in range(3)] for ag in agents]
    assert stats[0] == stats[1]
    for p, q in zip(agents[0].critic.parameters(), agents[1].critic.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    other = algo(make_spec(discrete), NET, seed=12)
    assert other.learn(batch).to_dict() != stats[0][0]


def test_hyperparameters_and_reinit_optimizers():
    agent = MATD3(make_spec(), NET, lr_actor=3e-4, seed=0)
    hp = agent.hyperparameters()
    assert hp["lr_actor"] == 3e-4 and hp["policy_freq"] == 2 and "batch_size" in hp
    assert "policy_freq" not in MADDPG(make_spec(), NET).hyperparameters()
    agent.lr_actor = 1e-2
    agent.reinit_optimizers()
    assert agent.actor_optimizer.param_groups[0]["lr"] == 1e-2


def test_image_observations_use_cnn_actor():
    agent = MATD3(make_spec(image=True), {**NET, "cnn": {"channel_sizes": [8]}}, seed=0)
    assert isinstance(agent.actors["a"], EvolvableCNN)
    obs = random_obs(agent.spec, 3, np.random.default_rng(6))
    store, _ = agent.get_action(obs)
    assert store["a"].shape == (3, 2)
    single, _ = agent.get_action({a: o[0] for a, o in obs.items()}, training=False)
    assert single["a"].shape == (2,)
    batch = random_batch(agent.spec, 8)
    agent.learn(batch), agent.learn(batch)
    actor = agent.actors["a"]
    result = agent.mutate_architecture("add_nodes", np.random.default_rng(0), num_nodes=8)
    assert result["new"]["actor:a"] == [16]  # "new nodes" widen the encoder: 8 more channels
    assert [agent.actors["a"].channel_sizes, agent.actor_targets["a"].channel_sizes] == [[16]] * 2
    result = agent.mutate_architecture("add_layer", np.random.default_rng(0))
    assert result["new"]["actor:a"] == [16, 16] and actor.hidden_sizes == [16, 16]  # head kept
    assert set(result["where"]) == {"actor:a", "actor:b", "critic"}  # b: an MLP actor
    agent.learn(batch)
    with pytest.raises(ValueError, match="remove_layer"):
        agent.mutate_architecture("remove_layer", np.random.default_rng(0))


def test_unknown_net_config_key_is_named():
    with pytest.raises(ValueError, match="hidden_size"):
        MATD3(make_spec(), {"hidden_size": [8]})


# ------------------------------------------------------------------------------ test()
class MaskedEnv:
    """Duck-typed ParallelEnv (``make_spec()``'s spaces): agent 'b' is masked and must play the
    env-defined action."""

    possible_agents = ["a", "b"]
    _spaces = {  # (observation, action) spaces of make_spec()
        "a": (spaces.Box(-np.inf, np.inf, (3,), np.float32),
              spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 2.0], np.float32))),
        "b": (spaces.Discrete(5), spaces.Box(0.0, 1.0, (3,), np.float32)),
    }  # fmt: skip

    def observation_space(self, agent):
        return self._spaces[agent][0]

    def action_space(self, agent):
        return self._spaces[agent][1]

    def __init__(self):
        self.agents, self.received, self.t = [], [], 0
        defined = {"a": None, "b": np.full(3, 0.25, np.float32)}
        self.info = {"agent_mask": {"a": True, "b": False}, "env_defined_actions": defined}

    def reset(self, seed=None):
        self.agents, self.t = list(self.possible_agents), 0
        return {"a": np.zeros(3, np.float32), "b": 1}, self.info

    def step(self, actions):
        self.received.append(actions)
        self.t += 1
        done = self.t >= 4
        obs = {"a": np.full(3, self.t, np.float32), "b": self.t % 5}
        rewards = {"a": 1.0, "b": 2.0}
        if done:
            self.agents = []
        terms = {a: done for a in self.possible_agents}
        truncs = {a: False for a in self.possible_agents}
        return obs, rewards, terms, truncs, self.info


def test_test_on_single_env_with_masking():
    agent = MATD3(make_spec(), NET, seed=0)
    env = MaskedEnv()
    score = agent.test(env, max_steps=25, loop=2)
    assert score == pytest.approx(12.0) and agent.fitness == [score]
    assert agent.last_test_returns == {"a": 4.0, "b": 8.0}
    assert len(env.received) == 8
    assert all(np.allclose(step["b"], 0.25) for step in env.received)


class ResetCounter:
    """Counts the resets of a wrapped vec env."""

    def __init__(self, env):
        self.env, self.resets = env, 0
        self.num_envs = env.num_envs

    def reset(self, seed=None):
        self.resets += 1
        return self.env.reset(seed)

    def step(self, actions):
        return self.env.step(actions)


class ScriptedVecEnv:
    """Duck-typed vec env of ``len(lengths)`` copies with known rewards: copy ``i``'s episodes
    last ``lengths[i]`` steps and the env auto-resets it; at the copy's ``k``-th step since the
    last ``reset()`` agent 'a' gets ``10 * i + k`` and 'b' gets ``-k``. ``flag`` names the
    reset copies in ``info["_final_obs"]`` (the vector envs' way) or leaves it to the
    terminations. ``rounds`` gives other lengths after each ``reset()``; ``info`` is added to
    every step's info; ``early``: agent 'b' terminates one step before its copy ends (the
    copy goes on: only ``_final_obs`` says when a copy ends). The actions are kept."""

    def __init__(self, lengths, flag=True, rounds=(), info=None, early=False):
        self.rounds, self.flag, self.info, self.early = [lengths, *rounds], flag, info, early
        self.num_envs, self.resets, self.received = len(lengths), 0, []

    def _obs(self):
        return {"a": np.tile(self.k[:, None], (1, 3)).astype(np.float32), "b": self.k % 5}

    def reset(self, seed=None):
        self.resets, self.k = self.resets + 1, np.zeros(self.num_envs, int)
        self.lengths = np.asarray(self.rounds[min(self.resets, len(self.rounds)) - 1])
        return self._obs(), dict(self.info or {})

    def step(self, actions):
        assert set(actions) == {"a", "b"} and len(actions["a"]) == self.num_envs
        self.received.append((self._obs(), actions))
        self.k += 1
        ended = self.k % self.lengths == 0
        rewards = {"a": 10.0 * np.arange(self.num_envs) + self.k, "b": -self.k.astype(float)}
        b_done = self.k % self.lengths == self.lengths - 1 if self.early else ended.copy()
        terms = {"a": ended.copy(), "b": b_done}
        truncs = {"a": np.zeros(self.num_envs, bool), "b": ended.copy()}
        info = {"_final_obs": ended} if self.flag else {}
        return self._obs(), rewards, terms, truncs, {**info, **(self.info or {})}


@pytest.mark.parametrize("flag", [True, False])
def test_vec_env_episode_returns_are_exact(flag):
    """Hand-computed episodes. Round 1 of 3 episodes on copies of lengths 2 and 3: copy 0 ends
    at k=2 (a: 1+2, b: -3) and, one episode still wanting a copy, plays k=3..4 (a: 7, b: -7);
    copy 1 ends at k=3 (a: 11+12+13). Cut at 2 steps instead, copy 1 stops at k=2 (a: 11+12)."""
    agent = MATD3(make_spec(), NET, seed=0)
    env = ScriptedVecEnv([2, 3], flag)
    score = agent.test(env, max_steps=25, loop=3)
    assert score == (3 - 3 + 36 - 6 + 7 - 7) / 3 and env.resets == 1
    assert agent.last_test_returns == {"a": (3 + 36 + 7) / 3, "b": (-3 - 6 - 7) / 3}

    np.testing.assert_array_equal(run_episodes(agent, env, 3, 25), [[3, -3], [36, -6], [7, -7]])
    np.testing.assert_array_equal(run_episodes(agent, env, 3, 2), [[3, -3], [23, -3], [7, -7]])
    # Copy 0 goes on while episodes are wanted (a: 5+6 at k=5..6), in one round of resets.
    np.testing.assert_array_equal(
        run_episodes(agent, env, 4, 2), [[3, -3], [23, -3], [7, -7], [11, -11]]
    )
    # Both copies cut at 2 steps before they end: a second round (a reset) plays the third.
    env = ScriptedVecEnv([3, 3], flag)
    np.testing.assert_array_equal(run_episodes(agent, env, 3, 2), [[3, -3], [23, -3], [3, -3]])
    assert env.resets == 2


def test_vec_env_episodes_with_more_copies_than_wanted_and_later_rounds():
    agent = MATD3(make_spec(), NET, seed=0)
    # Four copies, two episodes: the first two copies play them, the others are not counted.
    returns = run_episodes(agent, ScriptedVecEnv([2, 3, 2, 2]), 2, 25)
    np.testing.assert_array_equal(returns, [[3, -3], [36, -6]])
    # Round 1 cuts both copies at 2 steps; round 2 (lengths 2 and 3) ends copy 0 by a reset
    # with no episode left to want (it stops) and cuts copy 1 again: four episodes in all.
    env = ScriptedVecEnv([3, 3], rounds=[[2, 3]])
    returns = run_episodes(agent, env, 4, 2)
    np.testing.assert_array_equal(returns, [[3, -3], [23, -3], [3, -3], [23, -3]])
    assert env.resets == 2


def test_episodes_default_to_three_of_at_most_25_steps():
    """``test()`` plays 3 episodes and both it and ``run_episodes`` cut them at 25 steps (the
    MPE tasks' length): copies of 30-step episodes end at k=25 (a: 1+...+25 = 325)."""
    agent = MATD3(make_spec(), NET, seed=0)
    env = ScriptedVecEnv([30, 30])
    assert agent.test(env) == (0 + 250 + 0) / 3 and env.resets == 2
    assert agent.last_test_returns == {"a": (325 + 575 + 325) / 3, "b": -325}
    np.testing.assert_array_equal(
        run_episodes(agent, ScriptedVecEnv([30, 30]), 3), [[325, -325], [575, -325], [325, -325]]
    )
    with pytest.raises(ValueError, match="on_step needs a one-copy env, got 2 copies"):
        run_episodes(agent, env, 1, on_step=lambda env: None)


def test_vec_env_episode_ends_when_the_env_resets_the_copy_not_when_one_agent_is_done():
    agent = MATD3(make_spec(), NET, seed=0)
    env = ScriptedVecEnv([2, 3], early=True)  # 'b' done at k=1 and k=2 before its copy ends
    np.testing.assert_array_equal(run_episodes(agent, env, 2, 25), [[3, -3], [36, -6]])


@pytest.mark.parametrize("discrete", [False, True])
def test_vec_env_episodes_act_greedily_and_honour_masks(discrete):
    """Copy 1 of agent 'a' is masked: it plays the env-defined action; every other action is
    the greedy one (``training=False``: no exploration noise or epsilon)."""
    agent = MATD3(make_spec(discrete), NET, seed=0, expl_noise=0.5)
    defined = np.array([2, 1]) if discrete else np.array([[0.25, 0.5], [0.75, 1.5]], np.float32)
    masks = {"agent_mask": {"a": np.array([True, False]), "b": np.array([True, True])},
             "env_defined_actions": {"a": defined, "b": None}}  # fmt: skip
    env = ScriptedVecEnv([3, 3], info=masks)
    run_episodes(agent, env, 2, 25)
    assert len(env.received) == 3
    for obs, actions in env.received:
        _, greedy = agent.get_action(obs, training=False)
        np.testing.assert_array_equal(actions["a"][0], greedy["a"][0])
        np.testing.assert_array_equal(actions["a"][1], defined[1])
        np.testing.assert_array_equal(actions["b"], greedy["b"])


@pytest.mark.parametrize("discrete", [False, True])
def test_test_on_vec_env_counts_complete_episodes(discrete):
    from marlpipe.envs import make_env, make_vec_env

    vec = make_vec_env(
        "mpe2.simple_speaker_listener_v4", 2, seed=0, continuous_actions=not discrete
    )
    agent = MATD3(vec.spec, NET, seed=0)
    env = ResetCounter(vec)
    score = agent.test(env, max_steps=10, loop=3)  # cut at 10 steps: 2 rounds of resets
    assert env.resets == 2 and np.isfinite(score) and score < 0
    env.resets = 0
    agent.test(env, max_steps=25, loop=4)  # the env's own 25-step episodes auto-reset
    assert env.resets == 1 and len(agent.fitness) == 2
    single = make_env("mpe2.simple_speaker_listener_v4", continuous_actions=not discrete)
    assert np.isfinite(agent.test(single, max_steps=25, loop=1))
    assert set(agent.last_test_returns) == set(vec.agent_ids)


@pytest.mark.parametrize("activation", ["ReLU", "Tanh"])
def test_first_q_is_the_ensembles_first_critics(activation):
    """MATD3's actor step reads each agent's first critic alone (the leading ensemble members'
    weights): the same numbers as the whole ensemble's forward pass, cut to those members."""
    agent = MATD3(make_spec(), {**NET, "activation": activation}, seed=0)
    layout, critic = agent.critic_layout, agent.critic
    assert critic.ensemble_size == 2 * len(agent.agent_ids) and critic.activation == activation
    joints = torch.randn(len(agent.agent_ids), 16, agent.spec.critic_input_dim) * 3
    with torch.no_grad():
        first = layout.first_q(critic, joints)
        full = critic(torch.cat([joints, torch.zeros_like(joints)]))[: len(agent.agent_ids)]
    assert (full < 0).any() and (full > 0).any()  # both signs: an output activation would show
    torch.testing.assert_close(first, full)


@pytest.mark.parametrize("algo", ALGOS)
def test_a_new_agent_starts_with_an_empty_history_and_frozen_targets(algo):
    agent = algo(make_spec(discrete=True), NET, seed=0)
    assert agent.index == 0 and algo(make_spec(), NET, index=3, seed=0).index == 3
    assert agent.fitness == [] and agent.last_test_returns == {}
    assert agent.steps == agent.learn_counter == agent.learn_credit == 0
    assert agent.lineage == {"parent": None, "generation": 0, "mutations": []}
    targets = [*agent.actor_targets.values(), agent.critic_target]
    assert not any(p.requires_grad for net in targets for p in net.parameters())
    store = agent.get_action(random_obs(agent.spec, 4, np.random.default_rng(0)))[0]
    assert all(store[a].dtype == np.float32 for a in agent.agent_ids)  # one-hot rows stored


class SeededScripted(ScriptedVecEnv):
    """``ScriptedVecEnv`` that records its resets' seeds; ``batched``: a batched simulator
    (VMAS's kind: every round seeded); ``truncations=False``: episodes end by terminations
    alone (no ``_final_obs`` flag, no truncation)."""

    def __init__(self, lengths, batched=False, truncations=True):
        super().__init__(lengths, flag=False)
        self.batched_simulator, self.truncations, self.calls = batched, truncations, []

    def reset(self, seed=None, seeds=None):
        self.calls.append((seed, seeds))
        return super().reset()

    def step(self, actions):
        obs, rewards, terms, truncs, info = super().step(actions)
        if not self.truncations:
            truncs = {a: np.zeros_like(t) for a, t in truncs.items()}
        return obs, rewards, terms, truncs, info


def test_episode_seeds_reach_the_env_as_a_single_envs_would_take_them():
    """One copy: its own stream is seeded (``seeds=[seed]``, as ``env.reset(seed=seed)``),
    later resets continue it; several copies: ``reset(seed=seed)`` derives theirs; no seed: no
    seeded reset; a batched simulator: every round seeded, episode k from seed k's spawn."""
    from marlpipe.seeding import spawn_seeds

    agent = MATD3(make_spec(), NET, seed=0)
    env = SeededScripted([2])
    np.testing.assert_array_equal(run_episodes(agent, env, 2, seed=7), [[3, -3], [7, -7]])
    assert env.calls == [(None, [7]), (None, None)]
    env = SeededScripted([2, 3])
    run_episodes(agent, env, 2, seed=7)
    assert env.calls == [(7, None), (None, None)]
    env = SeededScripted([2])
    run_episodes(agent, env, 1)
    assert env.calls == [(None, None)]
    env = SeededScripted([2, 3], batched=True)
    np.testing.assert_array_equal(
        run_episodes(agent, env, 3, seed=7), [[3, -3], [36, -6], [3, -3]]
    )
    s = spawn_seeds(7, 3)
    assert env.calls == [(7, [s[0], s[1]]), (7, [s[2], None])]
    # Terminations alone end an episode (no flag, no truncation): the same returns.
    np.testing.assert_array_equal(
        run_episodes(agent, SeededScripted([2, 3], truncations=False), 2), [[3, -3], [36, -6]]
    )
    seen = []
    run_episodes(agent, env := SeededScripted([2]), 1, on_step=seen.append)
    assert seen == [env, env]  # after the reset and the one step after which the round goes on


@pytest.mark.parametrize("discrete", [False, True])
def test_no_exploration_draws_nothing_from_the_agents_generator(discrete):
    """With ``expl_noise`` 0 (continuous) or ``epsilon`` 0 (discrete) acting draws no random
    numbers: the generator's later draws, and so the run, are those of greedy acting."""
    agent = MATD3(make_spec(discrete), NET, expl_noise=0.0, seed=0)
    obs = random_obs(agent.spec, 8, np.random.default_rng(1))
    before = agent.np_rng.bit_generator.state
    greedy = agent.get_action(obs, training=False)[1]
    explored = agent.get_action(obs, epsilon=0.0, training=True)[1]
    assert agent.np_rng.bit_generator.state == before
    for a in agent.agent_ids:
        np.testing.assert_array_equal(explored[a], greedy[a])


def test_no_target_smoothing_draws_nothing_from_the_torch_generator():
    agent = MATD3(make_spec(), NET, target_noise=0.0, seed=0)
    obs = preprocess_observation(torch.randn(8, 3), agent.spec.observations["a"])
    before = agent.torch_rng.get_state()
    agent.target_action("a", obs)
    assert torch.equal(agent.torch_rng.get_state(), before)
