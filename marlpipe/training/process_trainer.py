"""The population on this machine's cores: a generation's member turns in a pool of processes.

``population.backend: processes`` (the default). Each process of a standard-library
:class:`~concurrent.futures.ProcessPoolExecutor` (started with ``spawn``, so no torch or OpenMP
state is forked) builds its env copies once, as a :class:`~marlpipe.training.member.MemberRunner`,
and trains whichever member it is sent with :func:`~marlpipe.training.member.train_member`, then
plays that member's fitness episodes, as the Ray workers do. A turn is a pure function of its
task and the buffer snapshot, so the populations are byte-identical to ``backend: local`` (one
turn after another in this process) and to Ray, for any number of processes. The snapshot is
written once per generation to a file in shared memory (:class:`SnapshotFile`, ``/dev/shm``
where there is one), which every turn maps and copies from; per turn only the member's weights
are pickled to its process, and its trained weights and new transitions come back.

With one usable CPU (or ``population.workers: 1``) no process is started: the pipeline trains
the members in this process (:class:`~marlpipe.training.trainers.LocalTrainer`), with the same
numbers.

The pool starts its processes with ``spawn``, which imports the script that started Python in
each of them: a script of your own that runs the pipeline (``Experiment(...).run()``) must do
so under ``if __name__ == "__main__":``, as with any multiprocessing code.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.errors import UserError
from marlpipe.training.member import MemberResult, MemberRunner, MemberTask
from marlpipe.training.trainers import MergedTrainer

if TYPE_CHECKING:
    from marlpipe.envs.env_factory import EnvFactory

_runner: MemberRunner | None = None
"""The pool process's runner (set by :func:`_start`)."""


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity where the OS tells, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pool_size(workers: int | None, population_size: int) -> int:
    """Processes for ``population.workers`` (null: one per usable CPU) and a population of
    ``population_size``: never more than the members."""
    wanted = usable_cpus() if workers is None else int(workers)
    return max(1, min(int(population_size), wanted))


_started: Any = None
"""The barrier every pool process meets once it is ready (set by :func:`_start`)."""

READY_TIMEOUT_S = 600.0
"""How long a started process waits for the others to be ready before the start fails."""


def _start(factory: EnvFactory, torch_threads: int, started: Any) -> None:
    global _runner, _started
    _runner, _started = MemberRunner(factory, torch_threads), started


def _ready() -> int:
    """A pool process's first task: wait until every process has built its envs. One such task
    per process, each holding its process at the barrier, makes the pool start them all."""
    assert _started is not None, "the pool process was not started by ProcessTrainer"
    _started.wait(READY_TIMEOUT_S)
    return os.getpid()


class SnapshotFile:
    """Buffer snapshots passed to the pool's processes through a file in shared memory.

    :meth:`publish` writes a snapshot's arrays, one after another, to a new file in a private
    folder (in ``/dev/shm`` where it exists, so the pages stay in memory) and returns the
    snapshot with their places instead of the arrays; :func:`attach` maps that file read-only
    in a process of the pool and gives the arrays back as views. One write per generation
    replaces pickling the whole buffer through a pipe for every member's turn. A file lives
    until the next one is published; the folder goes with :meth:`close` (or at exit).
    """

    ALIGN = 64
    """Each array starts at a multiple of this many bytes."""

    def __init__(self) -> None:
        shm = Path("/dev/shm")
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self.folder = Path(tempfile.mkdtemp(prefix="marlpipe-snapshot-", dir=base))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.folder, True)
        self._published = 0

    def publish(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """``snapshot`` with its arrays in a new file (an empty buffer's as it is); the turns of
        the previous snapshot must have ended."""
        for old in self.folder.glob("*.bin"):
            old.unlink()
        if snapshot["data"] is None:
            return snapshot
        layout, size = [], 0
        for name, field in snapshot["data"].items():
            for agent, rows in field.items():
                layout.append((name, agent, rows.dtype.str, tuple(rows.shape), size))
                size += -(-rows.nbytes // self.ALIGN) * self.ALIGN
        path = self.folder / f"snapshot-{self._published}.bin"
        self._published += 1
        block = np.memmap(path, dtype=np.uint8, mode="w+", shape=(max(size, 1),))
        for (name, agent, _dtype, _shape, offset) in layout:
            rows = np.ascontiguousarray(snapshot["data"][name][agent])
            block[offset : offset + rows.nbytes] = rows.reshape(-1).view(np.uint8)
        del block  # written through to the shared pages; nothing to flush to a disk
        return {**snapshot, "data": None, "file": {"path": str(path), "layout": layout}}

    def close(self) -> None:
        """Remove the folder and its file."""
        self._cleanup()


def attach(snapshot: dict[str, Any]) -> dict[str, Any]:
    """``snapshot`` as :meth:`SnapshotFile.publish` made it, with its arrays again: read-only
    views of the mapped file (``MultiAgentReplayBuffer.from_snapshot`` copies them)."""
    shared = snapshot.get("file")
    if shared is None:
        return snapshot
    block = np.memmap(shared["path"], dtype=np.uint8, mode="r")
    data: dict[str, dict[str, np.ndarray]] = {}
    for name, agent, dtype, shape, offset in shared["layout"]:
        kind = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64)) * kind.itemsize
        data.setdefault(name, {})[agent] = block[offset : offset + count].view(kind).reshape(shape)
    return {**{k: v for k, v in snapshot.items() if k != "file"}, "data": data}


def _train(task: MemberTask, snapshot: dict[str, Any]) -> MemberResult:
    assert _runner is not None, "the pool process was not started by ProcessTrainer"
    result = _runner.train(task, attach(snapshot))
    result.worker = f"process:{os.getpid()}"
    return result


class ProcessTrainer(MergedTrainer):
    """Merged experience with the members' turns in ``workers`` processes on this machine (see
    the module doc)."""

    evaluates = True

    def __init__(self, factory: EnvFactory, *, workers: int, torch_threads: int = 1) -> None:
        self.workers = int(workers)
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=context, initializer=_start,
            initargs=(factory, int(torch_threads), context.Barrier(self.workers)),
        )  # fmt: skip
        # The processes start now, while the caller builds its population and buffer, not at
        # the first generation's turns (the pool would start them only when work arrives).
        self._starting = [self._pool.submit(_ready) for _ in range(self.workers)]
        self._snapshots = SnapshotFile()

    def wait_ready(self) -> list[int]:
        """Wait until every process has started and built its envs; their process ids."""
        try:
            return [future.result() for future in self._starting]
        except BrokenProcessPool:
            raise self._died() from None

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: Any = None) -> list[MemberResult]:  # fmt: skip
        """Run every task in the pool, as many at a time as there are processes; one result
        per task, in the tasks' order."""
        self.wait_ready()
        started = time.perf_counter()
        shared = self._snapshots.publish(snapshot)
        self.ship_s = time.perf_counter() - started
        futures = [self._pool.submit(_train, task, shared) for task in tasks]
        try:
            return [future.result() for future in futures]
        except BrokenProcessPool:
            raise self._died() from None

    @staticmethod
    def _died() -> UserError:
        return UserError(
            "population.backend 'processes': a training process died (killed, out of "
            "memory, or it could not start: a script that runs the pipeline must do so "
            "under `if __name__ == \"__main__\":`, which multiprocessing's spawn needs); "
            "the run can be resumed from its last generation"
        )

    def close(self) -> None:
        """Stop the processes and remove the snapshot file."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._snapshots.close()


__all__ = ["ProcessTrainer", "SnapshotFile", "attach", "pool_size", "usable_cpus"]
