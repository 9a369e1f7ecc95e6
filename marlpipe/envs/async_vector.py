"""The ``"async"`` backend of :func:`~marlpipe.envs.vector.make_vec_env`: env copies in worker
subprocesses (spawned), each worker stepping a :class:`~marlpipe.envs.vector.SyncVecEnv` slice.

Actions, observations, rewards and done flags travel through one shared-memory block that the
parent and every worker view as numpy arrays; a step is signalled through a pair of semaphores
per worker. Only the masking info, which most envs never report, and errors go over a pipe.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from marlpipe.envs.factory import make_env
from marlpipe.envs.spec import EnvSpec
from marlpipe.envs.vector import (
    MASK_KEYS,
    SyncVecEnv,
    action_dtype,
    copy_seeds,
    default_masks,
    observation_dtype,
)

_ALIGN = 64  # bytes: every array starts on its own cache line

Layout = list[tuple[str, tuple[int, ...], str]]


def step_layout(env: Any, spec: EnvSpec, num_envs: int) -> Layout:
    """``(name, shape, dtype)`` of every array one vector step exchanges, for all copies."""
    layout: Layout = []
    for agent in spec.agent_ids:
        obs_shape = (num_envs, *spec.observations[agent].shape)
        obs_dtype = observation_dtype(env, spec, agent).str
        act = spec.actions[agent]
        act_shape = (num_envs,) if act.discrete else (num_envs, *act.shape)
        layout += [
            (f"obs/{agent}", obs_shape, obs_dtype),
            (f"final_obs/{agent}", obs_shape, obs_dtype),
            (f"action/{agent}", act_shape, action_dtype(env, spec, agent).str),
            (f"reward/{agent}", (num_envs,), np.dtype(np.float32).str),
            (f"term/{agent}", (num_envs,), np.dtype(bool).str),
            (f"trunc/{agent}", (num_envs,), np.dtype(bool).str),
        ]
    layout.append(("finished", (num_envs,), np.dtype(bool).str))
    return layout


def shared_arrays(layout: Layout, block: Any) -> dict[str, np.ndarray]:
    """Numpy views of ``block`` (a ``RawArray`` of :func:`block_size` bytes), one per entry."""
    base = np.frombuffer(block, dtype=np.uint8)
    arrays, offset = {}, 0
    for name, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        arrays[name] = base[offset : offset + size].view(dtype).reshape(shape)
        offset += -(-size // _ALIGN) * _ALIGN
    return arrays


def block_size(layout: Layout) -> int:
    """Bytes of shared memory that :func:`shared_arrays` lays ``layout`` over."""
    total = 0
    for _, shape, dtype in layout:
        size = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        total += -(-size // _ALIGN) * _ALIGN
    return max(1, total)


def _mask_infos(infos: dict[str, Any]) -> dict[str, Any] | None:
    """What of a step's infos goes over the pipe: the masking keys, if the copies report any."""
    return {k: infos[k] for k in MASK_KEYS if k in infos} or None


# A worker's control word (command) and status word, beside the data in shared memory.
_STEP, _RESET, _CLOSE = 1, 2, 3
_DONE, _DONE_WITH_PAYLOAD, _FAILED = 0, 1, 2
# How long each side polls its semaphore before it blocks. A blocked process costs a wake-up of
# tens of microseconds (far more on virtual machines) on every step; polling for about one env
# step costs nothing while this process has a core to itself (only then do the sides poll).
_POLL_SECONDS = 0.002


def _acquire(semaphore: Any, poll: bool, alive: Callable[[], bool]) -> bool:
    """Take ``semaphore``, first polling for :data:`_POLL_SECONDS` if ``poll``, then blocking;
    ``False`` once ``alive()`` says the other side is gone."""
    deadline = time.perf_counter() + (_POLL_SECONDS if poll else 0.0)
    while time.perf_counter() < deadline:
        if semaphore.acquire(False):
            return True
    while not semaphore.acquire(timeout=0.5):
        if not alive():
            return semaphore.acquire(False)
    return True


