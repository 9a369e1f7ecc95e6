"""Does a population's cost scale with its members? Time and memory at 4, 8 and 16 members.

For each ``--sizes`` population size, the evolve stage runs on the default ``params.yaml`` (its
backend: by default a pool of processes, one per CPU) with ``population.size`` set, tracking off,
for ``--generations`` generations of ``--steps`` env steps per member, in a temporary folder
(the envspec and init_population stages first, untimed). ``--repeats`` rounds, sizes alternating.

Per size: the evolve stage's wall time, its ratio to the smallest size's against the ratio of
members (close to 1 means time proportional to members), and the peak resident memory of the
whole process tree (this process and every process it started, the pool's among them; ``VmRSS``
read from ``/proc`` every 50 ms and summed), with the memory per member as the slope of that
peak between the smallest and the largest size. The members' own size (weights, optimiser
states: the bytes of their ``state_dicts()``) is printed beside it.

    python benchmarks/bench_scaling.py [--sizes 4,8,16] [--generations 2] [--steps 5000]
        [--repeats 1] [--set population.backend=local ...] [--json PATH]
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from harness import Report, alternate, parser, summarize


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (Linux ``/proc``)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += 1024 * int(next(line.split()[1] for line in status.splitlines()
                                     if line.startswith("VmRSS:")))  # fmt: skip
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return total


class PeakRss:
    """The peak of :func:`tree_rss` of this process while the ``with`` block runs."""

    def __enter__(self) -> PeakRss:
        self.peak, self._stop = tree_rss(os.getpid()), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, tree_rss(os.getpid()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def member_bytes(population) -> float:
    """Mean bytes of a member's ``state_dicts()`` tensors (weights, optimiser states)."""
    import torch

    def size(value) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, list | tuple):
            return sum(size(v) for v in value)
        return 0

    return sum(size(m.state_dicts()) for m in population) / len(population)


def one_run(args, size: int) -> dict:
    """The evolve stage at ``size`` members: wall seconds, peak tree RSS, member bytes."""
    from marlpipe.config.files import apply_overrides, load_params
    from marlpipe.pipeline.experiment import Experiment

    params = apply_overrides(load_params(args.params), [
        *args.set, f"population.size={size}", f"evolution.generations={args.generations}",
        f"evolution.steps_per_generation={args.steps}", "tracking.enabled=false",
    ])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="marlpipe-scaling-") as root:
        experiment = Experiment(params, root)
        experiment.envspec()
        population = experiment.init_population()
        with PeakRss() as memory:
            started = time.perf_counter()
            experiment.evolve()
            wall = time.perf_counter() - started
    return {"wall_s": wall, "peak_rss": memory.peak, "member_bytes": member_bytes(population)}


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--params", default="params.yaml")
    cli.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a param (repeatable), as `marlpipe train --set`")  # fmt: skip
    cli.add_argument("--sizes", default="4,8,16")
    cli.add_argument("--generations", type=int, default=2)
    cli.add_argument("--steps", type=int, default=5000, help="env steps per member per generation")
    cli.add_argument("--repeats", type=int, default=1)
    args = cli.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = Report(__file__, args)

    def show(repeat: int, size: str, run: dict) -> None:
        print(f"{size:>3} members: evolve {run['wall_s']:.1f} s, peak memory "
              f"{run['peak_rss'] / 2**20:,.0f} MiB", flush=True)  # fmt: skip

    runs = alternate({str(s): (lambda s=s: one_run(args, s)) for s in sizes}, args.repeats, show)
    report.figure("runs", runs)
    small, large = str(sizes[0]), str(sizes[-1])

    def median(key: str) -> dict[str, float]:
        return {size: summarize(r[key] for r in rs)["median"] for size, rs in runs.items()}

    wall, peak = median("wall_s"), median("peak_rss")
    for size in runs:
        ratio, members = wall[size] / wall[small], int(size) / int(small)
        report.figure(f"time_ratio_{size}", ratio, f"{size:>3} members: {wall[size]:.1f} s, "
                      f"{ratio:.2f}x the time of {small} for {members:.2f}x the members "
                      f"({ratio / members:.2f} of proportional)")  # fmt: skip
    if large != small:
        per_member = (peak[large] - peak[small]) / (int(large) - int(small))
        report.figure("memory_per_member", per_member,
                      f"memory per member: {per_member / 2**20:.1f} MiB (peak of the process tree, "
                      f"{small} to {large} members)")  # fmt: skip
    bytes_ = runs[small][0]["member_bytes"]
    report.figure("member_state_bytes", bytes_,
                  f"a member's weights and optimiser states: {bytes_ / 2**10:.0f} KiB")
    report.write()


if __name__ == "__main__":
    main()
