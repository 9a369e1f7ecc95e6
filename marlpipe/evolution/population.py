"""Population creation: distinct indices, per-member seeds, fitness history and lineage."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

import numpy as np

from marlpipe.envs.spec import EnvSpec

ALGORITHMS: dict[str, str] = {
    "MATD3": "marlpipe.algos.matd3",
    "MADDPG": "marlpipe.algos.maddpg",
}

# Keys an AgileRL-style INIT_HP carries that configure the run, not one agent: accepted, ignored.
RUN_LEVEL_KEYS = frozenset(
    {"algo", "population_size", "memory_size", "channels_last", "n_agents", "agent_ids"}
)


def algorithm_class(algo: str) -> type:
    """The agent class registered under ``algo`` ("MATD3" or "MADDPG", any case)."""
    name = str(algo).upper()
    if name not in ALGORITHMS:
        raise ValueError(f"algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    return getattr(import_module(ALGORITHMS[name]), name)


def member_seeds(seed: int | None, population_size: int) -> list[int]:
    """Independent 32-bit seeds for ``population_size`` members, all derived from ``seed``."""
    children = np.random.SeedSequence(seed).spawn(population_size)
    return [int(child.generate_state(1)[0]) for child in children]


def agent_kwargs(cls: type, init_hp: Mapping[str, Any] | None) -> dict[str, Any]:
    """Map ``init_hp`` (snake_case, or AgileRL's UPPER_CASE) onto ``cls``'s keyword arguments.

    Run-level keys (population size, memory size, ...) are ignored; any other key the algorithm
    does not take is an error that names it, so a typo never silently falls back to a default.
    """
    accepted = set(inspect.signature(cls).parameters) - {"spec", "net_config", "seed", "index"}
    kwargs, unknown = {}, []
    for key, value in (init_hp or {}).items():
        name = key.lower()
        if name in accepted:
            kwargs[name] = value
        elif name not in RUN_LEVEL_KEYS:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"init_hp: unknown keys {sorted(unknown)} for {cls.__name__}; "
            f"expected some of {sorted(accepted)}"
        )
    return kwargs


def create_population(
    algo: str,
    env_spec: EnvSpec,
    net_config: Mapping[str, Any] | None,
    init_hp: Mapping[str, Any] | None,
    population_size: int,
    seed: int | None,
    device: str = "cpu",
) -> list[Any]:
    """Build ``population_size`` agents of ``algo`` with indices ``0..n-1``.

    Each member gets its own seed derived from ``seed`` (``np.random.SeedSequence.spawn``), an
    empty fitness history, ``steps == 0``, ``learn_credit == 0`` (transitions not yet turned into
    a ``learn()`` call, see :func:`marlpipe.training.rollout.collect`) and the lineage
    ``{"parent": None, "generation": 0, "mutations": []}``.
    """
    if int(population_size) < 1:
        raise ValueError(f"population_size must be at least 1, got {population_size}")
    cls = algorithm_class(algo)
    kwargs = agent_kwargs(cls, init_hp)
    kwargs.pop("device", None)
    population = []
    for index, member_seed in enumerate(member_seeds(seed, int(population_size))):
        agent = cls(
            env_spec,
            dict(net_config) if net_config is not None else None,
            device=device,
            seed=member_seed,
            index=index,
            **kwargs,
        )
        agent.fitness = []
        agent.steps = 0
        agent.learn_credit = 0
        agent.lineage = {"parent": None, "generation": 0, "mutations": []}
        population.append(agent)
    return population


def recent_fitness(agent: Any, last: int) -> float:
    """Mean of the agent's last ``last`` evaluations (``-inf`` when it has none yet)."""
    history = list(agent.fitness)[-int(last) :] if last > 0 else []
    return float(np.mean(history)) if history else float("-inf")


def population_fitness(population: Sequence[Any], last: int) -> list[float]:
    """:func:`recent_fitness` of every member, in population order."""
    return [recent_fitness(agent, last) for agent in population]


__all__ = [
    "ALGORITHMS",
    "agent_kwargs",
    "algorithm_class",
    "create_population",
    "member_seeds",
    "population_fitness",
    "recent_fitness",
]
