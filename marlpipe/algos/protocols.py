"""What training, evolution and the stages use of an agent, as a runtime-checkable
:class:`typing.Protocol`: :class:`~marlpipe.algos.matd3.MATD3` (and MADDPG, its subclass)
satisfy it; the layers above are typed against it, never against one class."""

from __future__ import annotations

import os
from typing import Any, Protocol, runtime_checkable

import numpy as np

from marlpipe.envs.spec import EnvSpec


@runtime_checkable
class Agent(Protocol):
    """One population member: its env spec, acting, learning, evolution state and files."""

    spec: EnvSpec
    agent_ids: tuple[str, ...]
    net_owners: tuple[str, ...]
    """The agents that own networks (every agent, or one per shared group)."""
    net_config: dict[str, Any]
    index: int
    """Population slot."""
    fitness: list[float]
    """Scores of every ``test()``, oldest first."""
    steps: int
    """Env transitions collected (kept by the training loop)."""
    learn_credit: int
    """Transitions not yet turned into a ``learn()`` call (kept by the training loop)."""
    lineage: dict[str, Any]
    """Evolution history (parent, generation, mutations, elite)."""
    batch_size: int
    learn_step: int
    np_rng: np.random.Generator

    def get_action(
        self,
        obs: dict[str, np.ndarray],
        epsilon: float = 0.0,
        agent_mask: dict[str, Any] | None = None,
        env_defined_actions: dict[str, Any] | None = None,
        training: bool = True,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """``(actions_to_store, actions_for_env)`` for raw observations."""
        ...

    def learn(self, experiences: tuple[dict[str, Any], ...]) -> Any:
        """One update from a sampled batch (``buffer.sample()``)."""
        ...

    def test(self, env: Any, max_steps: int = 25, loop: int = 3) -> float:
        """Mean return over ``loop`` episodes; appended to ``fitness``."""
        ...

    def hyperparameters(self) -> dict[str, Any]:
        """The current values of the hyperparameters evolution may change."""
        ...

    def reseed(self, seed: int | None) -> None:
        """New own random streams from ``seed``."""
        ...

    def reinit_optimizers(self) -> None:
        """Rebuild the optimisers (after a learning-rate change)."""
        ...

    def mutate_architecture(self, method: str, rng: np.random.Generator, **kwargs: Any) -> dict:
        """Apply an architecture or activation change to every network; what changed."""
        ...

    def clone(self, index: int | None = None) -> Any:
        """An independent copy (at ``index`` if given)."""
        ...

    def metadata(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild the agent, besides the state dicts."""
        ...

    def state_dicts(self) -> dict[str, dict[str, Any]]:
        """Every network's and optimiser's state dict."""
        ...

    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write a checkpoint file (atomically)."""
        ...


__all__ = ["Agent"]
