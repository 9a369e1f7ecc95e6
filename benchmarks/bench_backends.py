"""The sync and async env backends side by side, as a new user meets them.

``train_multi_agent`` with a seed at AgileRL's tutorial settings (4 MATD3 members, 8 copies of
speaker-listener, batch 128, learn_step 100), run alternately with each backend in one process
so that both see the same machine. Prints env-steps/s of each run, the async/sync ratio of the
medians, and whether the fitness histories are identical (they must be).

    python benchmarks/bench_backends.py [--steps 48000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from marlpipe import MultiAgentReplayBuffer, make_vec_env
from marlpipe.evolution import Mutations, TournamentSelection, create_population
from marlpipe.training import train_multi_agent

FIELDS = ["state", "action", "reward", "next_state", "done"]


def run(backend: str, steps: int) -> tuple[float, list[list[float]]]:
    """One seeded ``train_multi_agent`` run: env-steps/s over its wall time, fitness history."""
    env = make_vec_env(
        "mpe2.simple_speaker_listener_v4", 8, seed=0, continuous_actions=True, backend=backend
    )
    hp = {"batch_size": 128, "learn_step": 100}
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [64, 64]}, hp, 4, seed=0)
    memory = MultiAgentReplayBuffer(100_000, FIELDS, env.agent_ids, seed=0)
    tournament = TournamentSelection.from_keywords(2, True, 4, eval_loop=1, rand_seed=0)
    mutation = Mutations.from_keywords(
        no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
        rl_hp=0.2, rand_seed=0,
    )  # fmt: skip
    start = time.perf_counter()
    _, fitness = train_multi_agent(
        env, pop, memory, max_steps=steps, evo_steps=4000, tournament=tournament,
        mutation=mutation, progress=False, seed=0,
    )  # fmt: skip
    wall = time.perf_counter() - start
    env.close()
    return steps / wall, fitness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=48_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"cpu: {platform.processor() or platform.machine()}, torch threads 1")
    rates: dict[str, list[float]] = {"sync": [], "async": []}
    histories: dict[str, list] = {}
    for _ in range(args.repeats):
        for backend in ("sync", "async"):
            rate, fitness = run(backend, args.steps)
            rates[backend].append(rate)
            histories.setdefault(backend, fitness)
            print(f"{backend:>5}: {rate:,.0f} env-steps/s")
    ratio = statistics.median(rates["async"]) / statistics.median(rates["sync"])
    print(f"async / sync (medians): {ratio:.2f}x")
    print(f"identical fitness histories: {histories['sync'] == histories['async']}")


if __name__ == "__main__":
    main()
