"""DVC stage ``init_population``: envspec + params -> models/initial_population/ (generation 0)."""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline.errors import run_stage
from marlpipe.pipeline.experiment import Experiment


def main() -> None:
    """Create and save the initial population."""
    population = Experiment(load_params("params.yaml")).init_population()
    print(f"init_population: {len(population)} members")


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "init_population")
