"""Where one generation of the evolve stage spends its time, per env path.

Runs the evolve stage (``marlpipe.pipeline.evolve.run``) for ``--generations`` generation(s) on
the default ``params.yaml`` with tracking off, the members trained in this process
(``population.backend: local``, the same numbers) and ``env.name`` set to ``--env``, once per env
path (``env.fast`` true and false) in alternating order, ``--repeats`` times. Sums of
``perf_counter`` time around four calls split each run's wall time (no profiler, which would
inflate Python-heavy code):

* ``env``: the vec env's ``step_wait`` (both env classes: the fast mpe2 path and PettingZoo's);
* ``acting``: ``get_action`` of the members (the actors' forward passes, noise, clipping);
* ``learn``: ``MATD3.learn`` / ``MADDPG.learn`` (the joint critics and the actors' updates);
* ``evaluate``: the loop's fitness evaluation of the members.

The rest of the wall time is storing transitions, the collection loop, selection, mutation and
the checkpoint. The models are byte-identical on both paths (``tests/envs/test_mpe_fast.py``); this
only times them.

    python benchmarks/bench_generation.py [--env mpe2.simple_speaker_listener_v4]
        [--paths fast,pettingzoo] [--generations 1] [--repeats 2] [--json PATH]
"""

from __future__ import annotations

import tempfile
import time

from harness import Report, alternate, compare, parser, time_calls

PARTS = ("env", "acting", "learn", "evaluate")
PATHS = {"fast": True, "pettingzoo": False}


def instrument(spent: dict[str, float]) -> None:
    """Wrap the four timed calls so that each adds its wall time to ``spent[part]``."""
    import marlpipe.training.loop as loop
    from marlpipe.algos.acting import ActingMixin
    from marlpipe.algos.matd3 import MATD3
    from marlpipe.envs.mpe_fast import FastMpeVecEnv
    from marlpipe.envs.vector import SyncVecEnv

    def timed(owner: object, attr: str, part: str) -> None:
        time_calls(owner, attr, spent, part)

    timed(SyncVecEnv, "step_wait", "env")
    if FastMpeVecEnv.step_wait is not SyncVecEnv.step_wait:
        timed(FastMpeVecEnv, "step_wait", "env")
    timed(ActingMixin, "get_action", "acting")
    timed(MATD3, "learn", "learn")
    timed(loop, "evaluate_population", "evaluate")


def one_run(args, fast: bool, spent: dict[str, float]) -> dict[str, float]:
    """One evolve stage in a temporary folder; its wall time and the four parts, in seconds."""
    from marlpipe.config import load_params, with_overrides
    from marlpipe.pipeline import envspec, evolve, init_population

    overrides = {
        "env": {"name": args.env, "fast": fast},
        "evolution": {"generations": args.generations},
        "tracking": {"enabled": False},
        # in this process, where the timers are: the same numbers as the default pool of processes
        "population": {"backend": "local"},
    }
    params = with_overrides(load_params(args.params), overrides)
    spent.clear()
    with tempfile.TemporaryDirectory() as root:
        envspec.run(params, root)
        init_population.run(params, root)
        spent.clear()
        start = time.perf_counter()
        evolve.run(params, root, resume=False)
        wall = time.perf_counter() - start
    return {"wall": wall, **{part: spent.get(part, 0.0) for part in PARTS}}


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--env", default="mpe2.simple_speaker_listener_v4")
    cli.add_argument("--params", default="params.yaml", help="the params the run starts from")
    cli.add_argument("--paths", default="fast,pettingzoo", help="env paths to time, in order")
    cli.add_argument("--generations", type=int, default=1)
    cli.add_argument("--repeats", type=int, default=2)
    args = cli.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown or not paths:
        cli.error(f"--paths: unknown {unknown}; expected some of {list(PATHS)}")
    import torch

    torch.set_num_threads(1)  # as the pipeline (population.torch_threads: 1)
    report = Report(__file__, args)
    spent: dict[str, float] = {}
    instrument(spent)

    def show(repeat: int, path: str, run: dict[str, float]) -> None:
        split = "  ".join(f"{p} {run[p]:.1f} s ({100 * run[p] / run['wall']:.0f} %)" for p in PARTS)
        rest = run["wall"] - sum(run[p] for p in PARTS)
        print(f"{path:>10}: generation(s) {run['wall']:.1f} s  {split}  rest {rest:.1f} s",
              flush=True)  # fmt: skip

    runs = alternate({p: (lambda f=PATHS[p]: one_run(args, f, spent)) for p in paths},
                     args.repeats, show)  # fmt: skip
    report.figure("runs", runs)
    walls = {path: [run["wall"] for run in results] for path, results in runs.items()}
    if len(paths) > 1 and "pettingzoo" in paths:
        against = compare(walls, "pettingzoo")
        for path in paths:
            if path != "pettingzoo":
                ratio = 1 / against[path]["ratio_of_medians"]
                report.figure(f"speedup_{path}", ratio,
                              f"{path}: {ratio:.2f}x faster than pettingzoo (medians of wall)")
    report.write()


if __name__ == "__main__":
    main()
