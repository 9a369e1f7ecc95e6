"""Raw env steps/s of speaker-listener with random actions: one env, sync x8, async x8; then
mpe2 (sync backend) beside VMAS at 8, 64, 512 and 2,048 copies; then the fast mpe2 path against
the PettingZoo path (``env.fast``), and sync against async on the fast path.

Run: python benchmarks/bench_envs.py [--seconds 5] [--cell-seconds 2] [--device cpu]
[--copies 8,64,512,2048] [--fast-only] [--fast-copies 1,8,64] [--repeats 5]
[--split-steps 20000] [--json PATH]
An env step here is one step of one env copy (a vector step of 8 copies counts 8). The fast
path table (``--fast-only``: that table alone) runs speaker-listener and spread (continuous
actions) at each of ``--fast-copies``, ``--repeats`` cells of ``--cell-seconds`` per side in
alternating order (PettingZoo, fast, PettingZoo, ...), and prints the medians, the ratio of the
medians and the range of the paired ratios; then sync and async, both on the fast path, at
``--num-envs`` copies, alternating the same way; then where one fast-path env step of each
task goes at 1 copy (mpe2's world step, rewards, observations, the rest), over
``--split-steps`` steps (0 skips it). The single/sync/async lines and the VMAS
columns use the default (fast) path. The VMAS
columns: ``marlpipe`` is :class:`~marlpipe.envs.vmas_env.VmasVecEnv` (numpy actions in, numpy
observations out, auto-reset); ``torch`` is VMAS's own ``step`` on torch tensors with a batched
reset at ``max_steps``, i.e. what keeping torch tensors end to end could at best give.
``--device cuda`` runs both VMAS columns on the GPU (mpe2 is numpy code and stays on the CPU);
the ``torch`` column then waits for the GPU before it stops the clock.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
from harness import (
    Report,
    alternate,
    compare,
    parser,
    require_device,
    synchronize,
    time_calls,
)

from marlpipe.envs import make_env, make_vec_env, random_actions

NAME = "mpe2.simple_speaker_listener_v4"
FAST_TASKS = ("mpe2.simple_speaker_listener_v4", "mpe2.simple_spread_v3")
VMAS_NAME = "vmas.simple_speaker_listener"
COPIES = (8, 64, 512, 2048)


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


def vector_rate(
    backend: str,
    num_envs: int,
    seconds: float,
    name: str = NAME,
    device: str = "cpu",
    fast: bool = True,
) -> float:
    """Env-steps/s of ``num_envs`` copies, at least one vector step however slow."""
    vec = make_vec_env(
        name, num_envs, backend=backend, seed=0, device=device, fast=fast, continuous_actions=True
    )
    try:
        vec.reset()
        rng = np.random.default_rng(0)
        batches = [random_actions(vec.spec, num_envs, rng) for _ in range(64)]
        steps, start = 0, time.perf_counter()
        while steps == 0 or time.perf_counter() - start < seconds:
            vec.step(batches[steps % 64])
            steps += 1
        return steps * num_envs / (time.perf_counter() - start)
    finally:
        vec.close()


def vmas_torch_rate(num_envs: int, seconds: float, device: str = "cpu") -> float:
    """VMAS's own batched step on torch tensors (no numpy boundary), reset every 25 steps."""
    import torch
    import vmas

    env = vmas.make_env(
        "simple_speaker_listener", num_envs=num_envs, device=device, seed=0, dict_spaces=True,
        max_steps=25, terminated_truncated=True, clamp_actions=True,
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    batches = [
        {a.name: torch.rand((num_envs, env.get_agent_action_size(a)), generator=generator)
         .to(device) for a in env.agents}
        for _ in range(64)
    ]  # fmt: skip
    env.reset()
    steps, start = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - start < seconds:
        _, _, terminated, truncated, _ = env.step(batches[steps % 64])
        if bool((terminated | truncated).all()):
            env.reset()
        steps += 1
    synchronize(device)
    return steps * num_envs / (time.perf_counter() - start)


def side_by_side(report: Report, seconds: float, device: str, copies: tuple[int, ...]) -> None:
    """mpe2 (sync) and VMAS (on ``device``) env-steps/s at each number of ``copies``."""
    import torch

    report.figure("torch_threads", torch.get_num_threads())
    report.line(f"\nspeaker-listener, random continuous actions, {torch.get_num_threads()} torch "
                f"thread(s), VMAS on {device}, about {seconds:g} s per cell")  # fmt: skip
    report.line(f"{'copies':>7} {'mpe2 sync':>12} {'vmas marlpipe':>14} {'vmas torch':>12} "
                f"{'ratio':>7}")  # fmt: skip
    have_vmas = importlib.util.find_spec("vmas") is not None
    rows = []
    for num_envs in copies:
        row: dict[str, float | int | None] = {"copies": num_envs}
        row["mpe2_sync"] = mpe2 = vector_rate("sync", num_envs, seconds)
        if have_vmas:
            row["vmas_marlpipe"] = ours = vector_rate("sync", num_envs, seconds, VMAS_NAME, device)
            row["vmas_torch"] = raw = vmas_torch_rate(num_envs, seconds, device)
            cells = f"{ours:14.0f} {raw:12.0f} {ours / mpe2:6.1f}x"
        else:
            row["vmas_marlpipe"] = row["vmas_torch"] = None
            cells = f"{'(no vmas)':>14}"
        rows.append(row)
        report.line(f"{num_envs:>7} {mpe2:12.0f} {cells}")
    report.figure("side_by_side_env_steps_per_s", rows)


def _paired(against: dict, side: str) -> str:
    ratios = against[side]["paired_ratios"]
    return f"{against[side]['ratio_of_medians']:5.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


def fast_path(report: Report, args) -> None:
    """The fast mpe2 path against the PettingZoo path, then sync against async on it."""
    seconds, repeats = args.cell_seconds, args.repeats
    copies = tuple(int(n) for n in args.fast_copies.split(","))
    report.line(f"\nfast mpe2 path vs PettingZoo path (sync, random continuous actions), median "
                f"of {repeats} alternating {seconds:g} s cells; ratio: fast/PettingZoo "
                "(range of the paired ratios)")  # fmt: skip
    report.line(f"{'task':<28} {'copies':>6} {'PettingZoo':>11} {'fast':>9} {'ratio':>20}")
    rows = []
    for name in FAST_TASKS:
        for n in copies:
            sides = {
                "pettingzoo": lambda n=n, name=name: vector_rate("sync", n, seconds, name,
                                                                 fast=False),
                "fast": lambda n=n, name=name: vector_rate("sync", n, seconds, name),
            }  # fmt: skip
            against = compare(alternate(sides, repeats), "pettingzoo")
            slow, fast = against["pettingzoo"]["median"], against["fast"]["median"]
            rows.append({"env": name, "copies": n, **against})
            report.line(f"{name.split('.')[1]:<28} {n:>6} {slow:11.0f} {fast:9.0f} "
                        f"{_paired(against, 'fast'):>20}")  # fmt: skip
    report.figure("fast_vs_pettingzoo_env_steps_per_s", rows)
    n = args.num_envs
    sides = {b: (lambda b=b: vector_rate(b, n, seconds)) for b in ("sync", "async")}
    against = compare(alternate(sides, repeats), "sync")
    report.figure(
        "fast_sync_vs_async", against,
        f"fast path, {n} copies of speaker-listener: sync {against['sync']['median']:.0f}, "
        f"async {against['async']['median']:.0f} env-steps/s, async/sync "
        f"{_paired(against, 'async')}",
    )  # fmt: skip


def step_split(report: Report, steps: int) -> None:
    """Where one env step of the fast path goes, at 1 copy: mpe2's ``World.step``, the
    scenario's rewards (``global_reward`` and ``reward``), the rest of mpe2's
    ``_execute_world_step`` (setting the actions), the scenario's observations and
    ``is_terminal``, and marlpipe's own code (checks, the loop, batching), timed by
    ``perf_counter`` wrappers on the copy's own methods (each wrapper adds about 0.2 us)."""
    report.line(f"\nwhere a fast-path env step goes (1 copy, {steps} steps, random continuous "
                "actions; us per env step)")  # fmt: skip
    rows = []
    for name in FAST_TASKS:
        vec = make_vec_env(name, 1, seed=0)
        raw = vec._raws[0]
        keys = ("execute", "world_step", "rewards", "observations", "is_terminal")
        totals = dict.fromkeys(keys, 0.0)
        scenario = raw.scenario
        time_calls(raw, "_execute_world_step", totals, "execute")
        time_calls(raw.world, "step", totals, "world_step")
        time_calls(scenario, "reward", totals, "rewards")
        time_calls(scenario, "global_reward", totals, "rewards")
        time_calls(scenario, "observation", totals, "observations")
        time_calls(scenario, "is_terminal", totals, "is_terminal")
        rng = np.random.default_rng(0)
        batches = [random_actions(vec.spec, 1, rng) for _ in range(100)]
        vec.reset(seed=0)
        start = time.perf_counter()
        for k in range(steps):
            vec.step(batches[k % 100])
        total = time.perf_counter() - start
        vec.close()
        us = {k: v / steps * 1e6 for k, v in totals.items()}
        parts = {
            "world_step": us["world_step"],
            "rewards": us["rewards"],
            "set_actions": us["execute"] - us["world_step"] - us["rewards"],
            "observations": us["observations"],
            "is_terminal": us["is_terminal"],
        }
        parts["marlpipe"] = total / steps * 1e6 - sum(parts.values())
        rows.append({"env": name, "us_per_env_step": total / steps * 1e6, **parts})
        report.line(f"{name.split('.')[1]:<28} {total / steps * 1e6:6.1f} us: "
                    + ", ".join(f"{k} {v:.1f} ({v / (total / steps * 1e6):.0%})"
                                for k, v in parts.items()))  # fmt: skip
    report.figure("fast_env_step_split", rows)


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--seconds", type=float, default=5.0, help="per single/sync/async figure")
    cli.add_argument("--num-envs", type=int, default=8)
    cli.add_argument("--cell-seconds", type=float, default=2.0, help="per side-by-side cell")
    cli.add_argument("--copies", default=",".join(map(str, COPIES)),
                     help="side-by-side copies, comma-separated")  # fmt: skip
    cli.add_argument("--device", default="cpu", help="torch device of the VMAS columns")
    cli.add_argument("--fast-only", action="store_true",
                     help="only the fast-path table (fast vs PettingZoo, sync vs async)")
    cli.add_argument("--fast-copies", default="1,8,64", help="copies of the fast-path table")
    cli.add_argument("--repeats", type=int, default=5,
                     help="alternating cells per side in the fast-path table")  # fmt: skip
    cli.add_argument("--split-steps", type=int, default=20000,
                     help="env steps of the per-part split of a fast-path step (0: none)")
    args = cli.parse_args()
    require_device(cli, args.device)
    copies = tuple(int(n) for n in args.copies.split(","))
    report = Report(__file__, args)
    if args.fast_only:
        fast_path(report, args)
        if args.split_steps:
            step_split(report, args.split_steps)
        report.write()
        return
    one = single_env_rate(args.seconds)
    sync = vector_rate("sync", args.num_envs, args.seconds)
    asyn = vector_rate("async", args.num_envs, args.seconds)
    n = args.num_envs
    report.figure("single_env_steps_per_s", one, f"single env          : {one:9.0f} env-steps/s")
    report.figure(
        "sync_env_steps_per_s", sync,
        f"sync  x{n:<2}           : {sync:9.0f} env-steps/s  ({sync / one:.2f}x single)",
    )  # fmt: skip
    report.figure(
        "async_env_steps_per_s", asyn,
        f"async x{n:<2}           : {asyn:9.0f} env-steps/s  ({asyn / one:.2f}x single)",
    )  # fmt: skip
    side_by_side(report, args.cell_seconds, args.device, copies)
    fast_path(report, args)
    if args.split_steps:
        step_split(report, args.split_steps)
    report.write()


if __name__ == "__main__":
    main()
