"""The population on Ray: members' turns of a generation on Ray actors, in parallel.

Each worker is an actor (:class:`MemberWorker`) that builds its vec env copies once and trains
whichever member it is sent with :func:`~marlpipe.training.member.train_member`; the env is reset
with the task's seed, so a task's result never depends on the worker or on what it ran before.
Per generation the driver ships the buffer snapshot once (``ray.put``: numpy arrays, read
zero-copy by the workers on a node) and each member's weights as state dicts, and gets back the
trained state dicts and the new transitions as numpy arrays. Each worker also plays the fitness
episodes of the member it trained, right after its turn, on the evaluation env of the same env
factory (:meth:`~marlpipe.envs.env_factory.EnvFactory.eval_env`, as the pipeline's), so the
driver no longer evaluates members one after another. A result names the worker
(``node-ip:pid``) and the Ray node id it ran on. A worker that dies mid-generation (or whose node
goes) is replaced and its task rerun: the task is pure, so the result is the same, and the result
counts its reruns. Every worker, the first ones and each replacement alike, is started by
:meth:`RayTrainer._start` and must import the same marlpipe code as the driver (its code hash)
before it gets a task.
Only this module imports ``ray`` (the ``ray`` extra).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.code_hash import code_hash
from marlpipe.errors import UserError
from marlpipe.training.member import MemberResult, MemberRunner, MemberTask
from marlpipe.training.trainers import MergedTrainer

if TYPE_CHECKING:
    from marlpipe.envs.env_factory import EnvFactory

PROBE_TIMEOUT_S = 3.0
"""How long the driver waits for a Ray cluster's address to answer before giving up."""
MAX_RETRIES = 3
"""Fresh actors a task may be rerun on after its worker died, before the generation fails."""
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
"""The folder holding this ``marlpipe`` package: put on a locally started Ray's PYTHONPATH so its
workers import the same code as the driver."""


