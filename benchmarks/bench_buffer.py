"""Replay buffer throughput and memory on speaker-listener shapes.

Run: python benchmarks/bench_buffer.py
Prints saves/s of vectorised batches (8 envs), samples/s at batch 1024, and the bytes held for
1,000,000 transitions next to the raw float32 bytes of those transitions.
"""

from __future__ import annotations

import time

import numpy as np

from marlpipe.algos.buffer import MultiAgentReplayBuffer

FIELDS = ["state", "action", "reward", "next_state", "done"]
OBS = {"speaker_0": 3, "listener_0": 11}
ACT = {"speaker_0": 3, "listener_0": 5}
AGENTS = list(OBS)


def transition_batch(num_envs: int, rng: np.random.Generator):
    state = {a: rng.standard_normal((num_envs, OBS[a]), dtype=np.float32) for a in AGENTS}
    action = {a: rng.random((num_envs, ACT[a]), dtype=np.float32) for a in AGENTS}
    reward = {a: rng.standard_normal(num_envs, dtype=np.float32) for a in AGENTS}
    done = {a: np.zeros(num_envs, bool) for a in AGENTS}
    return state, action, reward, state, done


def timed(fn, seconds: float = 2.0) -> float:
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def main() -> None:
    rng = np.random.default_rng(0)
    memory_size = 1_000_000
    buffer = MultiAgentReplayBuffer(memory_size, FIELDS, AGENTS, seed=0)
    batch = transition_batch(8, rng)
    saves = timed(lambda: buffer.save_to_memory(*batch, is_vectorised=True))
    print(f"save_to_memory (8 envs)   : {saves:9.0f} batches/s = {8 * saves:9.0f} transitions/s")
    samples = timed(lambda: buffer.sample(1024))
    print(f"sample(1024)              : {samples:9.0f} samples/s")

    big = transition_batch(100_000, rng)
    for _ in range(memory_size // 100_000):
        buffer.save_to_memory(*big, is_vectorised=True)
    raw = sum(2 * OBS[a] + ACT[a] + 2 for a in AGENTS) * 4 * memory_size
    print(f"bytes for {len(buffer):,} transitions: {buffer.nbytes:,} "
          f"(raw float32 {raw:,}; ratio {buffer.nbytes / raw:.3f}x)")


if __name__ == "__main__":
    main()
