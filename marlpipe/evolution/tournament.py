"""Tournament selection with optional elitism, from the population's recent fitness."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.config.params import TournamentConfig
from marlpipe.evolution.population import population_fitness

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent


def generator_state(rng: np.random.Generator) -> dict[str, Any]:
    """JSON-able snapshot of a numpy generator (its bit generator's state dict)."""
    return {"bit_generator": rng.bit_generator.state}


def set_generator_state(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`generator_state` into ``rng`` in place."""
    rng.bit_generator.state = state["bit_generator"]


def make_offspring(parent: Agent, index: int, generation: int, elite: bool = False) -> Agent:
    """An independent clone of ``parent`` with a new ``index`` and its lineage linked to it.

    The child inherits the fitness history, the env-step count, the learn-step credit (so the
    transitions its parent collected since its last ``learn()`` still count) and the list of
    mutations its ancestors received (each entry carries its generation), so an elite's record
    tells the story of how its network came to be. The child's random streams are reseeded from
    a draw of the parent's, so two children of one parent explore differently (a plain clone
    would repeat the parent's noise), while the run stays reproducible.
    """
    child = parent.clone(index=index)
    child.index = index
    if hasattr(child, "reseed"):
        child.reseed(int(parent.np_rng.integers(2**63)))
    child.fitness = list(parent.fitness)
    child.steps = int(parent.steps)
    child.lineage = {
        "parent": int(parent.index),
        "generation": int(generation),
        "mutations": [dict(m) for m in parent.lineage.get("mutations", [])],
        "elite": bool(elite),
    }
    return child


class TournamentSelection:
    """Pick the next generation: the elite (when ``config.elitism``) plus tournament winners.

    A member's fitness is the mean of its last ``config.eval_last`` evaluations. Each tournament
    draws ``config.size`` distinct members at random from this selection's own generator
    (seeded by ``seed``) and the fittest wins (ties go to the earlier position). Every member of
    the new population is a fresh clone with a new index, ``lineage["parent"]`` set to the index
    it was cloned from and ``lineage["generation"]`` one past the population's newest generation.
    ``config`` is trusted as validated (``params.yaml``, or
    :func:`marlpipe.training.agilerl_style.tournament_from_keywords`).
    """

    def __init__(self, config: TournamentConfig, population_size: int, seed: int | None = None):
        self.config = config
        self.population_size = int(population_size)
        self.rng = np.random.default_rng(seed)

    def fitness(self, population: Sequence[Agent]) -> list[float]:
        """The fitness selection uses for each member: the mean of its last ``eval_last`` scores."""
        return population_fitness(population, self.config.eval_last)

    def tournament(self, fitness: Sequence[float]) -> int:
        """Position of the winner of one tournament over ``fitness``."""
        size = min(self.config.size, len(fitness))
        contenders = np.sort(self.rng.choice(len(fitness), size=size, replace=False))
        scores = np.asarray(fitness, dtype=np.float64)[contenders]
        return int(contenders[int(np.argmax(scores))])

    def select(self, population: Sequence[Agent]) -> tuple[Any, list[Any]]:
        """Return ``(elite, new_population)``.

        The elite is always an independent clone that nothing later trains or mutates, so it stays
        the policy that was evaluated. With ``elitism`` it is a clone of ``new_population[0]``
        (same index and lineage; that member is flagged ``lineage["elite"]`` so
        :class:`~marlpipe.evolution.mutations.Mutations` can leave it untouched); without it, a
        clone of the fittest member that keeps its index and lineage, for reporting only.
        """
        if not population:
            raise ValueError("cannot select from an empty population")
        fitness = self.fitness(population)
        best = int(np.argmax(fitness))
        next_index = max(int(agent.index) for agent in population) + 1
        generation = max(int(agent.lineage.get("generation", 0)) for agent in population) + 1
        new_population: list[Agent] = []
        if self.config.elitism:
            new_population.append(make_offspring(population[best], next_index, generation, True))
            next_index += 1
        while len(new_population) < self.population_size:
            winner = population[self.tournament(fitness)]
            new_population.append(make_offspring(winner, next_index, generation))
            next_index += 1
        # clone() deep-copies weights, optimiser and RNG states and the evolution fields
        # (index, fitness, steps, lineage, learn credit), so training or mutating the new
        # population later never reaches the returned elite.
        source = new_population[0] if self.config.elitism else population[best]
        return source.clone(index=int(source.index)), new_population

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the generator's) so a resumed run selects exactly as the original."""
        return {"rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        set_generator_state(self.rng, state["rng"])


__all__ = ["TournamentSelection", "generator_state", "make_offspring", "set_generator_state"]
