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
``--backends processes`` adds the pipeline's way: the sync env and a ``ProcessTrainer`` of two
processes (one torch thread each, whatever ``--threads``). ``--trees`` runs the same sides in
other checkouts too (e.g. a ``git worktree`` of an earlier commit), side by side.

    python benchmarks/bench_threads.py [--threads 0,1,2] [--orders marlpipe,torch]
        [--backends sync,async,processes] [--trees .,../before] [--steps 192000] [--repeats 2]
        [--json PATH]
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
    trainer = None
    env = make_vec_env("mpe2.simple_speaker_listener_v4", 8, seed=0, continuous_actions=True,
                       backend="sync" if backend == "processes" else backend)
    if backend == "processes":
        from marlpipe.envs import EnvFactory
        from marlpipe.training.process_trainer import ProcessTrainer

        trainer = ProcessTrainer(EnvFactory.of(env), workers=2)
        trainer.wait_ready()  # its processes, like AgileRL's env workers, start before the clock
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [64, 64]},
                            {"batch_size": 128, "learn_step": 100}, 4, seed=0)
    memory = MultiAgentReplayBuffer(100_000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    tournament = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0)
    mutation = mutations_from_keywords(no_mutation=0.4, architecture=0.2, new_layer_prob=0.2,
                                       parameters=0.2, activation=0, rl_hp=0.2, rand_seed=0)
    start = time.perf_counter()
    # eval_loop=8: AgileRL's tutorial plays one episode on each of its 8 copies per member
    _, fitness = train_multi_agent(env, pop, memory, max_steps=steps, evo_steps=4000,
                                   eval_loop=8, tournament=tournament, mutation=mutation,
                                   progress=False, seed=0, trainer=trainer)
    rate = steps / (time.perf_counter() - start)
    env.close()
    if trainer is not None:
        trainer.close()
    print(json.dumps({"rate": rate, "threads": torch.get_num_threads(), "fitness": fitness}))
"""


def one_run(order: str, threads: int, backend: str, steps: int, tree: str = ".") -> dict:
    """One training run in a fresh process, on the checkout ``tree`` (relative to this one's
    root): its env-steps/s, thread count and fitness."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, order, str(threads), backend, str(steps)],
        capture_output=True, text=True, check=False,
        cwd=Path(__file__).resolve().parents[1] / tree,
    )  # fmt: skip
    if done.returncode != 0:
        sys.exit(f"{order} first, {threads} threads, {backend}: failed\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--threads", default="0,1,2", help="torch threads to try (0: default)")
    cli.add_argument("--orders", default="marlpipe,torch", help="what is imported first")
    cli.add_argument("--steps", type=int, default=192_000, help="env steps over the population")
    cli.add_argument("--repeats", type=int, default=2)
    cli.add_argument("--backends", default="sync,async", help="sync, async and/or processes")
    cli.add_argument("--trees", default=".", help="checkouts to run, relative to this one")
    args = cli.parse_args()
    report = Report(__file__, args)
    trees = args.trees.split(",")
    sides = {
        f"{order}-first/{threads}/{backend}" + (f"@{tree}" if len(trees) > 1 else ""): (
            lambda o=order, t=int(threads), b=backend, w=tree: one_run(o, t, b, args.steps, w)
        )
        for tree in trees
        for order in args.orders.split(",")
        for threads in args.threads.split(",")
        for backend in args.backends.split(",")
    }

    def show(repeat: int, side: str, run: dict) -> None:
        print(f"{side} ({run['threads']} torch threads): {run['rate']:,.0f} env-steps/s",
              flush=True)  # fmt: skip

    runs = alternate(sides, args.repeats, show)
    report.figure("runs", {side: [r["rate"] for r in results] for side, results in runs.items()})
    for side in sides:
        base, _, rest = side.rpartition("/")
        backend, _, tree = rest.partition("@")
        if backend != "sync":
            continue
        at = f"@{tree}" if tree else ""
        for other in args.backends.split(","):
            if other == "sync" or f"{base}/{other}{at}" not in runs:
                continue
            rates = {b: [r["rate"] for r in runs[f"{base}/{b}{at}"]] for b in ("sync", other)}
            ratio = compare(rates, "sync")[other]["ratio_of_medians"]
            fitness = [runs[f"{base}/{b}{at}"][0]["fitness"] for b in ("sync", other)]
            same = fitness[0] == fitness[1] if other == "async" else "n/a (merged experience)"
            line = f"{base}{at}: {other} / sync {ratio:.2f}x, identical fitness: {same}"
            report.figure(f"{other}_over_sync/{base}{at}", ratio, line)
    report.write()


if __name__ == "__main__":
    main()
