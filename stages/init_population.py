"""DVC stage ``init_population``: envspec + params -> models/initial_population/ (generation 0)."""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline import init_population
from marlpipe.pipeline.errors import run_stage


def main() -> None:
    """Create and save the initial population."""
    population = init_population.run(load_params("params.yaml"), ".")
    print(f"init_population: {len(population)} members")


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "init_population")
