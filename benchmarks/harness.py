"""The benchmarks' shared harness: not a benchmark itself, every script in ``benchmarks/`` uses it.

* :func:`parser` -- the script's ``argparse`` parser with ``--json PATH`` added;
* :class:`Report` -- names the CPU once (:func:`cpu_model`), prints each figure's line and keeps
  the figure, and with ``--json PATH`` writes ``{"script", "cpu", "args", "figures"}`` there;
* :func:`summarize` -- median and range of repeated measurements;
* :func:`calls_per_second` -- a callable's rate over a few seconds;
* :func:`alternate` -- side-by-side runs in alternating order (A, B, A, B, ...), so that a machine
  whose speed drifts shifts every side alike, and :func:`compare` -- the ratio of the medians
  and the paired per-repeat ratios against a base side;
* :func:`synchronize`, :func:`require_device` -- torch device handling for GPU timings.

Scripts run as ``python benchmarks/<script>.py``, which puts ``benchmarks/`` on ``sys.path``,
so they ``import harness``; no script imports another script. Torch is imported only by the two
device helpers, so ``--help`` and a torch-free script stay light.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


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


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser described by ``doc``'s first paragraph, with ``--json PATH``."""
    description = (doc or "").strip().split("\n\n")[0]
    result = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    result.add_argument(
        "--json", metavar="PATH", default=None,
        help="also write the script, CPU, arguments and every printed figure to PATH as JSON",
    )  # fmt: skip
    return result


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """Median, min and max of repeated measurements, and the values in the order taken."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summarize: no values")
    return {
        "median": statistics.median(values), "min": min(values), "max": max(values),
        "n": len(values), "values": values,
    }  # fmt: skip


def calls_per_second(fn: Callable[[], object], seconds: float, min_calls: int = 1) -> float:
    """Calls of ``fn`` per second over about ``seconds`` (at least ``min_calls`` calls)."""
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls / (time.perf_counter() - start)


def alternate(
    sides: dict[str, Callable[[], T]],
    repeats: int,
    on_result: Callable[[int, str, T], None] | None = None,
) -> dict[str, list[T]]:
    """Run every side ``repeats`` times in alternating order (A, B, A, B, ...).

    ``on_result(repeat, side, result)`` is called after each run (e.g. to print it at once).
    Returns each side's results in the order taken, so that ``result[a][i]`` and ``result[b][i]``
    ran next to each other.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    results: dict[str, list[T]] = {side: [] for side in sides}
    for repeat in range(repeats):
        for side, run in sides.items():
            result = run()
            results[side].append(result)
            if on_result is not None:
                on_result(repeat, side, result)
    return results


def compare(values: dict[str, Sequence[float]], base: str) -> dict[str, dict[str, Any]]:
    """Each side against ``base``: its median, the ratio of the medians and the paired ratios
    (repeat ``i`` over ``base``'s repeat ``i``), from :func:`alternate`'s runs."""
    base_median = statistics.median(values[base])
    return {
        side: {
            "median": statistics.median(runs),
            "ratio_of_medians": statistics.median(runs) / base_median,
            "paired_ratios": [v / b for v, b in zip(runs, values[base], strict=True)],
        }
        for side, runs in values.items()
    }


class Report:
    """A benchmark's figures: printed as they come, written to ``--json`` at the end.

    ``Report(__file__, args)`` prints ``CPU: <model>`` (the one CPU line of every script);
    :meth:`figure` prints a line and keeps a figure, :meth:`line` prints text only; :meth:`write`
    (call it last) writes ``{"script": ..., "cpu": ..., "args": {...}, "figures": {...}}`` to
    ``args.json`` when given. Figures are JSON values: numbers, strings, lists, dicts.
    """

    def __init__(self, script: str, args: argparse.Namespace, cpu: str | None = None) -> None:
        self.script = Path(script).name
        self.args = {k: v for k, v in vars(args).items() if k != "json"}
        self.json_path = getattr(args, "json", None)
        self.cpu = cpu if cpu is not None else cpu_model()
        self.figures: dict[str, Any] = {}
        print(f"CPU: {self.cpu}", flush=True)

    def figure(self, key: str, value: Any, line: str | None = None) -> Any:
        """Keep ``value`` under ``key`` (a repeated key is an error) and print ``line``."""
        if key in self.figures:
            raise KeyError(f"figure {key!r} recorded twice")
        self.figures[key] = value
        if line is not None:
            print(line, flush=True)
        return value

    @staticmethod
    def line(text: str = "") -> None:
        """Print a line that carries no figure of its own (headings, table rules)."""
        print(text, flush=True)

    def as_dict(self) -> dict[str, Any]:
        return {"script": self.script, "cpu": self.cpu, "args": self.args,
                "figures": self.figures}  # fmt: skip

    def write(self) -> Path | None:
        """Write :meth:`as_dict` to ``--json PATH`` (atomically) if given; the path or None."""
        if not self.json_path:
            return None
        from marlpipe.io import write_json

        path = write_json(self.json_path, self.as_dict())
        print(f"figures written to {path}", file=sys.stderr)
        return path


def time_calls(owner: object, attr: str, spent: dict[str, float], part: str) -> None:
    """Replace ``owner.attr`` by a wrapper that adds each call's wall time to ``spent[part]``."""
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[part] = spent.get(part, 0.0) + time.perf_counter() - start

    setattr(owner, attr, wrapper)
