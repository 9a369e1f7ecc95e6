"""Replay buffer throughput and memory on speaker-listener shapes.

Run: python benchmarks/bench_buffer.py [--seconds 2] [--memory-size 1000000] [--json PATH]
Prints saves/s of vectorised batches (8 envs), samples/s at batch 1024, and the bytes held for
1,000,000 transitions next to the raw float32 bytes of those transitions.
"""

from __future__ import annotations

import numpy as np
from harness import Report, calls_per_second, parser

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer

OBS = {"speaker_0": 3, "listener_0": 11}
ACT = {"speaker_0": 3, "listener_0": 5}
AGENTS = list(OBS)


def transition_batch(num_envs: int, rng: np.random.Generator):
    state = {a: rng.standard_normal((num_envs, OBS[a]), dtype=np.float32) for a in AGENTS}
    action = {a: rng.random((num_envs, ACT[a]), dtype=np.float32) for a in AGENTS}
    reward = {a: rng.standard_normal(num_envs, dtype=np.float32) for a in AGENTS}
    done = {a: np.zeros(num_envs, bool) for a in AGENTS}
    return state, action, reward, state, done


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--seconds", type=float, default=2.0, help="per timed call")
    cli.add_argument("--memory-size", type=int, default=1_000_000, help="transitions held")
    args = cli.parse_args()
    report = Report(__file__, args)
    rng = np.random.default_rng(0)
    memory_size = args.memory_size
    buffer = MultiAgentReplayBuffer(memory_size, TRANSITION_FIELDS, AGENTS, seed=0)
    batch = transition_batch(8, rng)
    saves = calls_per_second(lambda: buffer.save_to_memory(*batch, is_vectorised=True),
                             args.seconds)  # fmt: skip
    report.figure("save_batches_per_s", saves)
    report.figure(
        "save_transitions_per_s", 8 * saves,
        f"save_to_memory (8 envs)   : {saves:9.0f} batches/s = {8 * saves:9.0f} transitions/s",
    )  # fmt: skip
    samples = calls_per_second(lambda: buffer.sample(1024), args.seconds)
    report.figure("samples_per_s_batch_1024", samples,
                  f"sample(1024)              : {samples:9.0f} samples/s")  # fmt: skip

    chunk = min(100_000, memory_size)
    big = transition_batch(chunk, rng)
    for _ in range(-(-memory_size // chunk)):
        buffer.save_to_memory(*big, is_vectorised=True)
    raw = sum(2 * OBS[a] + ACT[a] + 2 for a in AGENTS) * 4 * memory_size
    report.figure("transitions_held", len(buffer))
    report.figure("bytes_held", buffer.nbytes)
    report.figure("raw_float32_bytes", raw)
    report.figure("bytes_ratio", buffer.nbytes / raw,
                  f"bytes for {len(buffer):,} transitions: {buffer.nbytes:,} "
                  f"(raw float32 {raw:,}; ratio {buffer.nbytes / raw:.3f}x)")  # fmt: skip
    report.write()


if __name__ == "__main__":
    main()
