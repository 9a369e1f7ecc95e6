"""``marlpipe`` command line: the four pipeline stages plus the CI fitness check.

Heavy imports (torch, mlflow, the envs) happen inside the commands so ``--help`` is instant. A
user error (bad params, unknown env, missing file) prints one line and exits with status 2;
set ``MARLPIPE_DEBUG=1`` to see the traceback instead. ``-v``/``-q`` on the group set how much
is logged to stderr (:mod:`marlpipe.log`).

Its size (over 300 lines) is earned: every command is a thin wrapper over one pipeline or
results function, and they share the options, logging and error reporting defined here.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from marlpipe import __version__

PARAMS_HELP = "Params file (default: <root>/params.yaml, else the package's default params)."


def _friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report user errors raised by ``command`` as one line and exit 2 (see ``run_stage``)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from marlpipe.pipeline.errors import run_stage

        return run_stage(lambda: command(*args, **kwargs), "marlpipe")

    return wrapper


def _params(path: str | None, root: str = ".", sets: tuple[str, ...] = ()):
    """``--params``, else the project's own ``params.yaml`` (under ``--root``), with the
    ``--set`` items applied before it is validated."""
    from marlpipe.config import load_params

    if path is None and (Path(root) / "params.yaml").is_file():
        path = str(Path(root) / "params.yaml")
    return load_params(path, sets)


def _checked(path: str | None, root: str = "."):
    """``_params`` checked before any work: ``population.device`` is usable on this machine (see
    ``marlpipe.pipeline.preflight``)."""
    from marlpipe.pipeline.preflight import check_stage

    return check_stage(_params(path, root), root)


params_option = click.option(
    "--params", "params_path", type=click.Path(dir_okay=False), default=None, help=PARAMS_HELP
)
root_option = click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Project directory holding models/, reports/ and runs/.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="marlpipe")  # the one version: marlpipe/__init__.py
@click.option("-v", "--verbose", is_flag=True, help="Log debug lines too.")
@click.option("-q", "--quiet", is_flag=True, help="Log warnings and errors only.")
def cli(verbose: bool, quiet: bool) -> None:
    """Evolutionary MADDPG/MATD3 training as a DVC pipeline tracked in MLflow."""
    import logging

    from marlpipe.log import configure

    configure(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


@cli.command()
@params_option
@root_option
@_friendly
def envspec(params_path: str | None, root: str) -> None:
    """Write models/envspec.json for the params' env and print its spec."""
    from marlpipe.pipeline.experiment import Experiment

    click.echo(Experiment(_params(params_path, root), root).envspec().describe())


@cli.command("init-population")
@params_option
@root_option
@_friendly
def init_population(params_path: str | None, root: str) -> None:
    """Create generation 0 of the population (models/initial_population/)."""
    from marlpipe.pipeline.experiment import Experiment

    population = Experiment(_params(params_path, root), root).init_population()
    click.echo(f"created {len(population)} members in {Path(root) / 'models/initial_population'}")


@cli.command()
@params_option
@root_option
@click.option(
    "--fresh", is_flag=True,
    help="Start at generation 0: a saved partial run is moved aside (runs/evolve/), not resumed "
    "(its MLflow run is marked KILLED).",
)
@_friendly
def evolve(params_path: str | None, root: str, fresh: bool) -> None:
    """Evolve the population (resumes after the last completed generation)."""
    from marlpipe.pipeline.experiment import Experiment

    experiment = Experiment(_params(params_path, root), root, resume=not fresh, progress=True)
    result = experiment.evolve()  # the checks first, before any work
    click.echo(
        f"elite: member {result.elite_index}, fitness {result.elite_fitness:.2f} after "
        f"{result.generations} generations"
    )


