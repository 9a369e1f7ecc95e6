"""EnvSpec: what the networks need to know about each agent's observation and action spaces."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from gymnasium import spaces

from marlpipe.errors import MarlpipeError


class UnsupportedSpaceError(MarlpipeError, ValueError):
    """An agent's observation or action space is of a kind marlpipe cannot learn from."""


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

    @property
    def critic_input_dim(self) -> int:
        """Size of the centralised critic's input: all observations and all actions, flattened."""
        return sum(self.observations[a].flat_dim + self.actions[a].dim for a in self.agent_ids)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_ids": list(self.agent_ids),
            "observations": {a: asdict(self.observations[a]) for a in self.agent_ids},
            "actions": {a: asdict(self.actions[a]) for a in self.agent_ids},
            "env_name": self.env_name,
            "env_kwargs": self.env_kwargs,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnvSpec:
        try:
            agent_ids = tuple(data["agent_ids"])
            observations = {a: _tuples(ObservationSpec, data["observations"][a]) for a in agent_ids}
            actions = {a: _tuples(ActionSpec, data["actions"][a]) for a in agent_ids}
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a valid EnvSpec: missing or malformed field {err}") from None
        return cls(
            agent_ids, observations, actions, data.get("env_name"), data.get("env_kwargs") or {}
        )

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
