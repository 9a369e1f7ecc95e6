"""Population training throughput and time-to-score on speaker-listener (continuous actions).

Prints, from one run on this machine:

1. the raw env's step rate with bulk-drawn random actions (8 copies stepped in this process, the
   sync backend: the env's own speed), measured right before and after every generation, whose
   mean is that generation's reference; with ``--backend async`` also the async backend's;
2. the population loop's collection rate (4 MATD3 members, 8 copies, batch 128, learn_step 100:
   acting, env stepping, storing and learning; target >= 70 % of the raw rate), and its overall
   rate including evaluation, selection and mutation: medians over the generations;
3. the wall time until the elite's greedy score over 10 fresh episodes reaches ``--score``
   (target: under 3 minutes on 2 cores), with ``--batch-size``/``--learn-step`` (default 128
   and 10: at learn_step 100 each member gets too few updates). The check is not counted.

    python benchmarks/bench_population.py [--backend async] [--workers 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from marlpipe.algos.buffer import MultiAgentReplayBuffer
from marlpipe.algos.episodes import greedy_score
from marlpipe.config import EvolutionConfig, MutationConfig, TournamentConfig
from marlpipe.envs import make_env, make_vec_env, random_actions
from marlpipe.evolution import Mutations, TournamentSelection, create_population
from marlpipe.training import ListTracker, LoopState, run_generation

ENV = "mpe2.simple_speaker_listener_v4"
FIELDS = ["state", "action", "reward", "next_state", "done"]


def vec_env(args, backend: str | None = None):
    """The benchmark's vec env (``--backend`` unless told otherwise)."""
    backend = backend or args.backend
    workers = {"num_workers": args.workers} if backend == "async" else {}
    return make_vec_env(
        ENV, args.num_envs, backend=backend, seed=args.seed, continuous_actions=True, **workers
    )


class RawEnvRate:
    """Times a vec env alone, stepping it with actions drawn in bulk beforehand."""

    def __init__(self, args, backend: str, vector_steps: int = 2000):
        self.env, self.vector_steps = vec_env(args, backend), vector_steps
        rng = np.random.default_rng(0)
        self.actions = [random_actions(self.env.spec, args.num_envs, rng) for _ in range(64)]
        self.env.reset(seed=0)

    def __call__(self) -> float:
        """Env steps per second over ``vector_steps`` vector steps."""
        started = time.perf_counter()
        for step in range(self.vector_steps):
            self.env.step(self.actions[step % len(self.actions)])
        return self.vector_steps * self.env.num_envs / (time.perf_counter() - started)

    def close(self) -> None:
        self.env.close()


def population(args, batch_size: int, learn_step: int):
    """A fresh env, evaluation envs, population, buffer, selection and mutation."""
    env = vec_env(args)
    pop = create_population(
        "MATD3", env.spec, {"hidden_sizes": [64, 64]},
        {"batch_size": batch_size, "learn_step": learn_step}, args.population, seed=args.seed,
    )  # fmt: skip
    memory = MultiAgentReplayBuffer(1_000_000, FIELDS, env.agent_ids, seed=args.seed)
    tournament = TournamentSelection(TournamentConfig(), args.population, seed=args.seed)
    mutation = Mutations(MutationConfig(), seed=args.seed)
    return env, pop, memory, tournament, mutation


