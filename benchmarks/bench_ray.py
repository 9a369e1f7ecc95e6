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
    args = parser.parse_args()
    results = {}
    for mode in args.modes.split(","):
        results[mode] = run_mode(mode, args)
        print(f"{mode}: " + ", ".join(f"{k} {v:.4g}" for k, v in results[mode].items()),
              flush=True)  # fmt: skip
    if "local" in results:
        base = results["local"]["env_steps_per_s"]
        for mode, figures in results.items():
            print(f"{mode}: {figures['env_steps_per_s'] / base:.2f}x local's env-steps/s")


if __name__ == "__main__":
    main()
