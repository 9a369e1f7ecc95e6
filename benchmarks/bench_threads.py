"""Speed cliffs: the sync and async env backends at every torch thread count, by import order.

Each run is a fresh Python process (OpenMP reads its wait policy once, when torch loads it)
that trains as a new user would: ``train_multi_agent`` at AgileRL's tutorial settings (4 MATD3
members, 8 copies of speaker-listener, batch 128, learn_step 100, ``--steps`` env steps,
seed 0). The process imports marlpipe before torch (marlpipe then sets
``OMP_WAIT_POLICY=PASSIVE`` unless set) or torch first (as ``import torch`` above ``import
marlpipe`` does, with OpenMP's default spinning threads), and sets ``--threads`` torch threads
(0: torch's default). Every combination runs ``--repeats`` times, alternating.

Prints each run's env-steps/s, then per import order and thread count the async/sync ratio of
the medians (the aim: async never under 0.9x of sync) and whether the fitness histories match.

    python benchmarks/bench_threads.py [--threads 0,1,2] [--orders marlpipe,torch]
        [--steps 24000] [--repeats 2] [--json PATH]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness import Report, alternate, compare, parser

CHILD = """
import sys
order, threads, backend, steps = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if order == "marlpipe":
    import marlpipe  # noqa: F401
import json, time
import torch
if threads:
    torch.set_num_threads(threads)
from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.envs import make_vec_env
from marlpipe.evolution import create_population
from marlpipe.training import train_multi_agent
from marlpipe.training.agilerl_style import mutations_from_keywords, tournament_from_keywords

if __name__ == "__main__":
    env = make_vec_env("mpe2.simple_speaker_listener_v4", 8, seed=0, continuous_actions=True,
                       backend=backend)
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [64, 64]},
                            {"batch_size": 128, "learn_step": 100}, 4, seed=0)
    memory = MultiAgentReplayBuffer(100_000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    tournament = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0)
    mutation = mutations_from_keywords(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2,
                                       parameters=0.2, activation=0, rl_hp=0.2, rand_seed=0)
    start = time.perf_counter()
    _, fitness = train_multi_agent(env, pop, memory, max_steps=steps, evo_steps=4000,
                                   tournament=tournament, mutation=mutation, progress=False,
                                   seed=0)
    rate = steps / (time.perf_counter() - start)
    env.close()
    print(json.dumps({"rate": rate, "threads": torch.get_num_threads(), "fitness": fitness}))
"""


def one_run(order: str, threads: int, backend: str, steps: int) -> dict:
    """One training run in a fresh process: its env-steps/s, thread count and fitness."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, order, str(threads), backend, str(steps)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"{order} first, {threads} threads, {backend}: failed\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--threads", default="0,1,2", help="torch threads to try (0: default)")
    cli.add_argument("--orders", default="marlpipe,torch", help="what is imported first")
    cli.add_argument("--steps", type=int, default=24_000)
    cli.add_argument("--repeats", type=int, default=2)
    args = cli.parse_args()
    report = Report(__file__, args)
    sides = {
        f"{order}-first/{threads}/{backend}": (
            lambda o=order, t=int(threads), b=backend: one_run(o, t, b, args.steps)
        )
        for order in args.orders.split(",")
        for threads in args.threads.split(",")
        for backend in ("sync", "async")
    }

    def show(repeat: int, side: str, run: dict) -> None:
        print(f"{side} ({run['threads']} torch threads): {run['rate']:,.0f} env-steps/s",
              flush=True)  # fmt: skip

    runs = alternate(sides, args.repeats, show)
    report.figure("runs", {side: [r["rate"] for r in results] for side, results in runs.items()})
    for side in sides:
        if not side.endswith("/sync"):
            continue
        base = side.rsplit("/", 1)[0]
        rates = {b: [r["rate"] for r in runs[f"{base}/{b}"]] for b in ("sync", "async")}
        ratio = compare(rates, "sync")["async"]["ratio_of_medians"]
        same = runs[f"{base}/sync"][0]["fitness"] == runs[f"{base}/async"][0]["fitness"]
        report.figure(f"async_over_sync/{base}", ratio,
                      f"{base}: async / sync {ratio:.2f}x, identical fitness: {same}")  # fmt: skip
    report.write()


if __name__ == "__main__":
    main()
