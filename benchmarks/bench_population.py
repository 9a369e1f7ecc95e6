"""Population training throughput, sync against async, fast env path against PettingZoo's, and
time-to-score on speaker-listener.

Speaker-listener with continuous actions, 4 MATD3 members, 8 copies. Three parts (``--parts``):

1. ``throughput``: the population loop's collection rate (batch 128, learn_step 100: acting, env
   stepping, storing and learning; target >= 70 % of the raw rate) and its overall rate
   including evaluation, selection and mutation, medians over the generations, each generation
   against the raw env rate (8 copies, sync backend, bulk-drawn random actions; measured right
   before and after every generation, whose mean is that generation's reference; the raw rate
   alone, sync and async, is ``bench_envs.py``'s figure);
2. ``backends``: the sync and async env backends side by side, as a new user meets them
   (``train_multi_agent`` with a seed at AgileRL's tutorial settings: batch 128, learn_step 100,
   evo_steps 4000), ``--repeats`` runs of each in alternating order in one process; env-steps/s
   of each run, the async/sync ratio of the medians, and whether the fitness histories are
   identical (they must be). Formerly ``bench_backends.py``;
3. ``envpaths``: mpe2's fast path (``env.fast``) against PettingZoo's in the same
   ``train_multi_agent`` run (sync backend), alternating; the fast/PettingZoo ratio of the
   medians and whether the fitness histories are identical (they must be);
4. ``score``: the wall time until the elite's greedy score over 10 fresh episodes reaches
   ``--score`` (target: under 3 minutes on 2 cores), with ``--batch-size``/``--learn-step``
   (default 128 and 10: at learn_step 100 each member gets too few updates). The check is not
   counted.

    python benchmarks/bench_population.py [--parts throughput,backends,envpaths,score]
        [--backend async] [--workers 1] [--threads 1] [--backend-steps 48000] [--repeats 2]
        [--json PATH]

``--backend`` is the env backend of the ``throughput`` and ``score`` parts.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from harness import Report, alternate, compare, parser, summarize

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.algos.episodes import greedy_score
from marlpipe.config import EvolutionConfig, MutationConfig, TournamentConfig
from marlpipe.envs import make_env, make_vec_env, random_actions
from marlpipe.evolution import Mutations, TournamentSelection, create_population
from marlpipe.training import ListTracker, LoopState, run_generation, train_multi_agent
from marlpipe.training.agilerl_style import mutations_from_keywords, tournament_from_keywords

ENV = "mpe2.simple_speaker_listener_v4"


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
    memory = MultiAgentReplayBuffer(1_000_000, TRANSITION_FIELDS, env.agent_ids, seed=args.seed)
    tournament = TournamentSelection(TournamentConfig(), args.population, seed=args.seed)
    mutation = Mutations(MutationConfig(), seed=args.seed)
    return env, pop, memory, tournament, mutation


def throughput(args, report: Report) -> None:
    """Collection and overall rates at batch 128, learn_step 100, against the raw env rate.

    The machine may be shared, and its speed drifts over seconds: the raw rate is measured right
    before and right after every generation, and each generation's rates are compared with the
    mean of those two. The figure is the median over generations (the range is printed too).
    """
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
    report.figure("raw_env_steps_per_s", summarize(references),
                  f"raw env (sync, {args.num_envs} copies, random actions), per generation: "
                  f"median {np.median(references):,.0f} steps/s "
                  f"({min(references):,.0f} to {max(references):,.0f})")  # fmt: skip
    report.figure("collect_env_steps_per_s", summarize(collect))
    report.figure("collect_fraction_of_raw", summarize(collect_ratios),
                  f"population collection ({args.backend}, batch 128, learn_step 100): median "
                  f"{np.median(collect):,.0f} env steps/s; {100 * np.median(collect_ratios):.0f} "
                  f"% of the raw rate (per generation {100 * min(collect_ratios):.0f} to "
                  f"{100 * max(collect_ratios):.0f} %, {len(collect)} generations)")  # fmt: skip
    report.figure("overall_env_steps_per_s", summarize(overall))
    report.figure("overall_fraction_of_raw", summarize(overall_ratios),
                  f"  including evaluation/selection/mutation: median {np.median(overall):,.0f} "
                  f"env steps/s; {100 * np.median(overall_ratios):.0f} % of the raw "
                  f"rate")  # fmt: skip


def backend_run(backend: str, args, fast: bool = True) -> tuple[float, list[list[float]]]:
    """One seeded ``train_multi_agent`` run: env-steps/s over its wall time, fitness history."""
    env = make_vec_env(ENV, 8, seed=0, continuous_actions=True, backend=backend, fast=fast)
    hp = {"batch_size": 128, "learn_step": 100}
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [64, 64]}, hp, 4, seed=0)
    memory = MultiAgentReplayBuffer(100_000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    tournament = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0)
    mutation = mutations_from_keywords(
        no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
        rl_hp=0.2, rand_seed=0,
    )  # fmt: skip
    start = time.perf_counter()
    _, fitness = train_multi_agent(
        env, pop, memory, max_steps=args.backend_steps, evo_steps=4000, tournament=tournament,
        mutation=mutation, progress=False, seed=0,
    )  # fmt: skip
    wall = time.perf_counter() - start
    env.close()
    return args.backend_steps / wall, fitness


def backends(args, report: Report) -> None:
    """Sync against async in ``train_multi_agent``, alternating; ratio of the medians."""

    def show(repeat: int, backend: str, result: tuple[float, list]) -> None:
        print(f"{backend:>5}: {result[0]:,.0f} env-steps/s", flush=True)

    runs = alternate({b: (lambda b=b: backend_run(b, args)) for b in ("sync", "async")},
                     args.repeats, show)  # fmt: skip
    rates = {backend: [rate for rate, _ in results] for backend, results in runs.items()}
    against = compare(rates, "sync")
    report.figure("backends_env_steps_per_s", rates)
    report.figure("backends_async_over_sync", against["async"],
                  f"async / sync (medians): {against['async']['ratio_of_medians']:.2f}x")
    histories = {backend: results[0][1] for backend, results in runs.items()}
    same = histories["sync"] == histories["async"]
    report.figure("backends_identical_fitness", same, f"identical fitness histories: {same}")


def env_paths(args, report: Report) -> None:
    """mpe2's fast path against PettingZoo's in ``train_multi_agent`` at AgileRL's tutorial
    settings (sync backend), alternating; ratio of the medians, identical fitness."""

    def show(repeat: int, path: str, result: tuple[float, list]) -> None:
        print(f"{path:>10}: {result[0]:,.0f} env-steps/s", flush=True)

    paths = {"pettingzoo": False, "fast": True}
    runs = alternate({p: (lambda f=f: backend_run("sync", args, fast=f)) for p, f in paths.items()},
                     args.repeats, show)  # fmt: skip
    rates = {path: [rate for rate, _ in results] for path, results in runs.items()}
    against = compare(rates, "pettingzoo")
    report.figure("envpaths_env_steps_per_s", rates)
    report.figure("envpaths_fast_over_pettingzoo", against["fast"],
                  f"fast / pettingzoo (medians): {against['fast']['ratio_of_medians']:.2f}x")
    same = runs["fast"][0][1] == runs["pettingzoo"][0][1]
    report.figure("envpaths_identical_fitness", same, f"identical fitness histories: {same}")


def time_to_score(args, report: Report) -> None:
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
    report.figure("score_reached_after_s", reached)
    report.figure("score_env_steps", state.env_steps)
    report.figure("score_generations", state.generation)
    if reached is None:
        print(f"greedy score {args.score} NOT reached within {training_time:.0f}s ({settings})")
    else:
        print(f"greedy score >= {args.score} after {reached:.1f}s ({settings}, "
              f"{state.env_steps:,} env steps, {state.generation} generations)")  # fmt: skip


PARTS = ("throughput", "backends", "envpaths", "score")


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--parts", default="throughput,score",
                     help=f"comma-separated, some of {','.join(PARTS)}")  # fmt: skip
    cli.add_argument("--backend", choices=["sync", "async"], default="sync",
                     help="env backend of the throughput and score parts")  # fmt: skip
    cli.add_argument("--workers", type=int, default=None, help="async workers (default: auto)")
    cli.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    cli.add_argument("--num-envs", type=int, default=8)
    cli.add_argument("--population", type=int, default=4)
    cli.add_argument("--evo-steps", type=int, default=3000)
    cli.add_argument("--throughput-steps", type=int, default=96_000)
    cli.add_argument("--backend-steps", type=int, default=48_000, help="backends part, per run")
    cli.add_argument("--repeats", type=int, default=2, help="backends part: runs per backend")
    cli.add_argument("--batch-size", type=int, default=128, help="score part")
    cli.add_argument("--learn-step", type=int, default=10, help="score part")
    cli.add_argument("--max-steps", type=int, default=1_000_000)
    cli.add_argument("--max-seconds", type=float, default=240.0)
    cli.add_argument("--score", type=float, default=-20.0)
    cli.add_argument("--seed", type=int, default=0)
    args = cli.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        cli.error(f"--parts: unknown {unknown}; expected some of {list(PARTS)}")
    torch.set_num_threads(args.threads)
    report = Report(__file__, args)
    report.line(f"torch threads {args.threads}")
    for part in PARTS:
        if part in parts:
            {"throughput": throughput, "backends": backends, "envpaths": env_paths,
             "score": time_to_score}[part](
                args, report
            )
    report.write()


if __name__ == "__main__":
    main()
