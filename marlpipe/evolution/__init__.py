"""Evolutionary hyperparameter optimisation: population, tournament selection, mutations."""

from marlpipe.evolution.mutations import KINDS, Mutations
from marlpipe.evolution.population import (
    algorithm_class,
    create_population,
    member_seeds,
    population_fitness,
    recent_fitness,
)
from marlpipe.evolution.tournament import TournamentSelection, make_offspring

__all__ = [
    "KINDS",
    "Mutations",
    "TournamentSelection",
    "algorithm_class",
    "create_population",
    "make_offspring",
    "member_seeds",
    "population_fitness",
    "recent_fitness",
]
