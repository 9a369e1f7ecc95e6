"""Raw env steps/s of speaker-listener with random actions: one env, sync x8, async x8.

Run: python benchmarks/bench_envs.py [--seconds 5]
An env step here is one step of one env copy (a vector step of 8 copies counts 8).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from marlpipe.envs import make_env, make_vec_env, random_actions

NAME = "mpe2.simple_speaker_listener_v4"


def single_env_rate(seconds: float) -> float:
    env = make_env(NAME, continuous_actions=True)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        actions = random_actions_single(env, rng)
        env.step(actions)
        steps += 1
        if not env.agents:
            env.reset()
    return steps / (time.perf_counter() - start)


def random_actions_single(env, rng):
    return {
        a: rng.uniform(0.0, 1.0, env.action_space(a).shape).astype(np.float32) for a in env.agents
    }


def vector_rate(backend: str, num_envs: int, seconds: float) -> float:
    vec = make_vec_env(NAME, num_envs, backend=backend, seed=0, continuous_actions=True)
    try:
        vec.reset()
        rng = np.random.default_rng(0)
        batches = [random_actions(vec.spec, num_envs, rng) for _ in range(64)]
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            vec.step(batches[steps % 64])
            steps += 1
        return steps * num_envs / (time.perf_counter() - start)
    finally:
        vec.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--num-envs", type=int, default=8)
    args = parser.parse_args()
    one = single_env_rate(args.seconds)
    sync = vector_rate("sync", args.num_envs, args.seconds)
    asyn = vector_rate("async", args.num_envs, args.seconds)
    print(f"single env          : {one:9.0f} env-steps/s")
    print(
        f"sync  x{args.num_envs:<2}           : {sync:9.0f} env-steps/s  ({sync / one:.2f}x single)"
    )
    print(
        f"async x{args.num_envs:<2}           : {asyn:9.0f} env-steps/s  ({asyn / one:.2f}x single)"
    )


if __name__ == "__main__":
    main()
