"""The vector-env contract that :class:`~marlpipe.envs.vector.SyncVecEnv`,
:class:`~marlpipe.envs.async_vector.AsyncVecEnv` and :class:`~marlpipe.envs.vmas_env.VmasVecEnv`
share, as a runtime-checkable :class:`typing.Protocol` (training, evolution and the stages are
typed against it, never against one backend)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from marlpipe.envs.spec import EnvSpec


@runtime_checkable
class VecEnv(Protocol):
    """``num_envs`` copies of one multi-agent env stepped together, each agent's values batched
    along a leading axis of ``num_envs`` rows (see :class:`~marlpipe.envs.vector.SyncVecEnv`)."""

    num_envs: int
    spec: EnvSpec
    agent_ids: Any  # the spec's agent ids (list or tuple)

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset every copy (``seed``: derive each copy's seed from it); ``(obs, infos)``."""
        ...

    def step_async(self, actions: dict[str, np.ndarray], copies: slice | None = None) -> None:
        """Start stepping ``copies`` (default: all)."""
        ...

    def step_wait(self) -> tuple[Any, ...]:
        """``(obs, rewards, terminations, truncations, infos)`` of the oldest pending step."""
        ...

    def step(self, actions: dict[str, np.ndarray]) -> tuple[Any, ...]:
        """``step_async`` of every copy, then ``step_wait``."""
        ...

    def close(self) -> None:
        """Release the copies (processes, simulators)."""
        ...


__all__ = ["VecEnv"]
