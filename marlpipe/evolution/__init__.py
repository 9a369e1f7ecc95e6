"""Evolutionary hyperparameter optimisation: population, selection (tournament or MF-PBT),
mutations."""

from marlpipe.evolution.mf_pbt import MultiFrequencySelection
from marlpipe.evolution.mutations import Mutations
from marlpipe.evolution.population import (
    algorithm_class,
    create_population,
    population_fitness,
    recent_fitness,
)
from marlpipe.evolution.tournament import TournamentSelection, make_offspring

__all__ = [
    "MultiFrequencySelection",
    "Mutations",
    "TournamentSelection",
    "algorithm_class",
    "create_population",
    "make_offspring",
    "population_fitness",
    "recent_fitness",
]
