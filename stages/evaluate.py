"""DVC stage ``evaluate``: models/elite/ -> reports/eval.json (+ MLflow run, registered model)."""

from marlpipe.config import load_params
from marlpipe.log import configure
from marlpipe.pipeline.errors import run_stage
from marlpipe.pipeline.experiment import Experiment


def main() -> None:
    """Score the elite on fresh greedy episodes (the checks come first, before any work)."""
    metrics = Experiment(load_params("params.yaml")).evaluate()
    print(f"evaluate: score {metrics['score']:.2f} over {metrics['episodes']} episodes")


if __name__ == "__main__":
    configure()  # INFO and up to stderr, as the marlpipe CLI
    run_stage(main, "evaluate")
