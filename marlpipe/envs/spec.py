"""EnvSpec: what the networks need to know about each agent's observation and action spaces.

It also names the env's homogeneous groups (:attr:`EnvSpec.groups`): the agents of a team
(:func:`team_of`) whose observation and action specs are all equal, which may share one actor
and one critic (``net_config.share_homogeneous``). A team whose agents differ in their spaces is
no group: its agents keep networks of their own.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from marlpipe.errors import MarlpipeError


class UnsupportedSpaceError(MarlpipeError, ValueError):
    """An agent's observation or action space is of a kind marlpipe cannot learn from."""


def team_of(agent_id: str) -> str:
    """An agent's team: its id without a trailing ``_<number>`` (``adversary_0`` ->
    ``adversary``, ``speaker_0`` -> ``speaker``), as PettingZoo's MPE tasks name agents."""
    return re.sub(r"_\d+$", "", agent_id)


@dataclass(frozen=True)
class ObservationSpec:
    """One agent's observation, as the environment gives it and as the networks see it.

    ``kind`` is ``"vector"`` (1-D Box), ``"discrete"`` (Discrete, one-hot encoded to ``n``
    values) or ``"image"`` (3-D Box, given to networks channels-first).
    """

    kind: Literal["vector", "discrete", "image"]
    shape: tuple[int, ...]
    """Shape of one raw observation from the env (``()`` for Discrete)."""
    n: int | None = None
    """Number of values of a Discrete observation."""
    channels_last: bool = False
    """Image observations arrive as [H, W, C] and are moved to [C, H, W] for the networks."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one observation as the networks consume it."""
        if self.kind == "discrete":
            return (int(self.n),)
        if self.kind == "image" and self.channels_last:
            height, width, channels = self.shape
            return (channels, height, width)
        return self.shape

    @property
    def flat_dim(self) -> int:
        """Number of values in one network input (what a centralised critic concatenates)."""
        return math.prod(self.input_shape)


@dataclass(frozen=True)
class ActionSpec:
    """One agent's action: ``discrete`` with ``n`` choices, or ``continuous`` in a Box."""

    kind: Literal["discrete", "continuous"]
    shape: tuple[int, ...] = ()
    n: int | None = None
    low: tuple[float, ...] | None = None
    high: tuple[float, ...] | None = None

    @property
    def discrete(self) -> bool:
        return self.kind == "discrete"

    @property
    def dim(self) -> int:
        """Length of the action vector stored in the buffer and fed to the critic."""
        return int(self.n) if self.discrete else math.prod(self.shape)


