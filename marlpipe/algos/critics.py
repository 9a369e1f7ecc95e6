"""The stacked centralised critics: every critic of every agent in one ensemble network.

Member ``k * n_agents + i`` of the ensemble is agent ``i``'s ``k``-th critic, so one batched
matmul per layer evaluates all of them, and the first ``n_agents`` members are the agents' first
critics (Q1, the one the actors maximise). :class:`CriticLayout` is the only code that knows
this order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from marlpipe.algos.base import BOUND_KEYS
from marlpipe.algos.evolvable import get_activation
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.envs.spec import EnvSpec


@dataclass(frozen=True)
class CriticLayout:
    """Where each agent's critics sit in the stacked ensemble (see the module docstring)."""

    n_critics: int
    """Critics per agent (2 for clipped double-Q)."""
    n_agents: int
    """Agents of the team."""

    @property
    def ensemble_size(self) -> int:
        """Members of the stacked ensemble."""
        return self.n_critics * self.n_agents

    def build(
        self, spec: EnvSpec, net_config: dict[str, Any], generator: torch.Generator | None
    ) -> EvolvableMLP:
        """The ensemble: each member maps all agents' flattened observations and actions
        (``agent_ids`` order) to one Q value."""
        bounds = {k: net_config[k] for k in BOUND_KEYS if k in net_config}
        return EvolvableMLP(
            spec.critic_input_dim, 1, net_config["critic_hidden_sizes"], net_config["activation"],
            ensemble_size=self.ensemble_size, generator=generator, **bounds,
        )  # fmt: skip

    @staticmethod
    def joint_input(observations: list[Tensor], actions: list[Tensor]) -> Tensor:
        """Critic input ``(B, critic_input_dim)``: flattened observations, then actions."""
        return torch.cat([o.flatten(1) for o in observations] + actions, dim=1)

    def q_values(self, critic: EvolvableMLP, joint: Tensor) -> Tensor:
        """Every critic on one joint input: ``(n_critics, n_agents, B)``."""
        return critic(joint).view(self.n_critics, self.n_agents, -1)

    def first_q(self, critic: EvolvableMLP, joints: Tensor) -> Tensor:
        """Each agent's first critic on its own row of ``joints`` ``(n_agents, B, in)``:
        ``(n_agents, B, 1)``, one batched matmul per layer without touching the other critics."""
        count = self.n_agents
        if count == critic.ensemble_size:
            return critic(joints)
        # The ensemble's documented layout (``weights.i`` is ``(E, in, out)``): slicing the
        # leading members keeps it one batched matmul per layer.
        act, out_act = get_activation(critic.activation), get_activation(critic.output_activation)
        last = len(critic.weights) - 1
        x = joints
        for i, (w, b) in enumerate(zip(critic.weights, critic.biases, strict=True)):
            x = torch.baddbmm(b[:count], x, w[:count])
            x = out_act(x) if i == last else act(x)
        return x
