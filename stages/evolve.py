"""DVC stage ``evolve``: initial population -> models/population/, models/elite/, fitness plot.

Resumes from runs/evolve/checkpoint after a kill (see marlpipe.pipeline.resume).
"""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline.errors import run_stage
from marlpipe.pipeline.experiment import Experiment


def main() -> None:
    """Evolve the population for the params' budget (the checks come first, before any work)."""
    result = Experiment(load_params("params.yaml"), progress=True).evolve()
    print(
        f"evolve: elite member {result.elite_index}, fitness {result.elite_fitness:.2f}, "
        f"{result.generations} generations"
    )


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "evolve")
