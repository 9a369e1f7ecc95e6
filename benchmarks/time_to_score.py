"""Time to a good team: the default run's four stages timed, its score, and when the elite got good.

For each ``--seeds`` seed, in a fresh temporary project folder (``params.yaml`` from ``--params``
with ``--set`` overrides and the seed; a local MLflow store there, as a fresh clone's), the four
DVC stages run one after another as ``dvc repro`` runs them, each its own ``python -m
stages.<name>`` process, and each is timed. The evolve stage runs through this script's
``--evolve-child`` (exactly ``stages/evolve.py`` plus a hook that saves each generation's elite
and the seconds since the stage started: a checkpoint write per generation, milliseconds).

Afterwards, outside the timed run, every generation's elite is scored with the evaluate stage's
own protocol (``marlpipe.pipeline.evaluate.episode_scores``: ``evaluate.episodes`` greedy
episodes from ``evaluate.seed``, fresh episodes never used in training; not the 10-episode
fitness): the elite of generation ``g`` is the one a run of ``g + 1`` generations ends with, so
one run gives the score at every shorter budget too. The time to target is the envspec and
init_population stages plus the evolve stage up to the end of the first generation whose elite
reaches ``--target``.

    python benchmarks/time_to_score.py [--seeds 0] [--target -15] [--params params.yaml]
        [--set population.backend=local ...] [--json PATH]

Prints per seed: the four stages' wall times and their sum, the evaluated score (the evaluate
stage's ``reports/eval.json``), the generation and time at which the elite first reached the
target, and the elite's score per generation; then the mean and sd over the seeds, and the mean
score per generation. The CPU is named on the first line.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Report, parser

REPO = Path(__file__).resolve().parents[1]
STAGES = ("envspec", "init_population", "evolve", "evaluate")
ELITES = "time-to-score"
"""Folder (in the temporary project) where the evolve child saves each generation's elite."""


def evolve_child() -> None:
    """The evolve stage as ``stages/evolve.py`` runs it, saving each generation's elite."""
    from marlpipe.algos.checkpoint import save_checkpoint
    from marlpipe.config import load_params
    from marlpipe.io import write_json
    from marlpipe.log import configure
    from marlpipe.pipeline.errors import run_stage
    from marlpipe.pipeline.experiment import Experiment

    configure()
    folder = Path(ELITES)
    folder.mkdir(exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}

    def keep(generation: int, result) -> None:
        seconds[str(generation)] = time.perf_counter() - started
        save_checkpoint(result.elite, folder / f"{generation}.pt")

    def main() -> None:
        Experiment(load_params("params.yaml"), progress=True).evolve(on_generation=keep)
        write_json(folder / "seconds.json", seconds)

    run_stage(main, "evolve")


def one_seed(args, seed: int) -> dict:
    """The four stages of one seed in a temporary folder; times, score, time to target."""
    from marlpipe.algos import load_agent
    from marlpipe.config.files import apply_overrides, dump_params, load_params
    from marlpipe.io import read_json
    from marlpipe.pipeline.evaluate import episode_scores

    params = apply_overrides(load_params(args.params), [*args.set, f"seed={seed}"])
    with tempfile.TemporaryDirectory(prefix="marlpipe-time-to-score-") as tmp:
        root = Path(tmp)
        (root / "params.yaml").write_text(dump_params(params))
        (root / "stages").symlink_to(REPO / "stages")
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        env.pop("MLFLOW_TRACKING_URI", None)  # the project's own local store, as a fresh clone's
        times = {}
        for stage in STAGES:
            if stage == "evolve":
                cmd = [sys.executable, str(Path(__file__).resolve()), "--evolve-child"]
            else:
                cmd = [sys.executable, "-m", f"stages.{stage}"]
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
            times[stage] = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"seed {seed}: stage {stage} failed:\n{done.stderr[-3000:]}")
        score = float(read_json(root / "reports" / "eval.json")["score"])
        seconds = read_json(root / ELITES / "seconds.json")
        scores = {}
        for generation in sorted(int(g) for g in seconds):
            agent = load_agent(root / ELITES / f"{generation}.pt")
            scores[generation] = statistics.fmean(episode_scores(agent, params)[0])
        reached = next((g for g, score in scores.items() if score >= args.target), None)
    before = times["envspec"] + times["init_population"]
    return {
        "seed": seed, "stages_s": times, "total_s": sum(times.values()), "score": score,
        "generations": len(seconds), "elite_scores": scores, "reached_generation": reached,
        "time_to_target_s": None if reached is None else before + seconds[str(reached)],
    }  # fmt: skip


def main() -> None:
    if "--evolve-child" in sys.argv:
        evolve_child()
        return
    cli = parser(__doc__)
    cli.add_argument("--params", default=str(REPO / "params.yaml"), help="the params to start from")
    cli.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a param (repeatable), as `marlpipe train --set`")  # fmt: skip
    cli.add_argument("--seeds", default="0", help="comma-separated seeds, run one after another")
    cli.add_argument("--target", type=float, default=-15.0, help="the evaluated score to reach")
    args = cli.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    report = Report(__file__, args)
    runs = []
    for seed in seeds:
        run = one_seed(args, seed)
        runs.append(run)
        stages = "  ".join(f"{s} {run['stages_s'][s]:.1f} s" for s in STAGES)
        reached = run["reached_generation"]
        when = "not reached" if reached is None else (
            f"generation {reached} at {run['time_to_target_s']:.1f} s")  # fmt: skip
        report.line(f"seed {seed}: {stages}  total {run['total_s']:.1f} s  score "
                    f"{run['score']:.2f}  elite >= {args.target:g}: {when}")  # fmt: skip
        curve = " ".join(f"{score:.1f}" for score in run["elite_scores"].values())
        report.line(f"seed {seed}: elite score per generation: {curve}")
    report.figure("runs", runs)
    for key, label in (("total_s", "four stages (s)"), ("score", "evaluated score"),
                       ("time_to_target_s", f"time to {args.target:g} (s)")):  # fmt: skip
        values = [r[key] for r in runs if r[key] is not None]
        if not values:
            report.line(f"{label}: none")
            continue
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        report.figure(f"mean_{key}", statistics.fmean(values),
                      f"{label}: mean {statistics.fmean(values):.2f} sd {sd:.2f} over "
                      f"{len(values)} of {len(runs)} seeds")  # fmt: skip
    curves = [list(r["elite_scores"].values()) for r in runs]
    mean_curve = [statistics.fmean(c[g] for c in curves) for g in range(min(map(len, curves)))]
    report.figure("mean_elite_scores", mean_curve, "mean elite score per generation: "
                  + " ".join(f"{score:.1f}" for score in mean_curve))  # fmt: skip
    report.write()


if __name__ == "__main__":
    main()
