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
    copies_slice,
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


# Each worker reads its commands, in order, from a ring of slots in shared memory: one row
# (command, first copy, end copy, status) per slot; a semaphore counts the commands sent and
# another the commands done. The ring has a slot more than the worker has copies: room for every
# step of disjoint copies that may be pending, plus a close.
_COMMAND, _LO, _HI, _STATUS = range(4)
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


def _worker(conn, go, done, control, poll, part, env_args, data) -> None:
    """Step the copies ``part`` (``env_args``: name, seeds, channels_last, env kwargs) on the
    commands in the ring ``control``, with the arrays laid over ``data`` (layout, block)."""
    parent = os.getppid()
    try:
        name, seeds, channels_last, env_kwargs = env_args
        vec = SyncVecEnv(
            name, part.stop - part.start, channels_last=channels_last, seeds=seeds, **env_kwargs
        )
        ring = np.frombuffer(control, dtype=np.int64).reshape(-1, 4)
        arrays = shared_arrays(*data)
        agents = vec.agent_ids
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        conn.close()
        return
    conn.send(("ok", None))
    received = 0
    while _acquire(go, poll, lambda: os.getppid() == parent):
        slot = ring[received % len(ring)]
        received += 1
        command, rows, payload = int(slot[_COMMAND]), slice(int(slot[_LO]), int(slot[_HI])), None
        try:
            if command == _STEP:
                local = slice(rows.start - part.start, rows.stop - part.start)
                vec.step_async({a: arrays[f"action/{a}"][rows] for a in agents}, local)
                obs, rewards, terms, truncs, infos = vec.step_wait()
                for a in agents:
                    arrays[f"obs/{a}"][rows] = obs[a]
                    arrays[f"final_obs/{a}"][rows] = infos["final_obs"][a]
                    arrays[f"reward/{a}"][rows] = rewards[a]
                    arrays[f"term/{a}"][rows] = terms[a]
                    arrays[f"trunc/{a}"][rows] = truncs[a]
                arrays["finished"][rows] = infos["_final_obs"]
                payload = _mask_infos(infos)
            elif command == _RESET:
                obs, infos = vec.reset(seeds=conn.recv())
                for a in agents:
                    arrays[f"obs/{a}"][part] = obs[a]
                payload = _mask_infos(infos)
            elif command == _CLOSE:
                vec.close()
                slot[_STATUS] = _DONE
                done.release()
                break
            slot[_STATUS] = _DONE if payload is None else _DONE_WITH_PAYLOAD
        except BaseException:
            payload, slot[_STATUS] = traceback.format_exc(), _FAILED
        done.release()
        # sent after the release: the parent reads it only then, so no pipe buffer can fill up
        if payload is not None:
            conn.send(payload)
    conn.close()


class _Worker:
    """This process's end of one worker: its copies, process, pipe, semaphores and ring."""

    def __init__(self, ctx, copies: slice, poll: bool, env_args: tuple, data: tuple):
        self.copies, self.poll = copies, poll
        self.conn, child = ctx.Pipe()
        self.go, self.done = ctx.Semaphore(0), ctx.Semaphore(0)
        control = ctx.RawArray("q", 4 * (copies.stop - copies.start + 1))
        self.ring = np.frombuffer(control, dtype=np.int64).reshape(-1, 4)
        self.sent = self.answered = 0
        self.proc = ctx.Process(
            target=_worker,
            args=(child, self.go, self.done, control, poll, copies, env_args, data),
            daemon=True,
        )
        self.proc.start()
        child.close()

    def send(self, command: int, rows: slice | None = None) -> None:
        rows = rows or self.copies
        self.ring[self.sent % len(self.ring)] = (command, rows.start, rows.stop, 0)
        self.sent += 1
        self.go.release()

    def answer(self) -> tuple[int, Any]:
        """``(status, payload)`` of the oldest command not yet answered."""
        if not _acquire(self.done, self.poll, self.proc.is_alive):
            return _FAILED, "the worker process exited unexpectedly"
        status = int(self.ring[self.answered % len(self.ring), _STATUS])
        self.answered += 1
        return status, (self.conn.recv() if status != _DONE else None)


