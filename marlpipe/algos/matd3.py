"""MATD3: multi-agent TD3 with centralised twin critics (Ackermann et al. 2019).

Papers: MADDPG https://arxiv.org/abs/1706.02275, TD3 https://arxiv.org/abs/1802.09477,
MATD3 https://arxiv.org/abs/1910.01465. :class:`marlpipe.algos.maddpg.MADDPG` is the special
case with one critic, no policy delay and no target policy smoothing.

Its size is earned: the networks, the update and the hooks evolution calls all work on one
agent's state, and the class reads top to bottom in that order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from marlpipe.algos.acting import ActingMixin
from marlpipe.algos.agent_state import AgentStateMixin
from marlpipe.algos.architecture import mutate_architecture
from marlpipe.algos.base import (
    ActionScale,
    LearnStats,
    build_actor,
    check_supported,
    gumbel_softmax_straight_through,
    network_owners,
    normalise_net_config,
    preprocess_observation,
)
from marlpipe.algos.buffer import transition
from marlpipe.algos.critics import critic_layout
from marlpipe.algos.episodes import run_episodes
from marlpipe.algos.evolvable import get_activation
from marlpipe.algos.hyperparameters import algorithm_values, as_init_hp
from marlpipe.config.params import InitHP, NetConfig
from marlpipe.envs.spec import EnvSpec
from marlpipe.registry import ALGORITHMS, AlgorithmInfo


class MATD3(ActingMixin, AgentStateMixin):
    """Per-agent actors with centralised twin critics, clipped double-Q and delayed actor updates.

    Hyperparameters come from ``hp``, a :class:`marlpipe.config.InitHP` (their one definition,
    default and description); keyword ``hyperparameters`` override single fields, as in
    ``MATD3(spec, batch_size=64)``. Each becomes an attribute of the same name
    (``agent.batch_size``) that evolution may change. The architecture comes from a
    :class:`marlpipe.config.NetConfig` or a plain ``net_config`` mapping with the same keys (plus
    ``cnn`` for image actors). Acting (``get_action``) comes from
    :class:`~marlpipe.algos.acting.ActingMixin`; checkpoints, cloning and ``load`` from
    :class:`~marlpipe.algos.agent_state.AgentStateMixin`.

    Observations go in raw (as the env and the replay buffer give them) and are preprocessed in
    torch. Image observations: actors are CNNs, but the centralised critic sees the flattened
    images (a known simplification: fine for small images, wasteful for large ones).

    With ``net_config`` ``share_homogeneous`` each homogeneous group of agents
    (:attr:`marlpipe.envs.EnvSpec.groups`) has one actor and one critic (a pair for MATD3):
    ``actors[a]`` is the same network for every agent of a group, ``owners[a]`` names the agent
    whose networks ``a`` uses (the group's first), ``net_owners`` those agents. Every member's
    transitions train the group's networks; each critic sees all agents, each member in its own
    order (``critics.py``).

    The ``InitHP`` defaults are tuned for our speaker-listener runs (a greedy score of about -20
    after 200k env steps in the project's speed measurements) and differ from the MATD3 values
    of AgileRL's multi-agent training tutorial:

    - ``lr_critic=1e-3`` (reference 0.01): the rate those runs were tuned with.
    - ``learn_step=100`` (reference 5): learning less often keeps the env-bound loop fast.
    - ``batch_size=1024`` (reference 32): large batches amortise per-op overhead on CPU.
    """

    info: ClassVar[AlgorithmInfo] = ALGORITHMS["MATD3"]
    """The registry's entry: the name, capabilities and hyperparameters below come from it."""
    algo_name: ClassVar[str] = info.name
    n_critics: ClassVar[int] = info.n_critics
    target_smoothing: ClassVar[bool] = info.target_smoothing
    HYPERPARAMETERS: ClassVar[tuple[str, ...]] = info.hyperparameters

    def __init__(
        self,
        spec: EnvSpec,
        net_config: NetConfig | Mapping[str, Any] | None = None,
        hp: InitHP | Mapping[str, Any] | None = None,
        *,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        index: int = 0,
        **hyperparameters: Any,
    ) -> None:
        check_supported(self.info, spec)
        self.spec = spec
        self.agent_ids: tuple[str, ...] = tuple(spec.agent_ids)
        self.net_config = normalise_net_config(net_config)
        # The InitHP values this algorithm uses, as attributes of the same names.
        for name, value in algorithm_values(self.info, as_init_hp(hp, **hyperparameters)).items():
            setattr(self, name, value)
        if not self.info.policy_delay:
            self.policy_freq = 1  # actors and targets step on every learn() call
        if not self.info.target_smoothing:
            self.target_noise = self.target_noise_clip = 0.0
        self.device = torch.device(device)

        self.reseed(seed)

        self.index = int(index)
        """Population slot of this member."""
        self.fitness: list[float] = []
        """Scores of every ``test()`` call, oldest first."""
        self.steps = 0
        """Env transitions this member has collected (incremented by the training loop)."""
        self.lineage: dict[str, Any] = {"parent": None, "generation": 0, "mutations": []}
        """Evolution history, maintained by the evolution layer."""
        self.learn_counter = 0
        """``learn()`` calls so far (drives the policy delay)."""
        self.learn_credit = 0
        """Transitions not yet turned into a ``learn()`` call (kept by the training loop)."""
        self.last_test_returns: dict[str, float] = {}
        """Per-agent mean return of the last ``test()``."""

        self._scales = {
            a: ActionScale(spec.actions[a], self.device)
            for a in self.agent_ids
            if not spec.actions[a].discrete
        }
        obs_total = sum(spec.observations[a].flat_dim for a in self.agent_ids)
        starts = np.cumsum([obs_total] + [spec.actions[a].dim for a in self.agent_ids])
        ends = starts[1:]
        self._action_slices = [slice(int(s), int(e)) for s, e in zip(starts, ends, strict=False)]
        self._one_hots = {
            a: np.eye(spec.actions[a].dim, dtype=np.float32)
            for a in self.agent_ids
            if spec.actions[a].discrete
        }
        self.owners = network_owners(spec, bool(self.net_config.get("share_homogeneous")))
        """Agent -> the agent whose actor and critic it uses (itself unless shared)."""
        self.net_owners: tuple[str, ...] = tuple(dict.fromkeys(self.owners.values()))
        """The agents that own networks, in env order (every agent unless shared)."""
        actors = {
            a: build_actor(spec.observations[a], spec.actions[a], self.net_config, self.torch_rng)
            for a in self.net_owners
        }
        self.critic_layout = critic_layout(self.n_critics, spec, self.owners)
        """Where each agent's (or group's) critics sit in the stacked critic ensemble."""
        self.set_networks(actors, self.critic_layout.build(spec, self.net_config, self.torch_rng))

    # ----------------------------------------------------------------------------- networks
    def set_networks(
        self,
        actors: dict[str, nn.Module],
        critic: nn.Module,
        actor_targets: dict[str, nn.Module] | None = None,
        critic_target: nn.Module | None = None,
    ) -> None:
        """Install networks (targets default to copies), then rebuild parameter lists and Adams.

        ``actors`` and ``actor_targets`` are read at the :attr:`net_owners` (keys of other
        agents are ignored); every agent of a group gets its owner's network."""
        owned = {o: actors[o].to(self.device) for o in self.net_owners}
        self.actors = {a: owned[self.owners[a]] for a in self.agent_ids}
        self.critic = critic.to(self.device)
        if actor_targets is None:
            actor_targets = {o: net.clone() for o, net in owned.items()}
        owned_targets = {o: actor_targets[o].to(self.device) for o in self.net_owners}
        self.actor_targets = {a: owned_targets[self.owners[a]] for a in self.agent_ids}
        self.critic_target = (critic_target or self.critic.clone()).to(self.device)
        for target in [*owned_targets.values(), self.critic_target]:
            target.requires_grad_(False)
        self._actor_params = [p for o in self.net_owners for p in owned[o].parameters()]
        self._critic_params = list(self.critic.parameters())
        self._online_params = self._actor_params + self._critic_params
        self._target_params = [
            *(p for o in self.net_owners for p in owned_targets[o].parameters()),
            *self.critic_target.parameters(),
        ]
        self.reinit_optimizers()

    def reinit_optimizers(self) -> None:
        """Fresh Adam optimisers at the current learning rates (moments are reset).

        One Adam over all actors (and one over all critics) equals one Adam per agent: Adam is
        elementwise, and agent i's actor loss depends only on actor i (the other agents' actions
        come from the buffer), just as each critic's loss depends only on that critic. A shared
        network's gradient is the sum over its group's agents.
        """
        self.actor_optimizer = _adam(self._actor_params, self.lr_actor)
        self.critic_optimizer = _adam(self._critic_params, self.lr_critic)

    @torch.no_grad()
    def soft_update(self) -> None:
        """Polyak-average every target network towards its online network in one fused call."""
        torch._foreach_lerp_(self._target_params, self._online_params, self.tau)

    # ----------------------------------------------------------------------------- learning
    def learn(self, experiences: tuple[dict[str, Tensor], ...]) -> LearnStats:
        """One critic step (and, every ``policy_freq`` calls, actor + target steps) on a batch.

        ``experiences`` is ``buffer.sample()``: (state, action, reward, next_state, done) with
        ``done`` holding terminations only, so truncated transitions bootstrap.
        """
        state, action, reward, next_state, done = transition(experiences)
        ids, layout = self.agent_ids, self.critic_layout
        obs = [preprocess_observation(state[a], self.spec.observations[a]) for a in ids]
        critic_in = layout.joint_input(obs, [action[a] for a in ids])

        # Critic step: every critic regresses on the shared clipped double-Q target (MSE).
        y = self.td_targets(reward, next_state, done)  # (n_agents, B)
        q = layout.q_values(self.critic, critic_in)  # (n_critics, n_agents, B)
        critic_losses = (q - y).square().mean(-1)  # (n_critics, n_agents)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_losses.sum().backward()
        self.critic_optimizer.step()

        # Delayed actor step, then Polyak-average the targets (every call for MADDPG).
        self.learn_counter += 1
        actor_losses = None
        if self.learn_counter % self.policy_freq == 0:
            actor_losses = self._actor_step(obs, critic_in.detach())
            self.soft_update()
        return LearnStats(
            dict(zip(ids, critic_losses.detach().mean(0).unbind(), strict=True)),
            None if actor_losses is None else dict(zip(ids, actor_losses.unbind(), strict=True)),
        )

    @torch.no_grad()
    def td_targets(
        self, reward: dict[str, Tensor], next_state: dict[str, Tensor], done: dict[str, Tensor]
    ) -> Tensor:
        """``y = r + gamma * (1 - terminated) * min_k Q'_k(s', a')`` for every agent: ``(N, B)``."""
        ids = self.agent_ids
        next_obs = [preprocess_observation(next_state[a], self.spec.observations[a]) for a in ids]
        next_actions = [self.target_action(a, o) for a, o in zip(ids, next_obs, strict=True)]
        next_in = self.critic_layout.joint_input(next_obs, next_actions)
        # Clipped double-Q: the smaller of each agent's target critics (one critic for MADDPG).
        q_next = self.critic_layout.q_values(self.critic_target, next_in).amin(0)
        rewards = torch.stack([reward[a].reshape(-1) for a in ids])
        terminated = torch.stack([done[a].reshape(-1) for a in ids])
        return rewards + self.gamma * (1.0 - terminated) * q_next

    def target_action(self, agent: str, next_obs: Tensor) -> Tensor:
        """Target actor's action for preprocessed ``next_obs``: one-hot argmax (discrete) or the
        scaled action plus clipped smoothing noise, clipped to the bounds (continuous)."""
        out = self.actor_targets[agent](next_obs)
        act_spec = self.spec.actions[agent]
        if act_spec.discrete:
            return F.one_hot(out.argmax(-1), act_spec.n).to(out.dtype)
        scale = self._scales[agent]
        action = scale(out)
        if self.target_smoothing and self.target_noise > 0:
            noise = torch.randn(out.shape, generator=self.torch_rng, device=out.device)
            clip = self.target_noise_clip
            noise = (noise * self.target_noise).clamp_(-clip, clip)
            action = torch.addcmul(action, noise, scale.half).clamp_(scale.low, scale.high)
        return action

    def _actor_step(self, obs: list[Tensor], critic_in: Tensor) -> Tensor:
        """Maximise each agent's Q1 with its own action from its actor, others' from the batch."""
        n_agents = len(self.agent_ids)
        joint = critic_in.unsqueeze(0).repeat(n_agents, 1, 1)  # row i: agent i's critic input
        squares: list[Tensor] = []  # mean squared pre-tanh action of each continuous actor
        for i, agent in enumerate(self.agent_ids):
            actor = self.actors[agent]
            if self.spec.actions[agent].discrete:
                own = gumbel_softmax_straight_through(actor(obs[i]), self.torch_rng)
            else:
                pre = actor(obs[i], pre_activation=True)
                if self.pre_tanh_penalty > 0:
                    squares.append(pre.square().mean())
                own = self._scales[agent](get_activation(actor.output_activation)(pre))
            joint[i, :, self._action_slices[i]] = own
        q1 = self.critic_layout.first_q(self.critic, joint)  # (n_agents, B, 1)
        actor_losses = -q1.mean(dim=(1, 2))
        loss = actor_losses.sum()
        if squares:  # keeps actions out of tanh's flat ends, where Q's gradient vanishes
            loss = loss + self.pre_tanh_penalty * sum(squares)
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self._actor_params)  # no critic gradients computed
        self.actor_optimizer.step()
        return actor_losses.detach()

    # --------------------------------------------------------------------------- evaluation
    def test(self, env: Any, max_steps: int = 25, loop: int = 3) -> float:
        """Mean over ``loop`` greedy episodes of the return summed over agents.

        The AgileRL-style convenience over :func:`~marlpipe.algos.episodes.run_episodes`: like
        AgileRL's ``test``, it also appends the score to ``fitness`` and keeps the per-agent
        means in ``last_test_returns``. A vec env is reset here, so give it one kept for tests.
        """
        returns = run_episodes(self, env, loop, max_steps)
        self.last_test_returns = dict(zip(self.agent_ids, returns.mean(0).tolist(), strict=True))
        score = float(returns.sum(1).mean())
        self.fitness.append(score)
        return score

    # ---------------------------------------------------------------------------- evolution
    def hyperparameters(self) -> dict[str, Any]:
        """Current values of the (mutable) hyperparameters, by their ``InitHP`` names."""
        return {name: getattr(self, name) for name in self.HYPERPARAMETERS}

    def reseed(self, seed: int | None) -> None:
        """Restart the random streams from ``seed``: numpy for acting noise, torch for
        initialisation, target smoothing and Gumbel noise."""
        seed_seq = np.random.SeedSequence(seed)
        self.np_rng = np.random.default_rng(seed_seq.spawn(1)[0])
        self.torch_rng = torch.Generator(device=self.device)
        self.torch_rng.manual_seed(int(seed_seq.generate_state(1, np.uint64)[0] >> 1))

    def mutate_architecture(self, method: str, rng: np.random.Generator, **kwargs: Any) -> dict:
        """Apply one architecture mutation to every actor, the critics and all targets alike."""
        return mutate_architecture(self, method, rng, **kwargs)


def _adam(params: list[nn.Parameter], lr: float) -> torch.optim.Adam:
    """Fused Adam (one kernel for all tensors; ~10% faster learn() on CPU), foreach as fallback."""
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, ValueError):  # a dtype/device without a fused kernel
        return torch.optim.Adam(params, lr=lr, foreach=True)
