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

``--repeats N`` runs the modes N times, alternating, and compares medians: on these shared VMs
one process's speed drifts by a quarter between minutes, so one run of each can mislead.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=Params().evolution.generations)
    parser.add_argument("--steps", type=int, default=Params().evolution.steps_per_generation,
                        help="env steps per member per generation")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="Ray actors")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated modes")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every mode this many times, alternating (local, ray, local, "
        "ray, ...), so that a machine whose speed drifts during the "
        "benchmark shifts every mode alike; medians are compared",
    )
    args = parser.parse_args()
    modes = args.modes.split(",")
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for repeat in range(args.repeats):
        for mode in modes:
            figures = run_mode(mode, args)
            runs[mode].append(figures)
            print(
                f"[{repeat + 1}/{args.repeats}] {mode}: "
                + ", ".join(f"{k} {v:.4g}" for k, v in figures.items()),
                flush=True,
            )
    if "local" in runs:
        base = statistics.median(f["env_steps_per_s"] for f in runs["local"])
        for mode, figures in runs.items():
            median = statistics.median(f["env_steps_per_s"] for f in figures)
            paired = [
                f["env_steps_per_s"] / b["env_steps_per_s"]
                for f, b in zip(figures, runs["local"], strict=True)
            ]
            print(
                f"{mode}: median {median:,.0f} env-steps/s, {median / base:.2f}x local's median "
                f"(per repeat: {', '.join(f'{r:.2f}x' for r in paired)})"
            )


if __name__ == "__main__":
    main()
