"""The population on this machine's cores: a generation's member turns in a pool of processes.

``population.backend: processes`` (the default). Each process of a standard-library
:class:`~concurrent.futures.ProcessPoolExecutor` (started with ``spawn``, so no torch or OpenMP
state is forked) builds its env copies once, as a :class:`~marlpipe.training.member.MemberRunner`,
and trains whichever member it is sent with :func:`~marlpipe.training.member.train_member`, then
plays that member's fitness episodes, as the Ray workers do. A turn is a pure function of its
task and the buffer snapshot, so the populations are byte-identical to ``backend: local`` (one
turn after another in this process) and to Ray, for any number of processes. Per turn the
snapshot and the member's weights are pickled to its process, and its trained weights and new
transitions come back.

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
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

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


def _start(factory: EnvFactory, torch_threads: int) -> None:
    global _runner
    _runner = MemberRunner(factory, torch_threads)


def _train(task: MemberTask, snapshot: dict[str, Any]) -> MemberResult:
    assert _runner is not None, "the pool process was not started by ProcessTrainer"
    result = _runner.train(task, snapshot)
    result.worker = f"process:{os.getpid()}"
    return result


class ProcessTrainer(MergedTrainer):
    """Merged experience with the members' turns in ``workers`` processes on this machine (see
    the module doc)."""

    evaluates = True

    def __init__(self, factory: EnvFactory, *, workers: int, torch_threads: int = 1) -> None:
        self.workers = int(workers)
        self._pool = ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_start, initargs=(factory, int(torch_threads)),
        )  # fmt: skip

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: Any = None) -> list[MemberResult]:  # fmt: skip
        """Run every task in the pool, as many at a time as there are processes; one result
        per task, in the tasks' order."""
        futures = [self._pool.submit(_train, task, snapshot) for task in tasks]
        try:
            return [future.result() for future in futures]
        except BrokenProcessPool:
            raise UserError(
                "population.backend 'processes': a training process died (killed, out of "
                "memory, or it could not start: a script that runs the pipeline must do so "
                "under `if __name__ == \"__main__\":`, which multiprocessing's spawn needs); "
                "the run can be resumed from its last generation"
            ) from None

    def close(self) -> None:
        """Stop the processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ProcessTrainer", "pool_size", "usable_cpus"]