def _worker(conn, go, done, control, poll, name, part, seeds, channels_last, env_kwargs, *data):
    parent = os.getppid()
    try:
        vec = SyncVecEnv(
            name, part.stop - part.start, channels_last=channels_last, seeds=seeds, **env_kwargs
        )
        words = np.frombuffer(control, dtype=np.int64)
        arrays = {key: value[part] for key, value in shared_arrays(*data).items()}
        agents = vec.agent_ids
        actions = {a: arrays[f"action/{a}"] for a in agents}
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        conn.close()
        return
    conn.send(("ok", None))
    while _acquire(go, poll, lambda: os.getppid() == parent):
        command, payload = int(words[0]), None
        try:
            if command == _STEP:
                obs, rewards, terms, truncs, infos = vec.step(actions)
                for a in agents:
                    arrays[f"obs/{a}"][...] = obs[a]
                    arrays[f"final_obs/{a}"][...] = infos["final_obs"][a]
                    arrays[f"reward/{a}"][...] = rewards[a]
                    arrays[f"term/{a}"][...] = terms[a]
                    arrays[f"trunc/{a}"][...] = truncs[a]
                arrays["finished"][...] = infos["_final_obs"]
                payload = _mask_infos(infos)
            elif command == _RESET:
                obs, infos = vec.reset(seeds=conn.recv())
                for a in agents:
                    arrays[f"obs/{a}"][...] = obs[a]
                payload = _mask_infos(infos)
            elif command == _CLOSE:
                vec.close()
                words[1] = _DONE
                done.release()
                break
            words[1] = _DONE if payload is None else _DONE_WITH_PAYLOAD
        except BaseException:
            payload, words[1] = traceback.format_exc(), _FAILED
        done.release()
        # sent after the release: the parent reads it only then, so no pipe buffer can fill up
        if payload is not None:
            conn.send(payload)
    conn.close()


