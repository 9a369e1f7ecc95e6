"""Stage ``init_population``: generation 0 of the population, one checkpoint per member."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from marlpipe.config import Params
from marlpipe.io import read_json, write_json
from marlpipe.pipeline import envspec
from marlpipe.pipeline.paths import INDEX_FILE, Paths, atomic_dir, set_torch_threads
from marlpipe.seeding import derive_seed

# MADDPG has no policy delay or target smoothing, so these init_hp keys do not apply to it.
MATD3_ONLY = ("policy_freq", "target_noise", "target_noise_clip")


def net_config(params: Params) -> dict[str, Any]:
    """The agents' ``net_config`` dict (null entries left to the algorithm's defaults)."""
    return {k: v for k, v in dataclasses.asdict(params.net_config).items() if v is not None}


def init_hp(params: Params) -> dict[str, Any]:
    """The agents' constructor hyperparameters for ``params.algorithm``."""
    kwargs = params.init_hp.to_kwargs()
    if params.algorithm == "MADDPG":
        kwargs = {k: v for k, v in kwargs.items() if k not in MATD3_ONLY}
    return kwargs


def create(params: Params, root: str | Path = ".") -> list[Any]:
    """Build the generation-0 population from ``params`` and ``models/envspec.json``."""
    from marlpipe.evolution import create_population

    return create_population(
        params.algorithm,
        envspec.load(root),
        net_config(params),
        init_hp(params),
        params.population.size,
        seed=derive_seed(params.seed, "population"),
        device=params.population.device,
    )


def save_population(population: list[Any], directory: str | Path) -> None:
    """Replace ``directory`` with one checkpoint per member plus an index file, atomically."""
    with atomic_dir(directory) as tmp:
        files = []
        for position, agent in enumerate(population):
            name = f"member_{position:02d}.pt"
            agent.save_checkpoint(tmp / name)
            files.append({"file": name, "index": int(agent.index)})
        write_json(tmp / INDEX_FILE, {"members": files})


def load_population(directory: str | Path, device: str = "cpu") -> list[Any]:
    """Load every member saved by :func:`save_population`, in population order."""
    from marlpipe.algos import load_agent

    directory = Path(directory)
    index = read_json(directory / INDEX_FILE)
    return [load_agent(directory / entry["file"], device=device) for entry in index["members"]]


def run(params: Params, root: str | Path = ".") -> list[Any]:
    """Write ``models/initial_population/`` and return the population."""
    set_torch_threads(params.population.torch_threads)
    population = create(params, root)
    save_population(population, Paths(Path(root)).initial_population)
    return population
