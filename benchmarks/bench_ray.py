"""The population on Ray against local training: the evolve stage, default params, 4 members.

Runs the real evolve stage (``marlpipe.pipeline.evolve.run``, tracking off) in a scratch folder
once per mode, in this order, with the same initial population:

* ``local``: today's default (``population.backend: local``, ``experience: shared``);
* ``local-merged``: ``backend: local``, ``experience: merged`` (what Ray reproduces exactly);
* ``ray``: ``backend: ray``, ``experience: merged``, ``--workers`` actors on a Ray started here.

and prints for each: training env-steps/s (env transitions over the generations' collection
time, which for the merged modes includes shipping and merging), the ratio to ``local``, the
final elite's selection fitness, the wall time of the whole stage (Ray's start-up included), and
for the merged modes the driver's mean per-generation time to ship weights and the buffer
snapshot (``ship_s``), to rebuild members and merge their transitions (``merge_s``) and the
slowest member's turn (``slowest_member_s``). Shorten a run with ``--generations``/``--steps``:

    python benchmarks/bench_ray.py --generations 2 --steps 5000 [--workers 2] [--modes local,ray]
        [--repeats N] [--json PATH]

``--repeats N`` runs the modes N times, alternating, and compares medians: on these shared VMs
one process's speed drifts by a quarter between minutes, so one run of each can mislead.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from harness import Report, alternate, compare, parser

from marlpipe.config import Params, with_overrides
from marlpipe.pipeline import envspec, evolve, init_population
from marlpipe.training import ListTracker

MODES = {
    "local": {"backend": "local", "experience": "shared"},
    "local-merged": {"backend": "local", "experience": "merged"},
    "ray": {"backend": "ray", "experience": "merged"},
}


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, float]:
    """One evolve stage under ``mode``; its figures."""
    population = {"size": 4, **MODES[mode]}
    if mode == "ray":
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
        result = evolve.run(params, Path(root), tracker=tracker)
        wall = time.perf_counter() - started
    records = tracker.records
    env_steps = records[-1].env_steps
    collect = sum(r.extra["collect_time"] for r in records)
    figures = {
        "env_steps_per_s": env_steps / collect, "elite_fitness": result.elite_fitness,
        "wall_s": wall,
    }  # fmt: skip
    for key in ("ship_s", "merge_s", "slowest_member_s"):
        if key in records[0].extra:
            figures[key] = statistics.mean(r.extra[key] for r in records)
    return figures


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--generations", type=int, default=Params().evolution.generations)
    cli.add_argument("--steps", type=int, default=Params().evolution.steps_per_generation,
                     help="env steps per member per generation")  # fmt: skip
    cli.add_argument("--workers", type=int, default=2, help="Ray actors")
    cli.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
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
    report = Report(__file__, args)

    def show(repeat: int, mode: str, figures: dict[str, float]) -> None:
        print(f"[{repeat + 1}/{args.repeats}] {mode}: "
              + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()), flush=True)  # fmt: skip

    runs = alternate({m: (lambda m=m: run_mode(m, args)) for m in modes}, args.repeats, show)
    report.figure("runs", runs)
    if "local" in runs:
        rates = {mode: [f["env_steps_per_s"] for f in figures] for mode, figures in runs.items()}
        against = compare(rates, "local")
        report.figure("env_steps_per_s_against_local", against)
        for mode, row in against.items():
            print(
                f"{mode}: median {row['median']:,.0f} env-steps/s, "
                f"{row['ratio_of_medians']:.2f}x local's median (per repeat: "
                f"{', '.join(f'{r:.2f}x' for r in row['paired_ratios'])})"
            )
    report.write()


if __name__ == "__main__":
    main()