@cli.command()
@params_option
@root_option
@click.option(
    "--render",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also record the elite playing one episode to this .gif or .mp4 file (see `marlpipe "
    "render`).",
)
@_friendly
def evaluate(params_path: str | None, root: str, render: str | None) -> None:
    """Score the elite on fresh episodes (reports/eval.json) and register it in MLflow."""
    from marlpipe.pipeline import evaluate as stage
    from marlpipe.pipeline.experiment import Experiment
    from marlpipe.tracking.video import check_video_path

    if render:
        check_video_path(render)  # before the evaluation, not after it
    params = _checked(params_path, root)  # the tracking store: evaluate checks it first
    metrics = Experiment(params, root).evaluate()
    click.echo(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in metrics.items()))  # fmt: skip
    if render:
        frames = stage.render_video(params, root, render)
        click.echo(f"wrote {render} ({frames} frames)")


@cli.command()
@click.argument("output", type=click.Path(dir_okay=False))
@params_option
@root_option
@click.option(
    "--fps",
    type=click.IntRange(1, 100),
    default=10,
    show_default=True,
    help="Frames per second of the video (GIF frame delays are in hundredths of a second).",
)
@_friendly
def render(output: str, params_path: str | None, root: str, fps: int) -> None:
    """Record the elite playing one greedy episode to OUTPUT, a .gif (animated GIF) or .mp4
    (H.264 video) file; an existing file is replaced whole.

    The episode is the evaluation's first (evaluate.seed, evaluate.max_steps, agent masks
    honoured). Nothing else happens: no evaluation, no MLflow run, no new model version. The
    frame count printed is read back from the file (a GIF merges identical consecutive frames).
    """
    from marlpipe.pipeline import evaluate as stage
    from marlpipe.tracking.video import check_video_path

    check_video_path(output)  # before the params, the elite or the env
    frames = stage.render_video(_checked(params_path, root), root, output, fps=fps)
    click.echo(f"wrote {output} ({frames} frames)")


def _resolved(preset: str | None, params_path: str | None, sets: tuple[str, ...]):
    """``--params`` or ``--preset`` (only what it changes, on the defaults) else ./params.yaml,
    with the ``--set`` items applied; returns the params and a name for the run."""
    from marlpipe.config.files import preset_path
    from marlpipe.errors import UserError

    if preset is not None and params_path is not None:
        raise UserError("--preset and --params: expected one of them, not both")
    if preset is not None:
        path = preset_path(preset)
        return _params(str(path), sets=sets), path.stem
    name = Path(params_path).stem if params_path else "params"
    return _params(params_path, sets=sets), name


preset_option = click.option(
    "--preset", default=None,
    help="A preset: configs/NAME.yaml (or a path), composed on the package defaults.",
)  # fmt: skip
set_option = click.option(
    "--set", "sets", multiple=True, metavar="KEY=VALUE",
    help="Change one key (dotted, YAML value), e.g. --set evolution.generations=3; repeatable.",
)  # fmt: skip


@cli.group("params")
def params_group() -> None:
    """The resolved run parameters."""


@params_group.command("show")
@preset_option
@set_option
@click.option("--params", "params_path", type=click.Path(dir_okay=False), default=None,
              help="Params file (default: ./params.yaml, else the package's default params).")
@_friendly
def params_show(preset: str | None, sets: tuple[str, ...], params_path: str | None) -> None:
    """Print the resolved params as a complete params.yaml."""
    from marlpipe.config import dump_params

    params, _ = _resolved(preset, params_path, sets)
    click.echo(dump_params(params), nl=False)


@cli.command()
@preset_option
@set_option
@click.option("--params", "params_path", type=click.Path(dir_okay=False), default=None,
              help="Params file (default: ./params.yaml, else the package's default params).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The run's folder (default: runs/train/<preset or params>-s<seed>).")
