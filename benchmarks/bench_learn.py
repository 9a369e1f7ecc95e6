"""Benchmark MATD3 ``learn()`` and a lean training loop on speaker-listener shapes.

Usage: ``python benchmarks/bench_learn.py [--threads N] [--updates 300] [--env-steps 40000]
[--batch-sizes 128,1024] [--hidden 64,64] [--device cpu] [--no-training] [--profile]
[--json PATH]``

Prints the median (and range) of milliseconds per MATD3 update (critic step every call, actor +
targets every second call, as in training) at each batch size (default 128 and 1024) with hidden
layers ``--hidden`` (default 64,64; architecture mutations grow them, e.g. to 128,128,128), then
the env-steps/s of one agent training on 8 sync envs with learn_step 5 (one update per 5
collected transitions) at batch 1024. ``--device cuda`` puts the networks and the sampled
batches (and the lean loop's buffer) on the GPU; each timed update then waits for the GPU
(``synchronize``).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from harness import Report, parser, require_device, summarize, synchronize

from marlpipe.algos import MATD3
from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.envs import make_vec_env

ENV = "mpe2.simple_speaker_listener_v4"


def filled_buffer(
    env, agent: MATD3, transitions: int, seed: int = 0, device: str = "cpu"
) -> MultiAgentReplayBuffer:
    """A buffer (sampling onto ``device``) filled by the (untrained, exploring) agent."""
    buffer = MultiAgentReplayBuffer(
        transitions, TRANSITION_FIELDS, env.agent_ids, device=device, seed=seed
    )
    obs, _ = env.reset(seed=seed)
    while len(buffer) < transitions:
        store, actions = agent.get_action(obs)
        next_obs, rewards, terms, _, infos = env.step(actions)
        buffer.save_to_memory(obs, store, rewards, infos["final_obs"], terms, is_vectorised=True)
        obs = next_obs
    return buffer


def bench_learn(
    batch_size: int,
    updates: int,
    hidden: tuple[int, ...] = (64, 64),
    profile: bool = False,
    device: str = "cpu",
    pre_tanh_penalty: float | None = None,
) -> dict:
    """ms per learn() call over ``updates`` calls (pre-sampled batches, after warm-up), as
    :func:`harness.summarize` gives them (median, min, max);
    with ``profile``, also print torch.profiler's table of the ops that took the time."""
    env = make_vec_env(ENV, 8, seed=0, continuous_actions=True)
    penalty = {} if pre_tanh_penalty is None else {"pre_tanh_penalty": pre_tanh_penalty}
    agent = MATD3(
        env.spec, {"hidden_sizes": list(hidden)}, batch_size=batch_size, seed=0, device=device,
        **penalty,
    )  # fmt: skip
    buffer = filled_buffer(env, agent, 4096, device=device)
    batches = [buffer.sample(batch_size) for _ in range(32)]
    for i in range(50):
        agent.learn(batches[i % 32])
    synchronize(device)
    times = []
    for i in range(updates):
        start = time.perf_counter()
        agent.learn(batches[i % 32])
        synchronize(device)
        times.append(time.perf_counter() - start)
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as torch_profile

        activities = [ProfilerActivity.CPU]
        if torch.device(device).type == "cuda":
            activities.append(ProfilerActivity.CUDA)
        with torch_profile(activities=activities) as prof:
            for i in range(min(updates, 100)):
                agent.learn(batches[i % 32])
        key = "self_device_time_total" if len(activities) > 1 else "self_cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=8))
    env.close()
    return summarize(1000 * t for t in times)


def bench_training(
    env_steps: int, learn_step: int = 5, batch_size: int = 1024, device: str = "cpu"
) -> float:
    """Env transitions per second of a lean training loop (acting, storing, learning)."""
    env = make_vec_env(ENV, 8, seed=0, continuous_actions=True)
    agent = MATD3(
        env.spec, {"hidden_sizes": [64, 64]}, batch_size=batch_size, seed=0, device=device
    )
    buffer = MultiAgentReplayBuffer(
        200_000, TRANSITION_FIELDS, env.agent_ids, device=device, seed=0
    )
    obs, _ = env.reset(seed=0)
    due, collected = 0, 0
    start = time.perf_counter()
    while collected < env_steps:
        store, actions = agent.get_action(obs)
        next_obs, rewards, terms, _, infos = env.step(actions)
        buffer.save_to_memory(obs, store, rewards, infos["final_obs"], terms, is_vectorised=True)
        obs = next_obs
        collected += env.num_envs
        due += env.num_envs
        if len(buffer) >= batch_size:
            while due >= learn_step:
                agent.learn(buffer.sample(batch_size))
                due -= learn_step
    synchronize(device)
    elapsed = time.perf_counter() - start
    env.close()
    return collected / elapsed


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    cli.add_argument("--updates", type=int, default=300)
    cli.add_argument("--env-steps", type=int, default=40_000)
    cli.add_argument("--batch-sizes", default="128,1024", help="comma-separated")
    cli.add_argument("--hidden", default="64,64", help="hidden layer sizes, comma-separated")
    cli.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    cli.add_argument("--no-training", action="store_true", help="skip the training loop")
    cli.add_argument("--profile", action="store_true", help="print the top ops per batch size")
    cli.add_argument("--pre-tanh-penalties", default=None,
                     help="comma-separated init_hp.pre_tanh_penalty values, each measured per "
                          "batch size one after another, with the ratio to the first "
                          "(default: the package default only)")  # fmt: skip
    args = cli.parse_args()
    hidden = tuple(int(n) for n in args.hidden.split(","))
    torch.set_num_threads(args.threads)
    np.set_printoptions(precision=2)
    require_device(cli, args.device)
    report = Report(__file__, args)
    report.figure("torch_version", torch.__version__,
                  f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}")
    learn = {}
    penalties = [None]
    if args.pre_tanh_penalties:
        penalties = [float(p) for p in args.pre_tanh_penalties.split(",")]
    for batch_size in (int(b) for b in args.batch_sizes.split(",")):
        first = None
        for penalty in penalties:
            ms = bench_learn(batch_size, args.updates, hidden, args.profile, args.device, penalty)
            label = "" if penalty is None else f" pre_tanh_penalty {penalty:g}"
            learn[f"{batch_size}{label}"] = ms
            first = first or ms["median"]
            ratio = "" if penalty is None else f", {ms['median'] / first:.3f}x the first"
            print(f"MATD3 learn() hidden {list(hidden)} batch {batch_size:5d}{label}: "
                  f"{ms['median']:.2f} ms/update ({ms['min']:.2f} to {ms['max']:.2f}){ratio}")
    report.figure("learn_ms_per_update_by_batch", learn)
    if not args.no_training:
        rate = bench_training(args.env_steps, device=args.device)
        report.figure("training_env_steps_per_s", rate,
                      f"training (8 envs, learn_step 5, batch 1024): {rate:,.0f} env-steps/s")
    report.write()


if __name__ == "__main__":
    main()
