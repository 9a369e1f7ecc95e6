"""Stage ``init_population``: generation 0 of the population, one checkpoint per member."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from marlpipe.config import Params
from marlpipe.pipeline import envspec
from marlpipe.pipeline.paths import Paths, set_torch_threads
from marlpipe.seeding import derive_seed

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent



def create(params: Params, root: str | Path = ".") -> list[Agent]:
    """Build the generation-0 population from ``params`` and ``models/envspec.json``."""
    from marlpipe.evolution import create_population

    return create_population(
        params.algorithm,
        envspec.load_for(params, root),
        params.net_config,
        params.init_hp,
        params.population.size,
        seed=derive_seed(params.seed, "population"),
        device=params.population.device,
    )


def run(params: Params, root: str | Path = ".") -> list[Agent]:
    """Write ``models/initial_population/`` and return the population."""
    from marlpipe.algos.checkpoint import save_population
    from marlpipe.pipeline.preflight import check_device

    check_device(params.population.device)  # before any work: a one-line error, not torch's
    set_torch_threads(params.population.torch_threads)
    population = create(params, root)
    save_population(population, Paths(Path(root)).initial_population)
    return population
