"""The population on Ray against local training: the evolve stage, default params, 4 members
(or `--sizes`).

Runs the real evolve stage (``marlpipe.pipeline.evolve.run``, tracking off) in a scratch folder
once per mode, in this order, with the same initial population:

* ``local``: today's default (``population.backend: local``, ``experience: shared``);
* ``local-merged``: ``backend: local``, ``experience: merged`` (what Ray reproduces exactly);
* ``ray``: ``backend: ray``, ``experience: merged``, ``--workers`` actors on a Ray started here;
  each worker plays the fitness episodes of the member it trained;
* ``ray-driver-eval``: the same with the old evaluation path, the driver playing every member's
  fitness episodes one after another after the turns (the trainer's ``evaluates`` turned off).

and prints for each: training env-steps/s (env transitions over the generations' collection
time, which for the merged modes includes shipping and merging, and for ``ray`` the workers'
fitness episodes), the ratio to ``local``, the final elite's selection fitness, the wall time of
the whole stage (Ray's start-up included), and the driver's mean time per generation
(``driver_s``: the generation's wall time less the time it waited for the members' turns, the
checkpoint left out) with its evaluation share (``eval_s``); for the merged modes also the
per-generation time to ship weights and the buffer snapshot (``ship_s``), to rebuild members and
merge their transitions (``merge_s``), waiting for the turns (``wait_s``) and the slowest
member's turn (``slowest_member_s``). ``--sizes`` runs every mode at each population size.
Shorten a run with ``--generations``/``--steps``:

    python benchmarks/bench_ray.py --generations 2 --steps 5000 [--workers 2] [--modes local,ray]
        [--sizes 4,16,64] [--repeats N] [--json PATH]

``--repeats N`` runs the modes N times, alternating, and compares medians: on these shared VMs
one process's speed drifts by a quarter between minutes, so one run of each can mislead.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from harness import Report, alternate, compare, parser

from marlpipe.config import Params, with_overrides
from marlpipe.pipeline import envspec, evolve, init_population
from marlpipe.pipeline.experiment import Experiment
from marlpipe.training import ListTracker

MODES = {
    "local": {"backend": "local", "experience": "shared"},
    "local-merged": {"backend": "local", "experience": "merged"},
    "ray": {"backend": "ray", "experience": "merged"},
    "ray-driver-eval": {"backend": "ray", "experience": "merged"},
}


@contextlib.contextmanager
def driver_evaluation(on: bool) -> Iterator[None]:
    """While ``on``, the stage's trainer leaves fitness evaluation to the driver (the path before
    the workers evaluated): ``Experiment.trainer`` is wrapped to turn ``evaluates`` off."""
    original = Experiment.trainer

    def trainer(self, factory):
        made = original(self, factory)
        made.evaluates = False
        return made

    if on:
        Experiment.trainer = trainer
    try:
        yield
    finally:
        Experiment.trainer = original


def run_mode(mode: str, size: int, args: argparse.Namespace) -> dict[str, float]:
    """One evolve stage under ``mode`` with ``size`` members; its figures."""
    population = {"size": size, **MODES[mode]}
    if mode.startswith("ray"):
        population["workers"] = args.workers
    params = with_overrides(Params(), {
        "population": population, "tracking": {"enabled": False},
        "evolution": {"generations": args.generations, "steps_per_generation": args.steps},
    })  # fmt: skip
    with tempfile.TemporaryDirectory() as root:
        envspec.run(params, Path(root))
        init_population.run(params, Path(root))
        tracker = ListTracker()
        started = time.perf_counter()
        with driver_evaluation(mode == "ray-driver-eval"):
            result = evolve.run(params, Path(root), tracker=tracker)
        wall = time.perf_counter() - started
    records = tracker.records
    env_steps = records[-1].env_steps
    collect = sum(r.extra["collect_time"] for r in records)
    figures = {
        "env_steps_per_s": env_steps / collect, "elite_fitness": result.elite_fitness,
        "wall_s": wall,
        "driver_s": statistics.mean(r.wall_time - r.extra.get("wait_s", 0.0) for r in records),
        "eval_s": statistics.mean(r.extra["eval_s"] for r in records),
    }  # fmt: skip
    if "wait_s" not in records[0].extra:  # shared experience: the turns are the driver's own
        figures["driver_s"] -= statistics.mean(r.extra["collect_time"] for r in records)
    for key in ("ship_s", "merge_s", "wait_s", "slowest_member_s"):
        if key in records[0].extra:
            figures[key] = statistics.mean(r.extra[key] for r in records)
    return figures


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--generations", type=int, default=Params().evolution.generations)
    cli.add_argument("--steps", type=int, default=Params().evolution.steps_per_generation,
                     help="env steps per member per generation")  # fmt: skip
    cli.add_argument("--workers", type=int, default=2, help="Ray actors")
    cli.add_argument("--modes", default="local,local-merged,ray", help="comma-separated modes")
    cli.add_argument("--sizes", default="4", help="comma-separated population sizes")
    cli.add_argument(
        "--repeats", type=int, default=1,
        help="run every mode this many times, alternating (local, ray, local, ray, ...), so "
        "that a machine whose speed drifts during the benchmark shifts every mode alike; "
        "medians are compared",
    )  # fmt: skip
    args = cli.parse_args()
    modes = args.modes.split(",")
    unknown = sorted(set(modes) - set(MODES))
    if unknown:
        cli.error(f"--modes: unknown {unknown}; expected some of {sorted(MODES)}")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        cli.error(f"--sizes: expected comma-separated integers, got {args.sizes!r}")
    report = Report(__file__, args)
    for size in sizes:
        suffix = "" if sizes == [4] else f"_{size}"

        def show(repeat: int, mode: str, figures: dict[str, float], size: int = size) -> None:
            print(f"[{repeat + 1}/{args.repeats}] {size} members, {mode}: "
                  + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()), flush=True)  # fmt: skip

        sides = {m: (lambda m=m, size=size: run_mode(m, size, args)) for m in modes}
        runs = alternate(sides, args.repeats, show)
        report.figure(f"runs{suffix}", runs)
        for key, base in (("env_steps_per_s", "local"), ("driver_s", "ray-driver-eval")):
            if base not in runs:
                continue
            against = compare({m: [f[key] for f in figures] for m, figures in runs.items()},
                              base)  # fmt: skip
            report.figure(f"{key}_against_{base}{suffix}", against)
            for mode, row in against.items():
                print(
                    f"{size} members, {mode}: median {key} {row['median']:,.4g}, "
                    f"{row['ratio_of_medians']:.2f}x {base}'s median (per repeat: "
                    f"{', '.join(f'{r:.2f}x' for r in row['paired_ratios'])})"
                )
    report.write()


if __name__ == "__main__":
    main()
