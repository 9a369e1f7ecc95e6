"""Raw env steps/s of speaker-listener with random actions: one env, sync x8, async x8; then
mpe2 (sync backend) beside VMAS at 8, 64, 512 and 2,048 copies.

Run: python benchmarks/bench_envs.py [--seconds 5] [--cell-seconds 2] [--device cpu]
An env step here is one step of one env copy (a vector step of 8 copies counts 8). The VMAS
columns: ``marlpipe`` is :class:`~marlpipe.envs.vmas_env.VmasVecEnv` (numpy actions in, numpy
observations out, auto-reset); ``torch`` is VMAS's own ``step`` on torch tensors with a batched
reset at ``max_steps``, i.e. what keeping torch tensors end to end could at best give.
``--device cuda`` runs both VMAS columns on the GPU (mpe2 is numpy code and stays on the CPU);
the ``torch`` column then waits for the GPU before it stops the clock.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import time

import numpy as np

from marlpipe.envs import make_env, make_vec_env, random_actions

NAME = "mpe2.simple_speaker_listener_v4"
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
    backend: str, num_envs: int, seconds: float, name: str = NAME, device: str = "cpu"
) -> float:
    """Env-steps/s of ``num_envs`` copies, at least one vector step however slow."""
    vec = make_vec_env(
        name, num_envs, backend=backend, seed=0, device=device, continuous_actions=True
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


def synchronize(device: str) -> None:
    """Wait for queued GPU work so that a timing covers it (nothing to wait for on a CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def require_device(parser: argparse.ArgumentParser, device: str) -> None:
    """Stop with one line naming ``--device`` when it asks for CUDA that torch does not see."""
    import torch

    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {device}: this torch sees no CUDA device")


def cpu_model() -> str:
    """``lscpu``'s model name and the widest AVX it lists, e.g. ``AMD EPYC (AVX-512)``."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no lscpu)"
    model = next((line.split(":", 1)[1].strip() for line in out.splitlines()
                  if line.startswith("Model name:")), "unknown")  # fmt: skip
    simd = "AVX-512" if "avx512f" in out else "AVX2" if "avx2" in out else "no AVX2"
    return f"{model} ({simd})"


def side_by_side(seconds: float, device: str = "cpu") -> None:
    """mpe2 (sync) and VMAS (on ``device``) env-steps/s at each of :data:`COPIES` copies."""
    import torch

    print(f"\nspeaker-listener, random continuous actions, {torch.get_num_threads()} torch "
          f"thread(s), VMAS on {device}, about {seconds:g} s per cell")  # fmt: skip
    print(f"{'copies':>7} {'mpe2 sync':>12} {'vmas marlpipe':>14} {'vmas torch':>12} {'ratio':>7}")
    have_vmas = importlib.util.find_spec("vmas") is not None
    for num_envs in COPIES:
        mpe2 = vector_rate("sync", num_envs, seconds)
        if have_vmas:
            ours = vector_rate("sync", num_envs, seconds, VMAS_NAME, device)
            raw = vmas_torch_rate(num_envs, seconds, device)
            cells = f"{ours:14.0f} {raw:12.0f} {ours / mpe2:6.1f}x"
        else:
            cells = f"{'(no vmas)':>14}"
        print(f"{num_envs:>7} {mpe2:12.0f} {cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--cell-seconds", type=float, default=2.0)
    parser.add_argument("--device", default="cpu", help="torch device of the VMAS columns")
    args = parser.parse_args()
    require_device(parser, args.device)
    print(f"CPU: {cpu_model()}")
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
    side_by_side(args.cell_seconds, args.device)


if __name__ == "__main__":
    main()