@dataclass(frozen=True)
class EnvSpec:
    """Ordered agent ids, each agent's observation and action spec, and how to rebuild the env."""

    agent_ids: tuple[str, ...]
    observations: dict[str, ObservationSpec]
    actions: dict[str, ActionSpec]
    env_name: str | None = None
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        env,
        channels_last: bool = False,
        env_name: str | None = None,
        env_kwargs: dict[str, Any] | None = None,
    ) -> EnvSpec:
        """Read the spaces of a PettingZoo parallel env (its ``possible_agents``, in order)."""
        agent_ids = tuple(env.possible_agents)
        observations = {
            a: _observation_spec(a, env.observation_space(a), channels_last) for a in agent_ids
        }
        actions = {a: _action_spec(a, env.action_space(a)) for a in agent_ids}
        return cls(agent_ids, observations, actions, env_name, _json_native(env_kwargs or {}))

    @property
    def num_agents(self) -> int:
        return len(self.agent_ids)

    @property
    def discrete_actions(self) -> bool:
        """True when every agent acts with a Discrete space."""
        return all(self.actions[a].discrete for a in self.agent_ids)

    @cached_property
    def groups(self) -> dict[str, tuple[str, ...]]:
        """Homogeneous groups, team -> its agents in env order: every team (:func:`team_of`) of
        two or more agents whose observation and action specs are all equal (``{"agent":
        ("agent_0", "agent_1", "agent_2")}`` on spread). Derived from the agents and their
        spaces; written into :meth:`to_dict` for readers of the spec file."""
        teams: dict[str, list[str]] = {}
        for agent in self.agent_ids:
            teams.setdefault(team_of(agent), []).append(agent)
        return {
            team: tuple(members)
            for team, members in teams.items()
            if len(members) > 1 and self.mixed_team(members) is None
        }

    def mixed_team(self, members: list[str] | tuple[str, ...]) -> str | None:
        """Why ``members`` (one team) cannot share networks: a line naming the first agent
        whose spaces differ from the first member's, or ``None`` when all are equal."""
        first = members[0]
        for agent in members[1:]:
            for what, specs in (("observation", self.observations), ("action", self.actions)):
                if specs[agent] != specs[first]:
                    return (
                        f"team {team_of(first)!r}: {agent} and {first} differ in their "
                        f"{what} spaces, so they keep networks of their own"
                    )
        return None

    @property
    def critic_input_dim(self) -> int:
        """Size of the centralised critic's input: all observations and all actions, flattened."""
        return sum(self.observations[a].flat_dim + self.actions[a].dim for a in self.agent_ids)

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-able data; ``groups`` only when the env has a group, so the spec
        (and every checkpoint that embeds it) of an env without one is what it was before
        groups existed."""
        data: dict[str, Any] = {
            "agent_ids": list(self.agent_ids),
            "observations": {a: asdict(self.observations[a]) for a in self.agent_ids},
            "actions": {a: asdict(self.actions[a]) for a in self.agent_ids},
            "env_name": self.env_name,
            "env_kwargs": self.env_kwargs,
        }
        if self.groups:
            data["groups"] = {team: list(members) for team, members in self.groups.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSpec:
        try:
            agent_ids = tuple(data["agent_ids"])
            observations = {a: _tuples(ObservationSpec, data["observations"][a]) for a in agent_ids}
            actions = {a: _tuples(ActionSpec, data["actions"][a]) for a in agent_ids}
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a valid EnvSpec: missing or malformed field {err}") from None
        spec = cls(
            agent_ids, observations, actions, data.get("env_name"), data.get("env_kwargs") or {}
        )
        # The groups follow from the agents (older files have none); a file that names others
        # was edited by hand or written by another rule.
        written = data.get("groups")
        if written is not None and written != {t: list(m) for t, m in spec.groups.items()}:
            raise ValueError(
                f"not a valid EnvSpec: groups {written} do not follow from the agents; "
                f"expected {dict(spec.groups)}"
            )
        return spec

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> EnvSpec:
        return cls.from_dict(json.loads(text))

    def describe(self) -> str:
        """A short human-readable table of the agents and their spaces."""
        lines = [f"env: {self.env_name or '?'} {self.env_kwargs or ''}".rstrip()]
        for a in self.agent_ids:
            obs, act = self.observations[a], self.actions[a]
            acts = (
                f"discrete({act.n})"
                if act.discrete
                else f"continuous{act.shape} in [{act.low}, {act.high}]"
            )
            lines.append(f"  {a}: obs {obs.kind}{obs.input_shape}  action {acts}")
        for team, members in self.groups.items():
            lines.append(f"  group {team}: {', '.join(members)} (equal spaces: may share networks)")
        return "\n".join(lines)


def _json_native(value: Any) -> Any:
    """``value`` with tuples as lists and numpy values as Python ones, so a spec equals itself
    after a JSON round trip (and numpy scalars can be written at all)."""
    if isinstance(value, dict):
        return {k: _json_native(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_native(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def _tuples(kind, data: dict[str, Any]):
    """Rebuild a spec dataclass from JSON, turning lists back into tuples."""
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def _observation_spec(agent: str, space, channels_last: bool) -> ObservationSpec:
    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:  # the one-hot encoding takes the raw value as the index
            raise UnsupportedSpaceError(
                f"agent {agent!r}: unsupported observation space {space!r}; "
                "Discrete must start at 0"
            )
        return ObservationSpec("discrete", (), n=int(space.n))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        return ObservationSpec("vector", tuple(int(s) for s in space.shape))
    if isinstance(space, spaces.Box) and len(space.shape) == 3:
        return ObservationSpec(
            "image", tuple(int(s) for s in space.shape), channels_last=channels_last
        )
    raise UnsupportedSpaceError(
        f"agent {agent!r}: unsupported observation space {space!r}; "
        "expected Discrete, a 1-D Box (vector) or a 3-D Box (image)"
    )


def _action_spec(agent: str, space) -> ActionSpec:
    if isinstance(space, spaces.Discrete):
        if int(space.start) != 0:
            raise UnsupportedSpaceError(
                f"agent {agent!r}: unsupported action space {space!r}; Discrete must start at 0"
            )
        return ActionSpec("discrete", n=int(space.n))
    if isinstance(space, spaces.Box) and len(space.shape) == 1:
        if not (space.is_bounded("both")):
            raise UnsupportedSpaceError(
                f"agent {agent!r}: unsupported action space {space!r}; a continuous action Box "
                "needs finite low and high bounds"
            )
        return ActionSpec(
            "continuous",
            shape=tuple(int(s) for s in space.shape),
            low=tuple(float(x) for x in space.low),
            high=tuple(float(x) for x in space.high),
        )
    raise UnsupportedSpaceError(
        f"agent {agent!r}: unsupported action space {space!r}; expected Discrete or a 1-D Box"
    )