class MemberWorker(MemberRunner):
    """A Ray actor's body: a :class:`~marlpipe.training.member.MemberRunner` that names the
    worker, node and code it runs on."""

    def label(self) -> str:
        """``node-ip:pid`` of this worker."""
        import ray

        return f"{ray.util.get_node_ip_address()}:{os.getpid()}"

    def pid(self) -> int:
        """This worker's process id."""
        return os.getpid()

    def code(self) -> str:
        """Hash of the marlpipe sources this worker imports."""
        return code_hash()

    def node(self) -> str:
        """The Ray node id this worker runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def train(self, task: MemberTask, snapshot: dict[str, Any]) -> MemberResult:
        """One member's turn and, if the task asks, its fitness episodes (see
        :func:`~marlpipe.training.member.train_member`)."""
        result = super().train(task, snapshot)
        result.worker, result.node = self.label(), self.node()
        return result


def worker_gpus(population: Any) -> float:
    """GPUs a Ray worker reserves: ``population.num_gpus``, or when that is null 1 for a CUDA
    ``population.device`` (the worker trains there) and 0 otherwise."""
    if population.num_gpus is not None:
        return float(population.num_gpus)
    return 1.0 if str(population.device).startswith("cuda") else 0.0


def probe(address: str, source: str) -> None:
    """Raise a one-line :class:`UserError` naming ``address`` unless something listens there
    (within :data:`PROBE_TIMEOUT_S`); ``auto``/``local`` are left to Ray."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"{source}: expected a Ray address host:port, got {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise UserError(f"{source}: cannot reach a Ray cluster at {address} ({reason})") from None


def connect(address: str | None, local_cpus: int | None = None) -> bool:
    """Join the Ray cluster at ``address`` (``None``: RAY_ADDRESS, else start one here) unless
    this process is connected already; return whether this call connected."""
    try:
        import ray
    except ModuleNotFoundError as err:
        if err.name != "ray":
            raise
        raise UserError(
            "population.backend 'ray' needs ray, which is not installed: "
            "pip install 'marlpipe[ray]'"
        ) from None

    target = address or os.environ.get("RAY_ADDRESS") or None
    if target is not None:
        probe(target, "population.ray_address" if address else "RAY_ADDRESS")
    if ray.is_initialized():
        return False
    if target is not None:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        return True
    path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
    ray.init(
        address="local", num_cpus=local_cpus, include_dashboard=False, log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )  # fmt: skip
    return True


class RayTrainer(MergedTrainer):
    """Merged experience with the members' turns on ``workers`` Ray actors (see the module doc)."""

    def __init__(
        self,
        factory: EnvFactory,
        *,
        workers: int | None = None,
        num_cpus: float = 1.0,
        num_gpus: float = 0.0,
        address: str | None = None,
        torch_threads: int = 1,
        population_size: int | None = None,
        evaluate: bool = True,
    ) -> None:
        import ray

        self._ray = ray
        self._owns_ray = connect(address)
        self.factory, self.torch_threads, self.num_cpus = factory, torch_threads, num_cpus
        self.num_gpus = float(num_gpus)
        self.evaluates = bool(evaluate)
        """Whether the workers play each member's fitness episodes after its turn, on the eval env
        of ``factory`` like the pipeline's (the loop then reads the scores); false leaves
        evaluation to the driver on the loop's ``eval_env``, as before (for a caller's own
        ``eval_env`` that ``factory`` does not describe)."""
        self.code = code_hash()
        """Hash of the marlpipe sources this driver imports: every worker must match it."""
        self.code_checks = 0
        """Workers whose code was checked (the first ones and every replacement)."""
        if workers is None:
            cpus = ray.cluster_resources().get("CPU", 1.0)
            workers = max(1, min(population_size or 1, int(cpus // num_cpus)))
        self.workers = self._start(int(workers))
        self.ship_s = 0.0
        """Seconds the last :meth:`train` spent putting the buffer snapshot in the object store
        and sending the tasks (their weights)."""
        self.restarts = 0
        """Workers replaced after they died."""

    @classmethod
    def for_env(cls, factory: EnvFactory, population: Any) -> RayTrainer:
        """The trainer a ``PopulationConfig`` asks for, its workers building ``factory``'s envs."""
        return cls(
            factory, workers=population.workers, num_cpus=population.num_cpus,
            num_gpus=worker_gpus(population), address=population.ray_address,
            torch_threads=population.torch_threads, population_size=population.size,
        )  # fmt: skip

    def _start(self, count: int) -> list[Any]:
        """``count`` new workers, each checked to import this driver's marlpipe code (the one
        way workers start: at first and as replacements). A mismatch stops them all and raises
        a one-line :class:`UserError`."""
        actor = self._ray.remote(MemberWorker).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus
        )
        workers = [actor.remote(self.factory, self.torch_threads) for _ in range(count)]
        codes = self._ray.get([w.code.remote() for w in workers])
        self.code_checks += len(workers)
        for worker, theirs in zip(workers, codes, strict=True):
            if theirs != self.code:
                label = self._ray.get(worker.label.remote())
                for started in workers:
                    self._ray.kill(started, no_restart=True)
                raise UserError(
                    f"population.backend: the Ray worker {label} imports other marlpipe code "
                    f"than this driver: install the same marlpipe on every node"
                )
        return workers

    def pids(self) -> list[int]:
        """The workers' process ids (tests kill one)."""
        return self._ray.get([w.pid.remote() for w in self.workers])

    def train(self, tasks: Sequence[MemberTask], snapshot: dict[str, Any],
              env: Any = None) -> list[MemberResult]:  # fmt: skip
        """Run every task on the workers, as many at a time as there are workers; a task whose
        worker dies is rerun on a fresh one. One result per task, in the tasks' order."""
        ray = self._ray
        started = time.perf_counter()
        shared = ray.put(snapshot)
        self.ship_s = time.perf_counter() - started
        results: list[MemberResult | None] = [None] * len(tasks)
        queue = list(range(len(tasks)))
        tries = [0] * len(tasks)
        pending: dict[Any, tuple[int, int]] = {}  # ref -> (task, worker slot)
        idle = list(range(len(self.workers)))
        while queue or pending:
            while queue and idle:
                slot, task = idle.pop(0), queue.pop(0)
                sending = time.perf_counter()  # the task's weights are serialised here
                pending[self.workers[slot].train.remote(tasks[task], shared)] = (task, slot)
                self.ship_s += time.perf_counter() - sending
            (ready,), _ = ray.wait(list(pending), num_returns=1)
            task, slot = pending.pop(ready)
            try:
                results[task] = ray.get(ready)
                results[task].reruns = tries[task]
            except ray.exceptions.RayActorError:
                tries[task] += 1
                if tries[task] > MAX_RETRIES:
                    raise
                ray.kill(self.workers[slot], no_restart=True)
                (self.workers[slot],) = self._start(1)
                self.restarts += 1
                queue.insert(0, task)
            idle.append(slot)
        return [r for r in results if r is not None]

    def close(self) -> None:
        """Stop the workers (and the Ray this trainer started)."""
        for worker in self.workers:
            self._ray.kill(worker, no_restart=True)
        self.workers = []
        if self._owns_ray:
            self._ray.shutdown()


__all__ = ["MemberWorker", "RayTrainer", "connect", "probe", "worker_gpus"]
