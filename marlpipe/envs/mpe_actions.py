"""Batched action decoding for :class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv`: what mpe2's
``SimpleEnv._set_action`` makes of each agent's action (its force ``u`` and utterance ``c``),
for every copy at once with numpy, bit for bit as mpe2 computes it per agent.

mpe2's own ``_execute_world_step`` still runs for every copy (it splits the actions, steps the
world, computes the rewards); only its call to ``_set_action`` is answered by
:class:`DecodedActions`, which hands each agent its row of the decoded batch. An agent's force:
continuous actions ``(0 + (a[2] - a[1]), 0 + (a[4] - a[3])) * sensitivity`` (the difference in
the action's dtype, the rest in float64, as mpe2's in-place adds do), discrete ones the move's
unit vector times the sensitivity; its utterance: the action's last ``dim_c`` values
(continuous, a view as mpe2 takes it) or a one-hot float64 row (discrete).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MOVES = np.array([[0.0, 0.0], [-1.0, 0.0], [1.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
"""The force direction of each discrete move (no-op, left, right, down, up), as mpe2 sets it."""


def decodable(raw: Any) -> bool:
    """Whether this module decodes the actions of the mpe2 ``SimpleEnv`` ``raw``: its class keeps
    mpe2's ``_set_action`` and its world is the 2-D one that method is written for."""
    from mpe2._mpe_utils.simple_env import SimpleEnv

    return type(raw)._set_action is SimpleEnv._set_action and raw.world.dim_p == 2


def decode(raw: Any, columns: list[np.ndarray]) -> list[tuple[np.ndarray, list]]:
    """Each agent's ``(u, c)`` for every copy: ``u`` a float64 ``(n, 2)`` array, ``c`` a list of
    ``n`` utterances. ``columns[k]`` holds agent k's actions of the ``n`` copies (continuous:
    ``(n, dim)`` rows mpe2 accepts as they are; discrete: ``(n,)`` integer indices)."""
    world, continuous = raw.world, raw.continuous_actions
    out = []
    for agent, actions in zip(world.agents, columns, strict=True):
        n = len(actions)
        u = np.zeros((n, world.dim_p))
        if agent.movable:
            if continuous:
                u[:, 0] += actions[:, 2] - actions[:, 1]
                u[:, 1] += actions[:, 4] - actions[:, 3]
            else:
                u[:] = _MOVES[actions % 5]
            u *= 5.0 if agent.accel is None else agent.accel
        if agent.silent:
            c = [np.zeros(world.dim_c) for _ in range(n)]
        elif continuous:
            c = list(actions[:, 5:] if agent.movable else actions)
        else:
            index = actions // 5 if agent.movable else actions
            c = list(np.eye(world.dim_c)[index])
        out.append((u, c))
    return out


class DecodedActions:
    """Stands in for one copy's ``SimpleEnv._set_action`` (set as the instance's attribute):
    gives each agent its decoded force and utterance of the current step (:attr:`rows`), or,
    while :attr:`rows` is ``None``, runs mpe2's own method."""

    def __init__(self, raw: Any):
        self.raw = raw
        self.index = {agent.name: k for k, agent in enumerate(raw.world.agents)}
        self.rows: list[tuple[np.ndarray, Any]] | None = None

    def __call__(self, action: Any, agent: Any, action_space: Any, time: Any = None) -> None:
        if self.rows is None:
            type(self.raw)._set_action(self.raw, action, agent, action_space, time)
            return
        agent.action.u, agent.action.c = self.rows[self.index[agent.name]]
