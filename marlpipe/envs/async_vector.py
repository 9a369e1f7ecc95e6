"""The ``"async"`` backend of :func:`~marlpipe.envs.vector.make_vec_env`: env copies in worker
subprocesses (spawned), each worker stepping a :class:`~marlpipe.envs.vector.SyncVecEnv` slice."""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from typing import Any

import numpy as np

from marlpipe.envs.factory import make_env
from marlpipe.envs.spec import EnvSpec
from marlpipe.envs.vector import MASK_KEYS, SyncVecEnv, copy_seeds, default_masks


def _worker(conn, name, num_envs, seeds, channels_last, env_kwargs) -> None:
    try:
        vec = SyncVecEnv(name, num_envs, channels_last=channels_last, seeds=seeds, **env_kwargs)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        conn.close()
        return
    conn.send(("ok", None))
    while True:
        try:
            command, payload = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        try:
            if command == "step":
                conn.send(("ok", vec.step(payload)))
            elif command == "reset":
                conn.send(("ok", vec.reset(seeds=payload)))
            elif command == "close":
                vec.close()
                conn.send(("ok", None))
                break
        except BaseException:
            conn.send(("error", traceback.format_exc()))
    conn.close()


class AsyncVecEnv:
    """N copies spread over worker subprocesses that step while this process does other work.

    Each worker runs a :class:`SyncVecEnv` over a contiguous slice of the copies, so results are
    identical to the sync backend with the same seed.
    """

    def __init__(
        self,
        name: str,
        num_envs: int,
        seed: int | None = None,
        channels_last: bool = False,
        num_workers: int | None = None,
        **env_kwargs: Any,
    ):
        if num_envs < 1:
            raise ValueError(f"num_envs must be at least 1, got {num_envs}")
        self.num_envs = num_envs
        probe = make_env(name, **env_kwargs)
        self.spec = EnvSpec.from_env(probe, channels_last, name, env_kwargs)
        probe.close()
        self.agent_ids = self.spec.agent_ids
        num_workers = max(1, min(num_envs, num_workers or os.cpu_count() or 1))
        seeds = copy_seeds(seed, num_envs)
        bounds = np.linspace(0, num_envs, num_workers + 1).astype(int)
        self._slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        ctx = mp.get_context("spawn")
        self._conns, self._procs = [], []
        for part in self._slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker,
                args=(child, name, part.stop - part.start, seeds[part], channels_last, env_kwargs),
                daemon=True,
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._gather()
        self._waiting = False

    def _gather(self) -> list:
        results, errors = [], []
        for conn in self._conns:
            try:
                status, payload = conn.recv()
            except EOFError:
                status, payload = "error", "the worker process exited unexpectedly"
            (errors if status == "error" else results).append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])
        return results

    def reset(self, seed: int | None = None):
        seeds = copy_seeds(seed, self.num_envs) if seed is not None else None
        for conn, part in zip(self._conns, self._slices, strict=True):
            conn.send(("reset", None if seeds is None else seeds[part]))
        parts = self._gather()
        obs = _concat([p[0] for p in parts])
        return obs, self._concat_infos([p[1] for p in parts])

    def step_async(self, actions: dict[str, np.ndarray]) -> None:
        for conn, part in zip(self._conns, self._slices, strict=True):
            conn.send(("step", {a: np.asarray(v)[part] for a, v in actions.items()}))
        self._waiting = True

    def step_wait(self):
        if not self._waiting:  # the workers would never answer: fail instead of hanging
            raise RuntimeError("step_wait() called without a pending step_async()")
        parts = self._gather()
        self._waiting = False
        obs, rew, term, trunc = (_concat([p[k] for p in parts]) for k in range(4))
        return obs, rew, term, trunc, self._concat_infos([p[4] for p in parts])

    def step(self, actions: dict[str, np.ndarray]):
        self.step_async(actions)
        return self.step_wait()

    def _concat_infos(self, parts: list[dict[str, Any]]) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        if "final_obs" in parts[0]:
            infos["final_obs"] = _concat([p["final_obs"] for p in parts])
            infos["_final_obs"] = np.concatenate([p["_final_obs"] for p in parts])
        # a worker whose copies report no masking sends none: fill in defaults for its slice
        if any(MASK_KEYS[0] in p for p in parts):
            parts = [
                p if MASK_KEYS[0] in p else default_masks(self.spec, s.stop - s.start)
                for p, s in zip(parts, self._slices, strict=True)
            ]
            for key in MASK_KEYS:
                infos[key] = _concat([p[key] for p in parts])
        return infos

    def close(self) -> None:
        """Stop every worker; none is left behind even if a worker hangs."""
        for conn in getattr(self, "_conns", []):
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for proc in getattr(self, "_procs", []):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in getattr(self, "_conns", []):
            conn.close()
        self._conns, self._procs = [], []

    def __del__(self):
        self.close()


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