def throughput(args) -> None:
    """Collection and overall rates at batch 128, learn_step 100, against the raw env rate.

    The machine may be shared, and its speed drifts over seconds: the raw rate is measured right
    before and right after every generation, and each generation's rates are compared with the
    mean of those two. The figure is the median over generations (the range is printed too).
    """
    if args.backend == "async":
        raw_async = RawEnvRate(args, "async")
        print(f"raw env (async, {args.workers or 'default'} worker(s)): {raw_async():,.0f} steps/s")
        raw_async.close()
    raw = RawEnvRate(args, "sync", vector_steps=300)
    env, pop, memory, tournament, mutation = population(args, 128, 100)
    evolution = EvolutionConfig(steps_per_generation=args.evo_steps, eval_episodes=3)
    eval_env = make_env(ENV, continuous_actions=True)
    state, tracker = LoopState.start(args.seed), ListTracker()
    references = []
    while state.env_steps < args.throughput_steps:
        before = raw()
        pop = run_generation(
            env, pop, memory, state, evolution, eval_env=eval_env, tournament=tournament,
            mutation=mutation, tracker=tracker,
        ).population  # fmt: skip
        references.append((before + raw()) / 2)
    env.close()
    raw.close()
    collect = [r.extra["collect_env_steps_per_s"] for r in tracker.records]
    steps = np.diff([0] + [r.env_steps for r in tracker.records])  # each generation's own
    overall = [n / r.wall_time for n, r in zip(steps, tracker.records, strict=True)]
    collect_ratios = [c / ref for c, ref in zip(collect, references, strict=True)]
    overall_ratios = [o / ref for o, ref in zip(overall, references, strict=True)]
    print(f"raw env (sync, {args.num_envs} copies, random actions), per generation: "
          f"median {np.median(references):,.0f} steps/s "
          f"({min(references):,.0f} to {max(references):,.0f})")  # fmt: skip
    print(f"population collection ({args.backend}, batch 128, learn_step 100): median "
          f"{np.median(collect):,.0f} env steps/s; {100 * np.median(collect_ratios):.0f} % of the "
          f"raw rate (per generation {100 * min(collect_ratios):.0f} to "
          f"{100 * max(collect_ratios):.0f} %, {len(collect)} generations)")  # fmt: skip
    print(f"  including evaluation/selection/mutation: median {np.median(overall):,.0f} env "
          f"steps/s; {100 * np.median(overall_ratios):.0f} % of the raw rate")  # fmt: skip


def time_to_score(args) -> None:
    """Wall time until the elite's greedy score over 10 fresh episodes reaches ``--score``."""
    env, pop, memory, tournament, mutation = population(args, args.batch_size, args.learn_step)
    evolution = EvolutionConfig(steps_per_generation=args.evo_steps, eval_episodes=3)
    eval_env = make_env(ENV, continuous_actions=True)
    check_env = make_env(ENV, continuous_actions=True)
    state, tracker = LoopState.start(args.seed), ListTracker()
    training_time, reached = 0.0, None
    check_rng = np.random.default_rng(args.seed + 1)
    while state.env_steps < args.max_steps and training_time < args.max_seconds:
        started = time.perf_counter()
        result = run_generation(
            env, pop, memory, state, evolution, eval_env=eval_env, tournament=tournament,
            mutation=mutation, tracker=tracker,
        )  # fmt: skip
        training_time += time.perf_counter() - started
        pop = result.population
        # Fresh episodes: a new seed each check, so the score is not tuned to fixed starts.
        score = greedy_score(result.elite, check_env, episodes=10,
                             seed=int(check_rng.integers(2**31)))  # fmt: skip
        record = tracker.records[-1]
        print(
            f"gen {record.generation:3d}  steps {state.env_steps:8,d}  t {training_time:6.1f}s  "
            f"collect {record.extra['collect_env_steps_per_s']:6,.0f}/s  "
            f"elite sel {record.elite_fitness:7.2f}  greedy(10) {score:7.2f}"
        )
        if score >= args.score:
            reached = training_time
            break
    env.close()
    settings = f"batch {args.batch_size}, learn_step {args.learn_step}"
    if reached is None:
        print(f"greedy score {args.score} NOT reached within {training_time:.0f}s ({settings})")
    else:
        print(f"greedy score >= {args.score} after {reached:.1f}s ({settings}, "
              f"{state.env_steps:,} env steps, {state.generation} generations)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sync", "async"], default="sync")
    parser.add_argument("--workers", type=int, default=None, help="async workers (default: auto)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--evo-steps", type=int, default=3000)
    parser.add_argument("--throughput-steps", type=int, default=96_000)
    parser.add_argument("--batch-size", type=int, default=128, help="time-to-score run")
    parser.add_argument("--learn-step", type=int, default=10, help="time-to-score run")
    parser.add_argument("--max-steps", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--score", type=float, default=-20.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", choices=["throughput", "score"], default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.skip != "throughput":
        throughput(args)
    if args.skip != "score":
        time_to_score(args)


if __name__ == "__main__":
    main()
