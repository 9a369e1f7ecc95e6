"""AgileRL's own MATD3 at its tutorial settings: env-steps/s of its training function.

Not a marlpipe benchmark (AgileRL is not a dependency): run it with the Python of a throwaway
environment that has agilerl (``results/agilerl/make_env.sh``; see docs/performance.md, "Against
AgileRL"). The tutorial's settings (``results/agilerl/tutorial.py``, shared with the results
table's AgileRL row: speaker-listener from mpe2, 8 copies in AgileRL's AsyncPettingZooVecEnv, a
population of 4 MATD3 with [64, 64] nets, batch 128, learn_step 100, tournament of 2 with
elitism, its mutation probabilities), ``train_multi_agent_off_policy`` for ``--steps`` env steps
per member.

    /path/to/agilerl-venv/bin/python benchmarks/agilerl/tutorial_rate.py [--threads 1]
        [--steps 48000]

Prints one line of JSON: ``{"env_steps_per_s": ..., "threads": ..., "agilerl": version}``;
env steps are counted over the population, as marlpipe's ``bench_population.py`` counts them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    cli.add_argument("--steps", type=int, default=48_000, help="env steps per member")
    args = cli.parse_args()
    from importlib.metadata import version

    import torch
    from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "results" / "agilerl"))
    from tutorial import POPULATION_SIZE, tutorial_setup

    if args.threads:
        torch.set_num_threads(args.threads)
    setup = tutorial_setup(seed=0)
    started = time.perf_counter()
    train_multi_agent_off_policy(max_steps=args.steps, **setup)
    wall = time.perf_counter() - started
    setup["env"].close()
    rate = args.steps * POPULATION_SIZE / wall
    print(json.dumps({"env_steps_per_s": rate, "threads": torch.get_num_threads(),
                      "agilerl": version("agilerl")}))  # fmt: skip


if __name__ == "__main__":
    main()
