"""The stacked centralised critics: every critic of every agent in one ensemble network.

Member ``k * n_agents + i`` of the ensemble is agent ``i``'s ``k``-th critic, so one batched
matmul per layer evaluates all of them, and the first ``n_agents`` members are the agents' first
critics (Q1, the one the actors maximise). :class:`CriticLayout` is the only code that knows
this order.

With shared networks (``net_config.share_homogeneous``) a group of agents has one critic (one
pair for MATD3): :class:`SharedCriticLayout` has ``k * n_units + u`` as unit ``u``'s ``k``-th
critic, a unit being a group or an agent of no group. The critic stays centralised (every
observation and action goes in), but each agent of a group is valued on its own view of the
joint input: its group's blocks rotated so that its own observation and action come first, so
one function serves every member. :func:`critic_layout` picks the layout.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        return leading_members(critic, joints)


def leading_members(critic: EvolvableMLP, x: Tensor) -> Tensor:
    """The ensemble's first ``len(x)`` members, member ``m`` on ``x[m]`` ``(count, B, in)``."""
    count = len(x)
    if count == critic.ensemble_size:
        return critic(x)
    # The ensemble's documented layout (``weights.i`` is ``(E, in, out)``): slicing the
    # leading members keeps it one batched matmul per layer.
    act, out_act = get_activation(critic.activation), get_activation(critic.output_activation)
    last = len(critic.weights) - 1
    for i, (w, b) in enumerate(zip(critic.weights, critic.biases, strict=True)):
        x = torch.baddbmm(b[:count], x, w[:count])
        x = out_act(x) if i == last else act(x)
    return x


@dataclass(frozen=True)
class SharedCriticLayout:
    """Where each unit's critics sit, and each agent's view of the joint input (see the module
    docstring); the same methods as :class:`CriticLayout`."""

    n_critics: int
    """Critics per unit (2 for clipped double-Q)."""
    units: tuple[tuple[int, ...], ...]
    """Agent positions (``agent_ids`` order) of each unit, in order of first agent."""
    columns: tuple[tuple[int, ...], ...]
    """Per agent, the joint input's columns in that agent's order (its own blocks first)."""

    @property
    def n_agents(self) -> int:
        return len(self.columns)

    @property
    def ensemble_size(self) -> int:
        """Members of the stacked ensemble."""
        return self.n_critics * len(self.units)

    build = CriticLayout.build
    joint_input = staticmethod(CriticLayout.joint_input)

    def _packed(self, rows: Tensor) -> Tensor:
        """Per-agent rows ``(n_agents, B, in)`` in the agents' own column order -> one batch per
        unit ``(n_units, width * B, in)``; a smaller unit repeats its first agent's rows (values
        never read) up to the largest unit's ``width``."""
        rows = rows.gather(2, self._index(rows, self.columns)[:, None].expand_as(rows))
        width = max(len(unit) for unit in self.units)
        slots = [[*unit, *[unit[0]] * (width - len(unit))] for unit in self.units]
        packed = rows[self._index(rows, slots)]  # (n_units, width, B, in)
        return packed.reshape(len(self.units), width * rows.shape[1], rows.shape[2])

    def _per_agent(self, out: Tensor, batch: int) -> Tensor:
        """``(..., n_units, width * B)`` -> each agent's own values ``(..., n_agents, B)``."""
        width = out.shape[-1] // batch
        out = out.reshape(*out.shape[:-1], width, batch)
        unit_of, slot_of = [0] * self.n_agents, [0] * self.n_agents
        for u, unit in enumerate(self.units):
            for slot, agent in enumerate(unit):
                unit_of[agent], slot_of[agent] = u, slot
        return out[..., self._index(out, unit_of), self._index(out, slot_of), :]

    @staticmethod
    def _index(like: Tensor, values: Any) -> Tensor:
        return torch.as_tensor(values, dtype=torch.long, device=like.device)

    def q_values(self, critic: EvolvableMLP, joint: Tensor) -> Tensor:
        """Every critic, each agent on its own view of ``joint``: ``(n_critics, n_agents, B)``."""
        batch = joint.shape[0]
        packed = self._packed(joint.expand(self.n_agents, *joint.shape))
        out = critic(packed.repeat(self.n_critics, 1, 1))  # (E, width * B, 1)
        return self._per_agent(out.view(self.n_critics, len(self.units), -1), batch)

    def first_q(self, critic: EvolvableMLP, joints: Tensor) -> Tensor:
        """Each agent's unit's first critic on its own row of ``joints`` ``(n_agents, B, in)``,
        seen in its own order: ``(n_agents, B, 1)``."""
        batch = joints.shape[1]
        out = leading_members(critic, self._packed(joints))  # (n_units, width * B, 1)
        return self._per_agent(out.squeeze(-1), batch).unsqueeze(-1)


def critic_layout(
    n_critics: int, spec: EnvSpec, owners: Mapping[str, str]
) -> CriticLayout | SharedCriticLayout:
    """The layout of ``spec``'s critics: one per agent, or one per unit where ``owners`` (agent
    -> the agent whose networks it uses) maps several agents onto one."""
    ids = list(spec.agent_ids)
    members: dict[str, list[int]] = {}
    for pos, agent in enumerate(ids):
        members.setdefault(owners[agent], []).append(pos)
    if len(members) == len(ids):
        return CriticLayout(n_critics, len(ids))
    # Block offsets of the joint input: observations in agent order, then actions.
    obs_dims = [spec.observations[a].flat_dim for a in ids]
    act_dims = [spec.actions[a].dim for a in ids]
    starts = [sum(obs_dims[:i]) for i in range(len(ids))]
    starts += [sum(obs_dims) + sum(act_dims[:i]) for i in range(len(ids))]
    dims = obs_dims + act_dims

    def block(slot: int, agent: int) -> list[int]:
        return list(range(starts[slot * len(ids) + agent], starts[slot * len(ids) + agent]
                          + dims[slot * len(ids) + agent]))  # fmt: skip

    columns = []
    for pos, agent in enumerate(ids):
        unit = members[owners[agent]]
        turn = unit.index(pos)
        order = list(range(len(ids)))  # whose block sits in each place, for this agent
        for t, place in enumerate(unit):
            order[place] = unit[(turn + t) % len(unit)]
        columns.append(tuple(c for slot in (0, 1) for place in order for c in block(slot, place)))
    return SharedCriticLayout(n_critics, tuple(tuple(u) for u in members.values()), tuple(columns))