class AsyncVecEnv:
    """N copies spread over worker subprocesses that step while this process does other work.

    Each worker runs a :class:`SyncVecEnv` over a contiguous slice of the copies, so results are
    identical to the sync backend with the same seed. Actions are written to shared memory as
    the action space's dtype (int64 indices for Discrete). ``num_workers`` defaults to one per
    CPU core but one (the core this process acts and learns on), at least one and at most one
    per copy. When every process has a core of its own, workers and this process poll for each
    other's signal for a moment before they block (see :data:`_POLL_SECONDS`).
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
        if num_workers is not None and num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {num_workers}")
        self.num_envs = num_envs
        probe = make_env(name, **env_kwargs)
        self.spec = EnvSpec.from_env(probe, channels_last, name, env_kwargs)
        layout = step_layout(probe, self.spec, num_envs)
        probe.close()
        self.agent_ids = self.spec.agent_ids
        cores = os.cpu_count() or 1
        num_workers = max(1, min(num_envs, num_workers or cores - 1))
        self._poll = num_workers + 1 <= cores
        seeds = copy_seeds(seed, num_envs)
        bounds = np.linspace(0, num_envs, num_workers + 1).astype(int)
        self._slices = [slice(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
        ctx = mp.get_context("spawn")
        block = ctx.RawArray("B", block_size(layout))
        self._arrays = shared_arrays(layout, block)
        self._conns, self._procs, self._workers = [], [], []
        for part in self._slices:
            parent, child = ctx.Pipe()
            go, done, control = ctx.Semaphore(0), ctx.Semaphore(0), ctx.RawArray("q", 2)
            signals = (child, go, done, control, self._poll)
            env_args = (name, part, seeds[part], channels_last, env_kwargs)
            proc = ctx.Process(
                target=_worker, args=(*signals, *env_args, layout, block), daemon=True
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
            self._workers.append((go, done, np.frombuffer(control, dtype=np.int64)))
        self._started()
        self._waiting = False

    def _started(self) -> None:
        """Wait until every worker has built its envs; raise the first worker's error, if any."""
        errors = []
        for conn in self._conns:
            try:
                status, payload = conn.recv()
            except EOFError:
                status, payload = "error", "the worker process exited unexpectedly"
            if status == "error":
                errors.append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])

    def _command(self, command: int) -> None:
        for go, _done, words in self._workers:
            words[0] = command
            go.release()

    def _gather(self) -> list[dict[str, Any] | None]:
        """Wait for every worker's answer: its masking info (``None`` when it has none)."""
        results, errors = [], []
        for conn, proc, (_go, done, words) in zip(
            self._conns, self._procs, self._workers, strict=True
        ):
            if not _acquire(done, self._poll, proc.is_alive):
                errors.append("the worker process exited unexpectedly")
                continue
            status = int(words[1])
            payload = conn.recv() if status != _DONE else None
            (errors if status == _FAILED else results).append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])
        return results

    def _batch(self, kind: str) -> dict[str, np.ndarray]:
        """A copy (the shared block is overwritten by the next step) of one field per agent."""
        return {a: self._arrays[f"{kind}/{a}"].copy() for a in self.agent_ids}

    def reset(self, seed: int | None = None):
        seeds = copy_seeds(seed, self.num_envs) if seed is not None else None
        for conn, part in zip(self._conns, self._slices, strict=True):
            conn.send(None if seeds is None else seeds[part])
        self._command(_RESET)
        infos = self._concat_infos(self._gather())  # the workers have written once they answer
        return self._batch("obs"), infos

    def step_async(self, actions: dict[str, np.ndarray]) -> None:
        if self._waiting:
            raise RuntimeError("step_async() called while a step is pending: call step_wait()")
        for agent in self.agent_ids:
            target = self._arrays[f"action/{agent}"]
            if agent not in actions:
                raise ValueError(f"actions: no entry for agent {agent!r}")
            value = np.asarray(actions[agent])
            if value.shape != target.shape:
                raise ValueError(
                    f"actions[{agent!r}]: expected shape {target.shape} (one row per env copy), "
                    f"got {value.shape}"
                )
            np.copyto(target, value, casting="unsafe")
        self._command(_STEP)
        self._waiting = True

    def step_wait(self):
        if not self._waiting:  # the workers would never answer: fail instead of hanging
            raise RuntimeError("step_wait() called without a pending step_async()")
        self._waiting = False
        infos = self._concat_infos(self._gather())  # the workers have written once they answer
        infos["final_obs"] = self._batch("final_obs")
        infos["_final_obs"] = self._arrays["finished"].copy()
        return (
            self._batch("obs"),
            self._batch("reward"),
            self._batch("term"),
            self._batch("trunc"),
            infos,
        )

    def step(self, actions: dict[str, np.ndarray]):
        self.step_async(actions)
        return self.step_wait()

    def _concat_infos(self, parts: list[dict[str, Any] | None]) -> dict[str, Any]:
        """Masking info of every worker as one batch; a worker whose copies report none sent
        ``None``, and its slice gets the defaults."""
        if all(p is None for p in parts):
            return {}
        parts = [
            p if p is not None else default_masks(self.spec, s.stop - s.start)
            for p, s in zip(parts, self._slices, strict=True)
        ]
        return {
            key: {a: np.concatenate([p[key][a] for p in parts]) for a in self.agent_ids}
            for key in MASK_KEYS
        }

    def close(self) -> None:
        """Stop every worker; none is left behind even if a worker hangs."""
        for go, _done, words in getattr(self, "_workers", []):
            words[0] = _CLOSE
            go.release()
        for proc in getattr(self, "_procs", []):
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for conn in getattr(self, "_conns", []):
            conn.close()
        self._conns, self._procs, self._workers = [], [], []

    def __del__(self):
        self.close()
