"""Population creation: distinct indices, per-member seeds, fitness history and lineage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.algos.hyperparameters import as_init_hp
from marlpipe.config.params import InitHP, NetConfig
from marlpipe.envs.spec import EnvSpec
from marlpipe.registry import algorithm_class
from marlpipe.seeding import spawn_seeds

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent


def create_population(
    algo: str,
    env_spec: EnvSpec,
    net_config: NetConfig | Mapping[str, Any] | None,
    init_hp: InitHP | Mapping[str, Any] | None,
    population_size: int,
    seed: int | None,
    device: str = "cpu",
) -> list[Any]:
    """Build ``population_size`` agents of ``algo`` (a :data:`marlpipe.registry.ALGORITHMS`
    name, any case) with indices ``0..n-1``.

    ``net_config`` and ``init_hp`` are the config dataclasses; for the AgileRL-style API they
    may also be plain mappings (``init_hp`` with snake_case or UPPER_CASE keys, see
    :func:`marlpipe.algos.hyperparameters.as_init_hp`). Each member gets its own seed derived
    from ``seed`` (``np.random.SeedSequence.spawn``), an empty fitness history, ``steps == 0``,
    ``learn_credit == 0`` (transitions not yet turned into a ``learn()`` call, see
    :func:`marlpipe.training.rollout.collect`) and the lineage
    ``{"parent": None, "generation": 0, "mutations": []}``.
    """
    if int(population_size) < 1:
        raise ValueError(f"population_size must be at least 1, got {population_size}")
    cls, hp = algorithm_class(algo), as_init_hp(init_hp)
    population = []
    for index, member_seed in enumerate(spawn_seeds(seed, int(population_size))):
        agent = cls(env_spec, net_config, hp, device=device, seed=member_seed, index=index)
        agent.fitness = []
        agent.steps = 0
        agent.learn_credit = 0
        agent.lineage = {"parent": None, "generation": 0, "mutations": []}
        population.append(agent)
    return population


def recent_fitness(agent: Agent, last: int) -> float:
    """Mean of the agent's last ``last`` evaluations (``-inf`` when it has none yet)."""
    history = list(agent.fitness)[-int(last) :] if last > 0 else []
    return float(np.mean(history)) if history else float("-inf")


def population_fitness(population: Sequence[Agent], last: int) -> list[float]:
    """:func:`recent_fitness` of every member, in population order."""
    return [recent_fitness(agent, last) for agent in population]


__all__ = [
    "create_population",
    "population_fitness",
    "recent_fitness",
]
