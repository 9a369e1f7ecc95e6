"""The worker processes of the ``"async"`` backend (:class:`~marlpipe.envs.async_vector.
AsyncVecEnv`): the shared-memory layout of one vector step, the command ring each worker reads,
the worker loop, and this process's handle on a worker."""

from __future__ import annotations

import math
import os
import pickle
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

from marlpipe.envs.batching import MASK_KEYS, action_dtype, observation_dtype
from marlpipe.envs.spec import EnvSpec

_ALIGN = 64  # bytes: every array starts on its own cache line

Layout = list[tuple[str, tuple[int, ...], str]]


def step_layout(env: Any, spec: EnvSpec, num_envs: int, reward_dtype: Any = np.float32) -> Layout:
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
            (f"reward/{agent}", (num_envs,), np.dtype(reward_dtype).str),
            (f"term/{agent}", (num_envs,), np.dtype(bool).str),
            (f"trunc/{agent}", (num_envs,), np.dtype(bool).str),
        ]
    layout.append(("finished", (num_envs,), np.dtype(bool).str))
    return layout


def _extents(layout: Layout) -> tuple[list[tuple[int, int]], int]:
    """``(offset, bytes)`` of every entry, each on its own cache line, and the bytes in all."""
    extents, total = [], 0
    for _, shape, dtype in layout:
        size = math.prod(shape) * np.dtype(dtype).itemsize
        extents.append((total, size))
        total += -(-size // _ALIGN) * _ALIGN
    return extents, max(1, total)


def block_size(layout: Layout) -> int:
    """Bytes of shared memory that :func:`shared_arrays` lays ``layout`` over."""
    return _extents(layout)[1]


def shared_arrays(layout: Layout, block: Any) -> dict[str, np.ndarray]:
    """Numpy views of ``block`` (a ``RawArray`` of :func:`block_size` bytes), one per entry."""
    base = np.frombuffer(block, dtype=np.uint8)
    return {
        name: base[offset : offset + size].view(dtype).reshape(shape)
        for (name, shape, dtype), (offset, size) in zip(layout, _extents(layout)[0], strict=True)
    }


def _mask_infos(infos: dict[str, Any]) -> dict[str, Any] | None:
    """What of a step's infos goes over the pipe: the masking keys, if the copies report any."""
    return {k: infos[k] for k in MASK_KEYS if k in infos} or None


# Each worker reads its commands, in order, from a ring of slots in shared memory: one row
# (command, first copy, end copy, status) per slot; a semaphore counts the commands sent and
# another the commands done. The ring has a slot more than the worker has copies: room for every
# step of disjoint copies that may be pending, plus a close.
_COMMAND, _LO, _HI, _STATUS = range(4)
STEP, RESET, CLOSE, GET_STATE = 1, 2, 3, 4
_DONE, _DONE_WITH_PAYLOAD, FAILED = 0, 1, 2
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
    """Step the copies ``part`` on the commands in the ring ``control``, with the arrays laid
    over ``data`` (layout, block). ``env_args`` is ``(build, seeds, state)``: the copies are
    ``build(count, seeds=seeds)``, or the pickled vector env ``state`` when given (a copy)."""
    parent = os.getppid()
    try:
        build, seeds, state = env_args
        if state is not None:
            vec = pickle.loads(state)
        else:
            vec = build(part.stop - part.start, seeds=seeds)
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
            if command == STEP:
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
            elif command == RESET:
                obs, infos = vec.reset(seeds=conn.recv())
                for a in agents:
                    arrays[f"obs/{a}"][part] = obs[a]
                payload = _mask_infos(infos)
            elif command == GET_STATE:
                payload = pickle.dumps(vec)
            elif command == CLOSE:  # nobody waits for an answer
                vec.close()
                break
            slot[_STATUS] = _DONE if payload is None else _DONE_WITH_PAYLOAD
        except BaseException:
            payload, slot[_STATUS] = traceback.format_exc(), FAILED
        done.release()
        # sent after the release: the parent reads it only then, so no pipe buffer can fill up
        if payload is not None:
            conn.send(payload)
    conn.close()


class Worker:
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
        """Queue ``command`` for ``rows`` (default: all this worker's copies)."""
        rows = rows or self.copies
        self.ring[self.sent % len(self.ring)] = (command, rows.start, rows.stop, 0)
        self.sent += 1
        self.go.release()

    def answer(self) -> tuple[int, Any]:
        """``(status, payload)`` of the oldest command not yet answered."""
        if not _acquire(self.done, self.poll, self.proc.is_alive):
            return FAILED, "the worker process exited unexpectedly"
        status = int(self.ring[self.answered % len(self.ring), _STATUS])
        self.answered += 1
        return status, (self.conn.recv() if status != _DONE else None)
