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

Before that, :func:`checked_actions` does for the whole batch what PettingZoo's bounds wrappers
do row by row (clipping, or refusing, only the rows out of bounds).
"""

from __future__ import annotations

import functools
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
    n = len(columns[0])
    forces = _continuous_forces(world.agents, columns, n) if continuous else {}
    out = []
    for k, (agent, actions) in enumerate(zip(world.agents, columns, strict=True)):
        u = forces.get(k)
        if u is None:
            u = np.zeros((n, world.dim_p))
            if agent.movable:
                if continuous:  # columns (2, 4) less (1, 3), in the actions' dtype
                    u += actions[:, 2:5:2] - actions[:, 1:4:2]
                else:
                    u[:] = _MOVES[actions % 5]
                u *= 5.0 if agent.accel is None else agent.accel
        if agent.silent:
            c = [np.zeros(world.dim_c) for _ in range(n)]
        elif continuous:
            said = actions[:, 5:] if agent.movable else actions
            c = [said[i] for i in range(n)]
        else:
            index = actions // 5 if agent.movable else actions
            c = list(np.eye(world.dim_c)[index])
        out.append((u, c))
    return out


def _continuous_forces(agents: list, columns: list[np.ndarray], n: int) -> dict[int, np.ndarray]:
    """The forces of the movable agents (by index) in one pass over all of them, when there
    are several and their actions share dtype and width (else ``{}``): the same elementwise
    operations as :func:`decode`'s per agent, each agent's sensitivity on its own rows."""
    movers = [k for k, agent in enumerate(agents) if agent.movable]
    if len(movers) < 2:
        return {}
    first = columns[movers[0]]
    if any(columns[k].dtype != first.dtype or columns[k].shape != first.shape for k in movers):
        return {}
    stacked = np.concatenate([columns[k] for k in movers])
    u = np.zeros((len(stacked), 2))
    u += stacked[:, 2:5:2] - stacked[:, 1:4:2]
    sensitivity = [5.0 if agents[k].accel is None else agents[k].accel for k in movers]
    if all(s == sensitivity[0] for s in sensitivity):
        u *= sensitivity[0]
    else:
        u *= np.repeat(np.array(sensitivity, np.float64), n)[:, None]
    return {k: u[j * n : (j + 1) * n] for j, k in enumerate(movers)}


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


_SMALL = 32
"""Action entries up to which a batch's bounds are checked in Python (one ``tolist``) rather
than with two numpy reductions, whose fixed cost is higher on a few values."""


def checked_actions(actions: dict[str, Any], checks: list[tuple], continuous: bool, n: int):
    """Each agent's actions of the ``n`` copies as the bounds wrapper passes them on
    (continuous rows as given, clipped with PettingZoo's warning where out of the Box;
    discrete ones as ints), and the whole batches when every row is as given (else
    ``None``: mpe2 then decodes them itself). ``checks`` holds ``(agent, space, bounds,
    space.shape)`` per agent, ``bounds`` from :func:`scalar_bounds`."""
    if continuous:
        batches = _small_batches_inside(actions, checks, n)
        if batches is not None:  # the common case, checked in one pass
            return [[batch[i] for i in range(n)] for batch in batches], batches
    columns, batches = [], []
    for agent, space, bounds, shape in checks:
        batch = actions[agent]
        if continuous:
            if _all_inside(batch, space, bounds, shape, n):
                batch = batch[:n]
                columns.append([batch[i] for i in range(n)])  # rows: faster than list(batch)
            else:
                columns.append([_clipped(row, space) for row in batch[:n]])
                batch = None
        else:
            batch = np.asarray(batch)[:n]
            rows = [int(a) for a in batch.tolist()]
            low = int(space.start)  # AssertOutOfBoundsWrapper's check, for the batch
            if rows and not (low <= min(rows) and max(rows) < low + int(space.n)):
                raise AssertionError("action is not in action space")
            columns.append(rows)
            batch = np.array(rows, np.int64)
        batches.append(batch)
    return columns, (None if any(b is None for b in batches) else batches)


def _small_batches_inside(actions: dict[str, Any], checks: list[tuple], n: int) -> list | None:
    """Every agent's ``batch[:n]`` when all are small, share the same scalar bounds and pass
    :func:`_all_inside` (checked together, on one list of their values), else ``None``."""
    first, batches, values = checks[0][2], [], []
    for agent, space, bounds, shape in checks:
        batch = actions[agent]
        if bounds != first or bounds is None or not isinstance(batch, np.ndarray):
            return None
        if batch.shape[1:] != shape or not _can_cast(batch.dtype, space.dtype):
            return None
        rows = batch[:n]
        if rows.size > _SMALL:
            return None
        batches.append(rows)
        values += rows.ravel().tolist()  # each value exactly, as a Python number
    total = sum(values)  # a NaN may hide from min and max, never from the sum
    if not values or total != total or not (first[0] <= min(values) and max(values) <= first[1]):
        return None
    return batches


def scalar_bounds(space: Any) -> tuple[float, float] | None:
    """``(low, high)`` of a Box whose bounds are the same for every entry (mpe2's are 0 and 1),
    else ``None``."""
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    if low is None or low.size == 0:
        return None
    if not (np.all(low == low.flat[0]) and np.all(high == high.flat[0])):
        return None
    return float(low.flat[0]), float(high.flat[0])


def _all_inside(batch: Any, space: Any, bounds: tuple | None, shape: tuple, n: int) -> bool:
    """Whether every row of ``batch[:n]`` is one the Box ``space`` contains (what
    ``ClipOutOfBoundsWrapper`` checks per row): a castable dtype, its ``shape``, within bounds."""
    if not isinstance(batch, np.ndarray) or batch.shape[1:] != shape:
        return False
    if not _can_cast(batch.dtype, space.dtype):
        return False
    rows = batch[:n]
    if bounds is None:
        return bool(np.all(rows >= space.low) and np.all(rows <= space.high))
    low, high = bounds
    if rows.size <= _SMALL:  # each value exactly, as a Python number
        values = rows.ravel().tolist()
        # a NaN may hide from min and max, never from the sum (NaN fails every comparison)
        total = sum(values)
        if total == total:
            return low <= min(values) and max(values) <= high
    return bool(rows.min() >= low and rows.max() <= high)  # NaN: both False


@functools.lru_cache(maxsize=64)
def _can_cast(source: np.dtype, target: np.dtype) -> bool:
    return bool(np.can_cast(source, target))


def _clipped(row: Any, space: Any) -> Any:
    """One action row as ``ClipOutOfBoundsWrapper`` passes it on (its own check and clip)."""
    from pettingzoo.utils.env_logger import EnvLogger

    if space.contains(row):
        return row
    if np.isnan(row).any():
        EnvLogger.error_nan_action()
    if space.shape != np.shape(row):
        raise AssertionError(f"action should have shape {space.shape}, has shape {row.shape}")
    EnvLogger.warn_action_out_of_bound(
        action=row, action_space=space, backup_policy="clipping to space"
    )
    return np.clip(row, space.low, space.high)
