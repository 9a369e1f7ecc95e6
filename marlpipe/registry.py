"""The algorithms and activation names the package knows, with their capabilities, and the env
families by name (torch-free).

One entry per algorithm, BenchMARL-style: what it can do (action kinds, critics, policy delay,
target smoothing) and which ``init_hp`` hyperparameters it uses. Population creation, checkpoint
loading, ``params.yaml`` validation and the agents' own class attributes all read this table, so
each capability fact lives here only. The agent classes are imported lazily (by
:func:`algorithm_class`): importing this module never imports torch.

A task's family is read from its name here only (:func:`env_family`), with the one rule between
names and backends (:func:`env_backends`): ``params.yaml`` validation and the env factory
(:class:`marlpipe.envs.env_factory.EnvFactory`) both ask these.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

ACTIVATIONS: tuple[str, ...] = (
    "ReLU", "ELU", "GELU", "Tanh", "LeakyReLU", "Sigmoid", "Softplus", "Identity",
)  # fmt: skip
"""Hidden activation names; the networks map exactly these to functions (``networks.py``)."""

_SHARED = ("batch_size", "lr_actor", "lr_critic", "gamma", "tau", "learn_step")

LATER_HYPERPARAMETERS = {"pre_tanh_penalty": 0.0}
"""Hyperparameters newer than some saved checkpoints, each with the value a checkpoint without it
trained with (what loading one fills in)."""


@dataclass(frozen=True)
class AlgorithmInfo:
    """What one algorithm is, where its class lives, and what it supports."""

    name: str
    """Registered name, as ``params.yaml``'s ``algorithm`` and checkpoints spell it."""
    target: str
    """Where the agent class lives, as ``"module:Class"`` (imported on first use)."""
    n_critics: int
    """Centralised critics per agent: 2 for clipped double-Q learning, else 1."""
    policy_delay: bool
    """Actors and targets are updated every ``policy_freq`` learn calls (TD3), else every call."""
    target_smoothing: bool
    """Clipped noise is added to continuous target actions (TD3 target policy smoothing)."""
    hyperparameters: tuple[str, ...]
    """The ``init_hp`` names this algorithm uses, in the order its checkpoints store them."""
    discrete: bool = True
    """Supports discrete action spaces (Gumbel-softmax actor updates)."""
    continuous: bool = True
    """Supports continuous (Box) action spaces."""
    centralised_critic: bool = True
    """Each critic sees every agent's observation and action."""

    @property
    def twin_critics(self) -> bool:
        """Two critics per agent (clipped double-Q)."""
        return self.n_critics == 2


ALGORITHMS: dict[str, AlgorithmInfo] = {
    info.name: info
    for info in (
        AlgorithmInfo(
            name="MATD3",
            target="marlpipe.algos.matd3:MATD3",
            n_critics=2,
            policy_delay=True,
            target_smoothing=True,
            hyperparameters=(
                *_SHARED,
                "policy_freq",
                "expl_noise",
                "target_noise",
                "target_noise_clip",
                "pre_tanh_penalty",
            ),
        ),
        AlgorithmInfo(
            name="MADDPG",
            target="marlpipe.algos.maddpg:MADDPG",
            n_critics=1,
            policy_delay=False,
            target_smoothing=False,
            hyperparameters=(*_SHARED, "expl_noise", "pre_tanh_penalty"),
        ),
    )
}
"""Every algorithm by name, in the order the docs and error messages list them."""


def algorithm_info(name: str) -> AlgorithmInfo:
    """The :class:`AlgorithmInfo` registered under ``name`` (any case), or a ValueError."""
    by_lower = {key.lower(): info for key, info in ALGORITHMS.items()}
    info = by_lower.get(str(name).lower())
    if info is None:
        raise ValueError(f"algo must be one of {list(ALGORITHMS)}, got {name!r}")
    return info


def algorithm_class(name: str) -> type:
    """The agent class registered under ``name`` (any case), imported on first use."""
    module, _, attribute = algorithm_info(name).target.partition(":")
    return getattr(import_module(module), attribute)


# ---------------------------------------------------------------------------------- env families
VMAS_PREFIX = "vmas."
"""An env name that starts with it names a VMAS scenario: ``vmas.simple_spread``."""
MPE2_PREFIX = "mpe2."
"""An env name whose module starts with it names an env of the mpe2 package."""
BACKENDS: tuple[str, ...] = ("sync", "async")
"""``env.backend`` values: copies stepped in this process, or in worker subprocesses."""
SYNC_ONLY = "one batched simulator steps every copy in this process"
"""Why a VMAS task takes the ``sync`` backend only (the rule of :func:`env_backends`)."""


def env_family(name: object) -> str:
    """``"vmas"`` (``vmas.<scenario>``), ``"mpe2"`` (``mpe2.<module>[:factory]``) or
    ``"pettingzoo"`` (any other ``package.module[:factory]``)."""
    if isinstance(name, str) and name.startswith(VMAS_PREFIX):
        return "vmas"
    if isinstance(name, str) and name.partition(":")[0].startswith(MPE2_PREFIX):
        return "mpe2"
    return "pettingzoo"


def env_backends(name: object) -> tuple[str, ...]:
    """The backends that can step env ``name``: a VMAS task only ``sync`` (:data:`SYNC_ONLY`:
    there are no copies to spread over worker processes), any other every one of
    :data:`BACKENDS`."""
    return ("sync",) if env_family(name) == "vmas" else BACKENDS


__all__ = [
    "ACTIVATIONS",
    "ALGORITHMS",
    "BACKENDS",
    "MPE2_PREFIX",
    "SYNC_ONLY",
    "VMAS_PREFIX",
    "AlgorithmInfo",
    "algorithm_class",
    "algorithm_info",
    "env_backends",
    "env_family",
]
