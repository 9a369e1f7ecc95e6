"""DVC stage ``evolve``: initial population -> models/population/, models/elite/, fitness plot.

Resumes from runs/evolve/checkpoint after a kill (see marlpipe.pipeline.resume).
"""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline import evolve
from marlpipe.pipeline.errors import run_stage
from marlpipe.pipeline.preflight import check_stage


def main() -> None:
    """Evolve the population for the params' budget."""
    params = check_stage(load_params("params.yaml"), ".", tracking=True)  # before any work
    result = evolve.run(params, ".", progress=True)
    print(
        f"evolve: elite member {result.elite_index}, fitness {result.elite_fitness:.2f}, "
        f"{result.generations} generations"
    )


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "evolve")
