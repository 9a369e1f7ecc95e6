"""DVC stage ``envspec``: params.yaml -> models/envspec.json (see marlpipe.pipeline.envspec)."""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline.errors import run_stage
from marlpipe.pipeline.experiment import Experiment


def main() -> None:
    """Extract the env spec of the params' environment and print it."""
    print(Experiment(load_params("params.yaml")).envspec().describe())


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "envspec")