class AsyncVecEnv:
    """N copies spread over worker subprocesses that step while this process does other work.

    Each worker runs a :class:`SyncVecEnv` over a contiguous slice of the copies, so results are
    identical to the sync backend with the same seed. Actions are written to shared memory as
    the action space's dtype (int64 indices for Discrete). ``num_workers`` defaults to one per
    CPU core but one (the core this process acts and learns on), at least one and at most one
    per copy. Steps of disjoint runs of copies may be pending together (see
    :class:`SyncVecEnv`); a worker steps them in the order they were started. Workers and this
    process poll for each other's signal for a moment before they block when every process has
    a core of its own (see :data:`_POLL_SECONDS`).
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
        bounds = [int(b) for b in np.linspace(0, num_envs, num_workers + 1).astype(int)]
        ctx = mp.get_context("spawn")
        block = ctx.RawArray("B", block_size(layout))
        self._arrays = shared_arrays(layout, block)
        self._pending: list[tuple[slice, list[_Worker]]] = []
        self._workers: list[_Worker] = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            env_args = (name, seeds[lo:hi], channels_last, env_kwargs)
            worker = _Worker(ctx, slice(lo, hi), self._poll, env_args, (layout, block))
            self._workers.append(worker)
        self._started()

    @property
    def _procs(self) -> list:
        return [w.proc for w in self._workers]

    def _started(self) -> None:
        """Wait until every worker has built its envs; raise the first worker's error, if any."""
        errors = []
        for worker in self._workers:
            try:
                status, payload = worker.conn.recv()
            except EOFError:
                status, payload = "error", "the worker process exited unexpectedly"
            if status == "error":
                errors.append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])

    def _answers(self, workers: list[_Worker]) -> list[dict[str, Any] | None]:
        """Each worker's answer to its oldest command: its masking info (``None``: none)."""
        answers, errors = [], []
        for worker in workers:
            status, payload = worker.answer()
            (errors if status == _FAILED else answers).append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])
        return answers

    def _rows(self, kind: str, rows: slice) -> dict[str, np.ndarray]:
        """A copy (the shared block is overwritten by later steps) of one field's rows."""
        return {a: self._arrays[f"{kind}/{a}"][rows].copy() for a in self.agent_ids}

    def _involved(self, rows: slice) -> list[_Worker]:
        return [
            w for w in self._workers if w.copies.start < rows.stop and rows.start < w.copies.stop
        ]

    def reset(self, seed: int | None = None):
        if self._pending:
            raise RuntimeError("reset() called while steps are pending: call step_wait() first")
        seeds = copy_seeds(seed, self.num_envs) if seed is not None else None
        for worker in self._workers:
            worker.conn.send(None if seeds is None else seeds[worker.copies])
            worker.send(_RESET)
        # the workers have written once they answer
        infos = self._concat_infos(self._answers(self._workers), self._workers)
        return self._rows("obs", slice(0, self.num_envs)), infos

    def step_async(self, actions: dict[str, np.ndarray], copies: slice | None = None) -> None:
        """Start stepping ``copies`` (default: all), with row i of each agent's actions for the
        i-th copy among them."""
        rows = copies_slice(copies, self.num_envs, [p for p, _ in self._pending])
        for agent in self.agent_ids:
            target = self._arrays[f"action/{agent}"][rows]
            if agent not in actions:
                raise ValueError(f"actions: no entry for agent {agent!r}")
            value = np.asarray(actions[agent])
            if value.shape != target.shape:
                raise ValueError(
                    f"actions[{agent!r}]: expected shape {target.shape} (one row per env copy), "
                    f"got {value.shape}"
                )
            np.copyto(target, value, casting="unsafe")
        workers = self._involved(rows)
        for worker in workers:
            lo, hi = max(rows.start, worker.copies.start), min(rows.stop, worker.copies.stop)
            worker.send(_STEP, slice(lo, hi))
        self._pending.append((rows, workers))

    def step_wait(self):
        """Results of the oldest pending step (its copies only)."""
        if not self._pending:  # the workers would never answer: fail instead of hanging
            raise RuntimeError("step_wait() called without a pending step_async()")
        rows, workers = self._pending.pop(0)
        # the workers have written once they answer
        infos = self._concat_infos(self._answers(workers), workers, rows)
        infos["final_obs"] = self._rows("final_obs", rows)
        infos["_final_obs"] = self._arrays["finished"][rows].copy()
        obs, rewards = self._rows("obs", rows), self._rows("reward", rows)
        return obs, rewards, self._rows("term", rows), self._rows("trunc", rows), infos

    def step(self, actions: dict[str, np.ndarray]):
        self.step_async(actions)
        return self.step_wait()

    def _concat_infos(
        self,
        answers: list[dict[str, Any] | None],
        workers: list[_Worker],
        rows: slice | None = None,
    ) -> dict[str, Any]:
        """Masking info of the workers' rows as one batch; a worker whose copies report none
        answered ``None``, and its rows get the defaults."""
        if all(p is None for p in answers):
            return {}
        rows = rows or slice(0, self.num_envs)
        answers = [
            p
            if p is not None
            else default_masks(
                self.spec, min(rows.stop, w.copies.stop) - max(rows.start, w.copies.start)
            )
            for p, w in zip(answers, workers, strict=True)
        ]
        return {
            key: {a: np.concatenate([p[key][a] for p in answers]) for a in self.agent_ids}
            for key in MASK_KEYS
        }

    def close(self) -> None:
        """Stop every worker; none is left behind even if a worker hangs."""
        workers = getattr(self, "_workers", [])
        for worker in workers:
            worker.send(_CLOSE)
        for worker in workers:
            worker.proc.join(timeout=5)
            if worker.proc.is_alive():
                worker.proc.terminate()
                worker.proc.join(timeout=5)
            worker.conn.close()
        self._workers, self._pending = [], []

    def __del__(self):
        self.close()
