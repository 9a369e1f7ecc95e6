"""Evolutionary hyperparameter optimisation: population, tournament selection, mutations."""

from marlpipe.evolution.mutations import Mutations
from marlpipe.evolution.population import (
    algorithm_class,
    create_population,
    population_fitness,
    recent_fitness,
)
from marlpipe.evolution.tournament import TournamentSelection, make_offspring

__all__ = [
    "Mutations",
    "TournamentSelection",
    "algorithm_class",
    "create_population",
    "make_offspring",
    "population_fitness",
    "recent_fitness",
]