@click.option("--store", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder of the local MLflow store (mlflow.db); MLFLOW_TRACKING_URI overrides.")
@click.option("--fresh", is_flag=True,
              help="Train anew: a run already in the folder is moved aside, not deleted.")
@_friendly
def train(
    preset: str | None, sets: tuple[str, ...], params_path: str | None, out: str | None,
    store: str, fresh: bool,
) -> None:  # fmt: skip
    """Run the four stages (envspec, init_population, evolve, evaluate) in a folder of its own,
    with its resolved params.yaml there. Run again, it resumes an unfinished run and trains
    nothing for a finished one (--fresh trains anew)."""
    from marlpipe.config import dump_params
    from marlpipe.io import atomic_write
    from marlpipe.pipeline.experiment import Experiment
    from marlpipe.pipeline.preflight import check_device
    from marlpipe.pipeline.train_folder import prepare, run_rest

    params, name = _resolved(preset, params_path, sets)
    check_device(params.population.device)  # before the folder is made
    folder = Path(out) if out else Path("runs") / "train" / f"{name}-s{params.seed}"
    state = prepare(folder, params, fresh)
    if state.finished:
        click.echo(
            f"{folder}: already finished: elite fitness {state.evolved['fitness']:.2f} after "
            f"{state.evolved['generations']} generations, score {state.metrics['score']:.2f} "
            "(--fresh trains anew)"
        )
        return
    folder.mkdir(parents=True, exist_ok=True)
    text = dump_params(params).encode()
    atomic_write(folder / "params.yaml", lambda f: f.write(text))
    experiment = Experiment(params, folder, store=store, resume=True, progress=True)
    fitness, generations, score = run_rest(experiment, state)
    click.echo(
        f"{folder}: elite fitness {fitness:.2f} after {generations} generations, score {score:.2f}"
    )


@cli.command()
@params_option
@click.option("--store", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder of the local MLflow store (mlflow.db); MLFLOW_TRACKING_URI overrides.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=5000, show_default=True, help="Port to listen on.")
@click.option("--no-browser", is_flag=True, help="Print the address only; open no browser.")
@_friendly
def ui(params_path: str | None, store: str, host: str, port: int, no_browser: bool) -> None:
    """MLflow's UI on the runs: starts `mlflow ui` on the store and opens the experiment's
    runs (a plain `mlflow ui` opens MLflow 3's GenAI view). Ctrl+C stops it."""
    from marlpipe.tracking.ui import serve

    experiment = _params(params_path, store).tracking.experiment
    sys.exit(serve(store, experiment, host, port, browser=not no_browser, echo=click.echo))


@cli.command("check-regression")
@click.option("--params", "params_path", default=None, help="CI params (default: params-ci.yaml).")
@click.option("--baseline", default=None, help="Baseline JSON (default: ci/fitness-baseline.json).")
@click.option("--update", is_flag=True, help="Write the measured score as the new baseline.")
@_friendly
def check_regression(params_path: str | None, baseline: str | None, update: bool) -> None:
    """Run a short pipeline in a temporary copy and compare its score with the baseline."""
    from marlpipe.pipeline import regression

    report = regression.run(params_path, baseline, update=update)
    click.echo(report.message)
    if not report.passed:
        sys.exit(1)


@cli.group()
def results() -> None:
    """The results table (results/dvc.yaml): cells, baselines, aggregate."""


@results.command("cell")
@click.argument("preset", type=click.Path(dir_okay=False))
@click.option("--algorithm", required=True, help="MATD3 or MADDPG.")
@click.option("--seed", type=int, required=True, help="Root seed of the cell.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The cell's folder.")
@click.option("--summary", required=True, type=click.Path(dir_okay=False), help="Summary JSON.")
@click.option(
    "--versus",
    "versus_path",
    default=None,
    type=click.Path(dir_okay=False),
    help="Also play the elite with one side random (a preset with a scored team); write this JSON.",
)
@_friendly
def results_cell(
    preset: str, algorithm: str, seed: int, out: str, summary: str, versus_path: str | None
) -> None:
    """Train and evaluate PRESET with ALGORITHM and SEED in OUT; write its SUMMARY row."""
    from marlpipe.results.cell import run_cell

    row = run_cell(preset, algorithm, seed, out, summary, versus=versus_path)
    click.echo(f"{row['task']} {algorithm} seed {seed}: score={row['score']:.2f}")


@results.command("fingerprint")
@click.option("--record", is_flag=True, help="Write this machine's fingerprints.")
@click.option("--row", "rows", multiple=True, help="Only this row, e.g. spread-matd3 (repeatable).")
@click.option("--root", default=".", show_default=True, type=click.Path(file_okay=False))
@_friendly
def results_fingerprint(record: bool, rows: tuple[str, ...], root: str) -> None:
    """Check (or --record) the behaviour fingerprint: short runs of every row of the results
    table whose hashes say whether this code still computes the table's numbers."""
    from marlpipe.results import fingerprint

    if record:
        for path in fingerprint.record(root, list(rows)):
            click.echo(f"wrote {path}")
        return
    outcomes = fingerprint.check(root, list(rows))
    click.echo(fingerprint.summary(outcomes))
    if any(o.status in fingerprint.FAILING for o in outcomes):
        sys.exit(1)


@results.command("baseline")
@click.argument("preset", type=click.Path(dir_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@click.option("--episodes", type=click.IntRange(min=1), default=None,
              help="Episodes per policy (default: the preset's evaluate.episodes).")  # fmt: skip
@_friendly
def results_baseline(preset: str, output: str, episodes: int | None) -> None:
    """Score a random and a zero policy on PRESET's evaluation episodes; write OUTPUT."""
    from marlpipe.config import load_params
    from marlpipe.io import write_json
    from marlpipe.pipeline.preflight import check_stage
    from marlpipe.results.baselines import baseline_scores

    scores = baseline_scores(check_stage(load_params(preset)), episodes)
    write_json(output, scores)
    click.echo(f"random={scores['random']['score']:.2f} zero={scores['zero']['score']:.2f}")


@results.command("versus")
@click.argument("preset", type=click.Path(dir_okay=False))
@click.argument("cell", type=click.Path(file_okay=False))
@click.argument("output", type=click.Path(dir_okay=False))
@_friendly
def results_versus(preset: str, cell: str, output: str) -> None:
    """Play the elite of CELL with one side random (the scored team, then its opponents) on
    PRESET's evaluation episodes; write OUTPUT."""
    from marlpipe.config import load_params
    from marlpipe.io import write_json
    from marlpipe.pipeline.preflight import check_stage
    from marlpipe.results.versus import versus_scores

    scores = versus_scores(check_stage(load_params(preset)), cell)
    write_json(output, scores)
    click.echo(
        f"random_vs_elite={scores['random_vs_elite']['score']:.2f} "
        f"elite_vs_random={scores['elite_vs_random']['score']:.2f}"
    )


@results.command("aggregate")
@click.argument("summaries", type=click.Path(file_okay=False))
@click.argument("baselines", type=click.Path(file_okay=False))
@click.option(
    "--versus",
    "versus_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder of `results versus` files (<cell>.json) for the competitive tasks.",
)
@click.option("--markdown", "markdown_path", default="RESULTS.md", show_default=True)
@click.option("--plot", "plot_path", default="results.png", show_default=True)
@click.option("--fingerprints", "fingerprints_dir", default=None,
              type=click.Path(file_okay=False),
              help="Folder of the rows' behaviour fingerprints (one CPU kind's).")  # fmt: skip
@click.option("--peers", "peers_dir", default=None, type=click.Path(file_okay=False),
              help="Folder of peer rows' summaries (another library; our scoring).")  # fmt: skip
@_friendly
def results_aggregate(
    summaries: str, baselines: str, versus_dir: str | None, markdown_path: str, plot_path: str,
    fingerprints_dir: str | None, peers_dir: str | None,
) -> None:  # fmt: skip
    """Write the results table and plot from the cells' SUMMARIES and the tasks' BASELINES."""
    from marlpipe.results.aggregate import aggregate

    rows = aggregate(summaries, baselines, markdown_path, plot_path, versus=versus_dir,
                     fingerprints=fingerprints_dir, peers=peers_dir)  # fmt: skip
    click.echo(f"wrote {markdown_path} and {plot_path} ({len(rows)} rows)")


def main() -> None:
    """Console entry point. Modules in the current folder import, as with ``python -m``: an
    ``env.name`` of ``mygame:make`` finds ``./mygame.py``."""
    import os

    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    cli()


if __name__ == "__main__":
    main()
