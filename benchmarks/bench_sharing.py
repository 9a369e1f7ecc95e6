"""What shared networks buy on spread: score at equal env steps, time and parameter count.

The preset ``spread_shared`` (the three agents, one homogeneous group, share one actor and one
critic pair: ``net_config.share_homogeneous``) and the same preset with sharing off (every agent
its own actor and critics: side ``spread``) run end to end through ``marlpipe.pipeline.experiment``
(envspec, init_population, evolve, evaluate; tracking off, each in a fresh temporary folder) on
the same budget (``--generations`` of the preset's steps per member, so both sides train on the
same env steps), for each ``--seeds`` seed, the two sides alternating (spread, shared, spread,
...) so a machine whose speed drifts shifts both alike.

    python benchmarks/bench_sharing.py [--seeds 0,1,2] [--generations 6] [--algorithm MATD3]
        [--json PATH]

Full presets take 30 generations; the default budget (6) is a fifth of that.

Prints per run: the evaluated score of the elite (the evaluate stage's greedy episodes, never
used in training), the elite's fitness per generation, the run's wall time and the elite's
parameter count (online actors and critics, a shared network counted once); then per side the
mean and sd over the seeds and the shared side's ratios (time, parameters) and score difference.
The CPU is named on the first line.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from harness import Report, alternate, compare, parser

REPO = Path(__file__).resolve().parents[1]
SIDES = {"spread": False, "shared": True}
"""Side name -> ``net_config.share_homogeneous`` on the preset ``configs/spread_shared.yaml``
(which keeps the settings the figures in docs/python-api.md were measured on)."""


def parameter_count(agent) -> int:
    """Online actor and critic parameters, each tensor once (a shared actor is one network)."""
    tensors = {id(p): p for net in agent.actors.values() for p in net.parameters()}
    tensors |= {id(p): p for p in agent.critic.parameters()}
    return sum(p.numel() for p in tensors.values())


def run(share: bool, seed: int, generations: int, algorithm: str) -> dict:
    """One end-to-end run of the preset, sharing or not; its score, fitness curve, wall time
    and size."""
    from marlpipe.algos import load_agent
    from marlpipe.config import load_params, with_overrides
    from marlpipe.io import read_json
    from marlpipe.pipeline.experiment import Experiment
    from marlpipe.pipeline.paths import Paths

    overrides = {
        "seed": seed, "algorithm": algorithm,
        "evolution": {"generations": generations}, "tracking": {"enabled": False},
        "net_config": {"share_homogeneous": share},
    }  # fmt: skip
    params = with_overrides(load_params(REPO / "configs" / "spread_shared.yaml"), overrides)
    members = params.population.size
    with tempfile.TemporaryDirectory(prefix="marlpipe-bench-sharing-") as folder:
        start = time.perf_counter()
        done = Experiment(params, folder, resume=False).run()
        seconds = time.perf_counter() - start
        paths = Paths(Path(folder))
        fitness = [float(row["elite_fitness"]) for row in read_json(paths.fitness_report)]
        first = load_agent(sorted(paths.initial_population.glob("*.pt"))[0])
        elite = load_agent(paths.elite / "elite.pt")
    return {
        "score": float(done.metrics["score"]),
        "elite_fitness": fitness,
        "seconds": seconds,
        "parameters": parameter_count(first),
        "elite_parameters": parameter_count(elite),
        "env_steps": generations * params.evolution.steps_per_generation * members,
    }


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    cli.add_argument("--generations", type=int, default=6, help="generations per run (6)")
    cli.add_argument("--algorithm", default="MATD3", choices=("MATD3", "MADDPG"))
    args = cli.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    report = Report(__file__, args)

    def side(name: str):
        taken: list[int] = []

        def one() -> dict:  # the side's next seed: alternate() calls each side once a repeat
            seed = seeds[len(taken)]
            taken.append(seed)
            result = run(SIDES[name], seed, args.generations, args.algorithm)
            report.line(
                f"  seed {seed} {name:>6}: score {result['score']:7.2f}, "
                f"{result['env_steps']:,} env steps in {result['seconds']:6.1f} s, "
                f"{result['parameters']:,} parameters ({result['elite_parameters']:,} in the "
                "elite); elite fitness per generation "
                + ", ".join(f"{f:.1f}" for f in result["elite_fitness"])
            )
            return result

        return one

    runs = alternate({name: side(name) for name in SIDES}, repeats=len(seeds))
    for name, results in runs.items():
        scores = [r["score"] for r in results]
        report.figure(f"{name}_runs", results)
        sd = statistics.stdev(scores) if len(scores) > 1 else 0.0
        report.figure(
            f"{name}_score", {"mean": statistics.mean(scores), "sd": sd},
            f"{name:>6}: score {statistics.mean(scores):.2f} +- {sd:.2f} over seeds {seeds}, "
            f"{statistics.median(r['seconds'] for r in results):.1f} s median, "
            f"{results[0]['parameters']:,} parameters before any mutation",
        )  # fmt: skip
    times = compare({n: [r["seconds"] for r in rs] for n, rs in runs.items()}, "spread")
    pairs = list(zip(runs["shared"], runs["spread"], strict=True))
    score_gap = [shared["score"] - own["score"] for shared, own in pairs]
    params_ratio = statistics.median(
        shared["parameters"] / own["parameters"] for shared, own in pairs
    )
    report.figure(
        "shared_vs_spread",
        {"time_ratio": times["shared"]["ratio_of_medians"], "parameter_ratio": params_ratio,
         "score_difference": score_gap},
        f"shared / spread: time x{times['shared']['ratio_of_medians']:.2f}, parameters "
        f"x{params_ratio:.2f}, score difference per seed "
        + ", ".join(f"{d:+.2f}" for d in score_gap),
    )  # fmt: skip
    report.write()


if __name__ == "__main__":
    main()
