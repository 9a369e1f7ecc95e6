"""DVC stage ``envspec``: params.yaml -> models/envspec.json (see marlpipe.pipeline.envspec)."""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline import envspec
from marlpipe.pipeline.errors import run_stage


def main() -> None:
    """Extract the env spec of the params' environment and print it."""
    spec = envspec.run(load_params("params.yaml"), ".")
    print(spec.describe())


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "envspec")
