"""The ``"async"`` backend of :class:`~marlpipe.envs.env_factory.EnvFactory`: env copies in
worker subprocesses (spawned), each worker stepping a :class:`~marlpipe.envs.vector.SyncVecEnv`
slice (for mpe2 tasks, when the factory chose it, its fast form
:class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv`).

Actions, observations, rewards and done flags travel through one shared-memory block that the
parent and every worker view as numpy arrays; a step is signalled through a pair of semaphores
per worker. Only the masking info, which most envs never report, errors and a pickled copy of a
worker's slice (when the env itself is pickled or deep-copied) go over a pipe.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import os
import sys
from typing import Any

import numpy as np

from marlpipe.envs.async_worker import (
    CLOSE,
    FAILED,
    GET_STATE,
    RESET,
    STEP,
    Worker,
    block_size,
    shared_arrays,
    step_layout,
)
from marlpipe.envs.batching import (
    MASK_KEYS,
    check_vec_args,
    copies_slice,
    default_masks,
)
from marlpipe.envs.factory import make_env
from marlpipe.envs.mpe_fast import FastMpeVecEnv
from marlpipe.envs.openmp import default_workers, warn_if_spinning
from marlpipe.envs.protocols import VecEnv
from marlpipe.envs.spec import EnvSpec
from marlpipe.envs.vector import SyncVecEnv
from marlpipe.seeding import spawn_seeds

log = logging.getLogger(__name__)


class AsyncVecEnv(VecEnv):
    """N copies spread over worker subprocesses that step while this process does other work.

    Each worker runs a :class:`SyncVecEnv` over a contiguous slice of the copies, so results are
    identical to the sync backend with the same seed. Actions are written to shared memory as
    the action space's dtype (int64 indices for Discrete). ``num_workers`` defaults to one per
    CPU core but one (the core this process acts and learns on), at least one and at most one
    per copy. Steps of disjoint runs of copies may be pending together (see
    :class:`SyncVecEnv`); a worker steps them in the order they were started. Workers and this
    process poll for each other's signal for a moment before they block when every process has
    a core of its own (see ``async_worker._POLL_SECONDS``). With ``fast`` every worker steps
    its slice as a :class:`~marlpipe.envs.mpe_fast.FastMpeVecEnv` (same numbers; the env
    factory decides it once, for the env as a whole). Pickled or deep-copied, it asks every
    worker for its slice and starts new workers from those copies.
    """

    def __init__(
        self,
        name: str,
        num_envs: int,
        seed: int | None = None,
        channels_last: bool = False,
        num_workers: int | None = None,
        fast: bool = False,
        reward_dtype: Any = np.float32,
        **env_kwargs: Any,
    ):
        check_vec_args(num_envs, num_workers=num_workers)
        self.num_envs = num_envs
        self.reward_dtype = np.dtype(reward_dtype)
        probe = make_env(name, **env_kwargs)
        self.spec = EnvSpec.from_env(probe, channels_last, name, env_kwargs)
        self._layout = step_layout(probe, self.spec, num_envs, self.reward_dtype)
        probe.close()
        self.agent_ids = self.spec.agent_ids
        num_workers = default_workers(num_envs, num_workers)
        seeds = spawn_seeds(seed, num_envs)
        bounds = [int(b) for b in np.linspace(0, num_envs, num_workers + 1).astype(int)]
        backend = FastMpeVecEnv if fast else SyncVecEnv
        build = functools.partial(
            backend, name, channels_last=channels_last, reward_dtype=self.reward_dtype,
            **env_kwargs,
        )  # fmt: skip
        ends = zip(bounds[:-1], bounds[1:], strict=True)
        self._launch([(slice(lo, hi), (build, seeds[lo:hi], None)) for lo, hi in ends])
        warn_if_spinning(num_workers)

    def _launch(self, slices: list[tuple[slice, tuple]]) -> None:
        """Start a worker per ``(copies, env_args)`` over one fresh shared-memory block."""
        cores = os.cpu_count() or 1
        self._poll = len(slices) + 1 <= cores
        ctx = mp.get_context("spawn")
        block = ctx.RawArray("B", block_size(self._layout))
        self._arrays = shared_arrays(self._layout, block)
        self._pending: list[tuple[slice, list[tuple[Worker, slice]]]] = []
        self._workers: list[Worker] = []
        for copies, env_args in slices:
            worker = Worker(ctx, copies, self._poll, env_args, (self._layout, block))
            self._workers.append(worker)
        self._started()

    def __getstate__(self) -> dict[str, Any]:
        """This env, each worker's slice pickled by the worker (see the class doc)."""
        if self._pending or not self._workers:
            raise RuntimeError(
                "an AsyncVecEnv can be copied only when open and with no step pending"
            )
        for worker in self._workers:
            worker.send(GET_STATE)
        states = self._answers([(worker, worker.copies) for worker in self._workers])
        slices = [(w.copies, (None, None, s)) for w, s in zip(self._workers, states, strict=True)]
        kept = {k: v for k, v in vars(self).items() if k not in _PER_PROCESS}
        return {**kept, "_slices": slices}

    def __setstate__(self, state: dict[str, Any]) -> None:
        slices = state.pop("_slices")
        vars(self).update(state)
        self._launch(slices)

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
                status, payload = "error", _died_while_starting(worker.proc)
            if status == "error":
                errors.append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])

    def _answers(self, shares: list[tuple[Worker, slice]]) -> list[dict[str, Any] | None]:
        """Each worker's answer to its oldest command: its masking info (``None``: none)."""
        answers, errors = [], []
        for worker, _ in shares:
            status, payload = worker.answer()
            (errors if status == FAILED else answers).append(payload)
        if errors:
            self.close()
            raise RuntimeError("an environment worker failed:\n" + errors[0])
        return answers

    def _rows(self, kind: str, rows: slice) -> dict[str, np.ndarray]:
        """A copy (the shared block is overwritten by later steps) of one field's rows."""
        return {a: self._arrays[f"{kind}/{a}"][rows].copy() for a in self.agent_ids}

    def _shares(self, rows: slice) -> list[tuple[Worker, slice]]:
        """The workers that hold some of ``rows``, each with its share of them."""
        return [
            (w, slice(max(rows.start, w.copies.start), min(rows.stop, w.copies.stop)))
            for w in self._workers
            if w.copies.start < rows.stop and rows.start < w.copies.stop
        ]

    def reset(self, seed: int | None = None, *, seeds: list[int | None] | None = None):
        """Reset every copy (see :meth:`SyncVecEnv.reset`)."""
        if self._pending:
            raise RuntimeError("reset() called while steps are pending: call step_wait() first")
        check_vec_args(self.num_envs, seeds)
        if seeds is None and seed is not None:
            seeds = spawn_seeds(seed, self.num_envs)
        shares = self._shares(slice(0, self.num_envs))
        for worker, share in shares:
            worker.conn.send(None if seeds is None else seeds[share])
            worker.send(RESET, share)
        # the workers have written once they answer
        infos = self._concat_infos(self._answers(shares), shares)
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
        shares = self._shares(rows)
        for worker, share in shares:
            worker.send(STEP, share)
        self._pending.append((rows, shares))

    def step_wait(self):
        """Results of the oldest pending step (its copies only)."""
        if not self._pending:  # the workers would never answer: fail instead of hanging
            raise RuntimeError("step_wait() called without a pending step_async()")
        rows, shares = self._pending.pop(0)
        # the workers have written once they answer
        infos = self._concat_infos(self._answers(shares), shares)
        infos["final_obs"] = self._rows("final_obs", rows)
        infos["_final_obs"] = self._arrays["finished"][rows].copy()
        obs, rewards = self._rows("obs", rows), self._rows("reward", rows)
        return obs, rewards, self._rows("term", rows), self._rows("trunc", rows), infos

    def _concat_infos(
        self, answers: list[dict[str, Any] | None], shares: list[tuple[Worker, slice]]
    ) -> dict[str, Any]:
        """Masking info of the workers' shares as one batch; a worker whose copies report none
        answered ``None``, and its share gets the defaults."""
        if all(p is None for p in answers):
            return {}
        answers = [
            p if p is not None else default_masks(self.spec, share.stop - share.start)
            for p, (_, share) in zip(answers, shares, strict=True)
        ]
        return {
            key: {a: np.concatenate([p[key][a] for p in answers]) for a in self.agent_ids}
            for key in MASK_KEYS
        }

    def close(self) -> None:
        """Stop every worker; none is left behind even if a worker hangs."""
        workers = getattr(self, "_workers", [])
        for worker in workers:
            worker.send(CLOSE)
        for worker in workers:
            worker.proc.join(timeout=5)
            if worker.proc.is_alive():
                worker.proc.terminate()
                worker.proc.join(timeout=5)
            worker.conn.close()
        self._workers, self._pending = [], []

    def __del__(self):
        self.close()


_PER_PROCESS = ("_workers", "_pending", "_arrays", "_poll")
"""What a pickled :class:`AsyncVecEnv` leaves out: its workers, their shared memory and pipes."""




def _died_while_starting(proc: Any) -> str:
    """Why a worker may have died before it built its envs, and what to do about it."""
    proc.join(timeout=5)
    code = proc.exitcode
    message = f"the worker process exited unexpectedly while starting (exit code {code})"
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None):
        message += (
            f". Workers are spawned, and a spawned process first imports your script "
            f"({main.__file__}) again: put the code that makes the env under "
            '`if __name__ == "__main__":`, or use backend="sync"'
        )
    return message
