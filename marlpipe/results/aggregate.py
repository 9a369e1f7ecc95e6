"""The results table: per task and algorithm, the elites' evaluated scores over seeds as mean and
95 % confidence interval, beside the task's random-policy and zero-action scores.

Reads the cells' summaries (:mod:`.cell`), the peer rows' summaries (another library's own
algorithm, scored by our evaluation: ``results/agilerl/``) and the tasks' baselines
(:mod:`.baselines`); writes ``RESULTS.md`` and a plot. Nothing here is typed by hand except the
targets and the published figures, each with its source.

Its size (over 300 lines) is earned: the table's rows, their Markdown, the verdicts and the plot
all read the same cells and must agree with each other; they are kept on one page.
"""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlpipe.io import atomic_write, read_json
from marlpipe.results.intervals import cooperative_aggregates, iqm_interval

TASKS = (
    "speaker_listener",
    "speaker_listener_discrete",
    "spread",
    "adversary",
    "reference",
    "vmas_speaker_listener",
)
"""Table order (presets in ``configs/``); other tasks follow alphabetically."""

TARGETS: dict[str, tuple[float | None, str]] = {
    "speaker_listener": (-15.0, "-15 or better"),
    "speaker_listener_discrete": (-20.0, "-20 or better"),
    "spread": (-45.0, "-45 or better (random about -77)"),
    "adversary": (None, "good team clearly above its random-policy return vs the same adversary"),
    "reference": (None, "clearly better than random"),
}
"""What each task should reach (greedy, summed over the scored agents, 100 episodes of 25 steps)."""

RELATIVE_TARGETS: dict[str, tuple[str, str]] = {
    "vmas_speaker_listener": ("speaker_listener", "MATD3"),
}
"""Tasks whose target is another row's score relative to its random policy: VMAS's
speaker-listener must be as far from its own random policy (as a fraction of it) as mpe2's."""

PUBLISHED: dict[tuple[str, str], tuple[float, str]] = {}
"""Published rewards on the same scale, each checked against the paper's own text or tables,
with its source and metric. None is listed today: the MADDPG paper gives speaker-listener's
reward only as a learning curve, and the MATD3 and EPyMARL papers' text could not be read from
here (docs/results.md, "Published figures", says what was found and why each was left out)."""


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and the half-width of its two-sided ``level`` t-interval (``None`` for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, None
    from scipy import stats

    sem = statistics.stdev(values) / math.sqrt(len(values))
    return mean, float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * sem


def load_cells(summaries: str | os.PathLike) -> list[dict[str, Any]]:
    """Every ``*.json`` summary in the folder (sorted by name)."""
    files = sorted(Path(summaries).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"{summaries}: no cell summaries (*.json) found")
    return [read_json(f) for f in files]


def load_peer_cells(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """The peer rows' summaries in ``folder`` (none yet is no error); each names its library
    under ``peer``."""
    cells = []
    for path in sorted(Path(folder).glob("*.json")):
        cells.append(read_json(path))
        if not cells[-1].get("peer"):
            raise ValueError(f"{path}: a peer summary needs 'peer' (the library and version)")
    return cells


def _task_key(task: str) -> tuple[int, str]:
    return (TASKS.index(task) if task in TASKS else len(TASKS), task)


def cell_name(cell: dict[str, Any]) -> str:
    """``<task>-<algorithm>-s<seed>``: the name of a cell's run, summary and versus file."""
    return f"{cell['task']}-{cell['algorithm'].lower()}-s{cell['seed']}"


def _versus_means(group: Sequence[dict[str, Any]], versus: dict[str, dict[str, Any]]) -> dict:
    """Mean over seeds of each one-side-random score and team return (every seed must have
    its versus file, or none does)."""
    found = [versus[cell_name(c)] for c in group if cell_name(c) in versus]
    if not found:
        return {}
    if len(found) != len(group):
        missing = [cell_name(c) for c in group if cell_name(c) not in versus]
        raise FileNotFoundError(f"versus: no file for {', '.join(missing)}")
    out = {}
    for side in ("random_vs_elite", "elite_vs_random"):
        teams = {
            t: statistics.fmean(v[side]["teams"][t] for v in found) for t in found[0][side]["teams"]
        }
        out[side] = {"score": statistics.fmean(v[side]["score"] for v in found), "teams": teams}
    return out


def table_rows(
    cells: Sequence[dict[str, Any]],
    baselines: dict[str, dict[str, Any]],
    versus: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per task and algorithm, in table order. ``versus``: the `results versus` files
    by cell name, for the tasks with a scored team."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for cell in cells:
        groups.setdefault((cell["task"], cell["algorithm"]), []).append(cell)
    rows = []
    for (task, algorithm), group in sorted(  # a task's peer rows after ours
        groups.items(), key=lambda g: (_task_key(g[0][0]), bool(g[1][0].get("peer")), g[0][1])
    ):
        group = sorted(group, key=lambda c: c["seed"])
        mean, half = mean_ci([c["score"] for c in group])
        iqm, low, high = iqm_interval([c["score"] for c in group])
        base = baselines.get(task, {})
        random, zero = base.get("random", {}), base.get("zero", {})
        target = TARGETS.get(task, (None, ""))
        teams: dict[str, float] = {}
        for team in group[0].get("teams", {}):
            teams[team] = statistics.fmean(c["teams"][team] for c in group)
        rows.append({
            "task": task, "env": group[0]["env"], "algorithm": algorithm,
            "seeds": [c["seed"] for c in group], "scores": [c["score"] for c in group],
            "mean": mean, "ci95": half, "teams": teams,
            "random": random.get("score"), "zero": zero.get("score"),
            "random_teams": random.get("teams", {}),
            "target": target[0], "target_text": target[1],
            "published": PUBLISHED.get((task, algorithm)),
            "versus": _versus_means(group, versus or {}),
            "env_steps": statistics.fmean(c["env_steps"] for c in group),
            "wall_s": statistics.median(c["wall_s"] for c in group),
            "wall_range": (min(c["wall_s"] for c in group), max(c["wall_s"] for c in group)),
            "team_play": bool(group[0].get("scored_agents")) or _has_a_team(group[0]),
            "iqm": iqm, "iqm_ci": (low, high),
            "agents": len(base.get("scored_agents") or group[0].get("returns") or [None]),
            "cooperative": not group[0].get("scored_agents"),
            "cpu_kinds": sorted({c["cpu_kind"] for c in group if c.get("cpu_kind")}),
            "cpu_unrecorded": sum(1 for c in group if not c.get("cpu_kind")),
            "peer": group[0].get("peer"),
        })  # fmt: skip
    _relative_targets(rows)
    return rows


def _add_fingerprints(rows: list[dict[str, Any]], folder: Path) -> None:
    """Each row's behaviour fingerprint (``<task>-<algorithm>.json`` in ``folder``, named by
    the folder: its CPU kind) as the start of its ``fitness_sha256``."""
    for row in rows:
        path = folder / f"{row['task']}-{row['algorithm'].lower()}.json"
        if path.is_file():
            row["fingerprint"] = (folder.name, read_json(path)["fitness_sha256"][:12])


def _has_a_team(cell: dict[str, Any]) -> bool:
    """Whether some team of the cell's agents has more than one member."""
    from marlpipe.envs.spec import team_of

    teams = [team_of(agent) for agent in cell.get("returns", {})]
    return len(teams) != len(set(teams))


def _relative_targets(rows: list[dict[str, Any]]) -> None:
    """Fill in the targets of :data:`RELATIVE_TARGETS` from the rows they refer to."""
    by_key = {(r["task"], r["algorithm"]): r for r in rows}
    for row in rows:
        ref_key = RELATIVE_TARGETS.get(row["task"])
        ref = by_key.get((ref_key[0], row["algorithm"])) if ref_key else None
        if ref is None or not ref["random"] or row["random"] is None:
            continue
        fraction = ref["mean"] / ref["random"]
        row["target"] = row["random"] * fraction
        row["target_text"] = (
            f"{row['target']:.1f} or better ({ref['task']}'s {ref['mean']:.1f} is "
            f"{fraction:.3f} x its random {ref['random']:.1f})"
        )


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _minutes(row: dict[str, Any]) -> str:
    low, high = row.get("wall_range", (row["wall_s"], row["wall_s"]))
    text = f"{row['wall_s'] / 60:.1f} min"
    return text if low == high else f"{text} ({low / 60:.1f}-{high / 60:.1f})"


def _provenance(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Which code (the row's behaviour fingerprint) and which CPU kind made each row."""
    if not any(r.get("fingerprint") or r.get("cpu_kinds") for r in rows):
        return []
    lines = [
        "",
        "Which code and machine made each row: the row's behaviour fingerprint (the start of",
        "its `fitness_sha256` in `results/fingerprints/<cpu kind>/`; `marlpipe results",
        "fingerprint` says whether today's code still computes it) and the CPU kind its cells",
        "ran on (the last bits of the numbers are that kind's):",
        "",
        "| task | algorithm | fingerprint | cells' CPU kind |",
        "|---|---|---|---|",
    ]
    for row in rows:
        kind, digest = row.get("fingerprint") or ("–", "–")
        if row.get("peer"):
            kind, digest = "its scoring: ours", f"{row['peer']}'s training"
        cpus = list(row.get("cpu_kinds", []))
        if row.get("cpu_unrecorded"):
            cpus.append(f"{row['cpu_unrecorded']} cell(s) from before cells recorded it "
                        "(docs/results.md names the machine)")
        lines.append(
            f"| {row['task']} | {row['algorithm']} | {digest} ({kind}) | {'; '.join(cpus)} |"
        )
    return lines


def _per_agent(row: dict[str, Any]) -> str:
    n = max(1, int(row.get("agents", 1)))
    others = ", ".join(_num(None if v is None else v / n) for v in (row["random"], row["zero"]))
    return f"{row['mean'] / n:.1f} ({others})"


def _verdict(row: dict[str, Any]) -> str:
    if row.get("versus"):  # a scored team: against its random self facing the same opponents
        margin = row["mean"] - row["versus"]["random_vs_elite"]["score"]
        return f"{margin:+.1f} over random vs the same opponents"
    if row["target"] is not None:
        return "met" if row["mean"] >= row["target"] else "missed"
    if row["random"] is None:
        return "–"
    return "above random" if row["mean"] > row["random"] else "not above random"


def markdown(rows: Sequence[dict[str, Any]], command: str = "dvc repro results/dvc.yaml") -> str:
    """``RESULTS.md``: the table, the team returns, the published figures and how it was made."""
    lines = [
        "# Results",
        "",
        f"Generated by `{command}` from the cells' summaries; do not edit by hand.",
        "",
        "Each cell depends on its preset and on its row's behaviour fingerprint",
        "(`results/fingerprints/`), not on the package's sources: `dvc status results/dvc.yaml`",
        "lists every cell whose numbers today's code no longer computes, and says nothing when",
        "the table is current (docs/results.md, \"Is the table current?\").",
        "",
        "Score: the elite's greedy return summed over the scored agents (all agents, or the",
        "team named by the preset's `evolution.fitness_agents`), mean of 100 fresh episodes of",
        "25 steps (`evaluate.seed`). Per task and algorithm: mean over seeds with the half-width",
        "of its 95 % t-interval, and the interquartile mean (IQM) over seeds with its",
        "stratified-bootstrap 95 % interval (rliable; with 3 seeds the IQM is the mean). Random",
        "and zero: a uniformly random policy and the no-op action on the same task's evaluation",
        "episodes (from `evaluate.seed`, as many as the baseline file says), scored by the same",
        "code. Per agent: the same figures divided by the number of scored agents (EPyMARL's",
        "scale; the sum is the MADDPG and MATD3 papers').",
        "",
        "| task | algorithm | seeds | score (mean ± 95 % CI) | IQM [95 % CI] | per seed | random "
        "| zero | per agent: mean (random, zero) | target | env steps / run "
        "| wall time / run (median, range) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ci = "" if row["ci95"] is None else f" ± {row['ci95']:.1f}"
        per_seed = ", ".join(f"{s:.1f}" for s in row["scores"])
        target = f"{row['target_text']}: {_verdict(row)}" if row["target_text"] else _verdict(row)
        low, high = row["iqm_ci"]
        lines.append(
            f"| {row['task']} | {row['algorithm']} | {len(row['seeds'])} | "
            f"{row['mean']:.1f}{ci} | {row['iqm']:.1f} [{low:.1f}, {high:.1f}] | {per_seed} | "
            f"{_num(row['random'])} | {_num(row['zero'])} | {_per_agent(row)} | {target} | "
            f"{row['env_steps'] / 1e6:.2f}M | {_minutes(row)} |"
        )
    aggregates = cooperative_aggregates(rows)
    if aggregates:
        lines += [
            "",
            "Across the cooperative tasks (every agent scored), each seed's score normalised",
            "per task between the random policy (0) and the task's best row (1), IQM over",
            "seeds x tasks with its stratified-bootstrap 95 % interval:",
            "",
        ]
        for algorithm, agg in aggregates.items():
            lines.append(
                f"- {algorithm}: {agg['iqm']:.2f} [{agg['low']:.2f}, {agg['high']:.2f}] over "
                f"{len(agg['tasks'])} task(s) x {len(agg['seeds'])} seeds "
                f"({', '.join(agg['tasks'])})"
            )
    lines += [
        "",
        "Wall time: each cell's own measurement of its four stages. Cells share the machine",
        "with whatever else runs (two cells at a time on two cores, say), so the range is wide;",
        "compare wall times only between cells that ran side by side.",
    ]
    lines += _provenance(rows)
    team_rows = [r for r in rows if r.get("team_play", len(r["teams"]) > 1)]
    if team_rows:
        lines += ["", "Team returns (mean over seeds; random policy in brackets):", ""]
        for row in team_rows:
            parts = [
                f"{team} {value:.1f} ({_num(row['random_teams'].get(team))})"
                for team, value in row["teams"].items()
            ]
            lines.append(f"- {row['task']} / {row['algorithm']}: " + ", ".join(parts))
    versus_rows = [r for r in rows if r.get("versus")]
    if versus_rows:
        lines += [
            "",
            "Scored team against the elite's other agents (mean over seeds; team returns in "
            "brackets). The random column above plays a random team against random opponents; "
            "here one side at a time is swapped for random actions, the other stays the elite's:",
            "",
            "| task | algorithm | elite vs elite | random team vs elite opponents "
            "| elite team vs random opponents | random vs random |",
            "|---|---|---|---|---|---|",
        ]
        for row in versus_rows:

            def cell(score: float | None, teams: dict[str, float]) -> str:
                parts = ", ".join(f"{t} {v:.1f}" for t, v in teams.items())
                return f"{_num(score)} ({parts})" if teams else _num(score)

            vs = row["versus"]
            lines.append(
                f"| {row['task']} | {row['algorithm']} | {cell(row['mean'], row['teams'])} | "
                f"{cell(vs['random_vs_elite']['score'], vs['random_vs_elite']['teams'])} | "
                f"{cell(vs['elite_vs_random']['score'], vs['elite_vs_random']['teams'])} | "
                f"{cell(row['random'], row['random_teams'])} |"
            )
    peers = [r for r in rows if r.get("peer")]
    if peers:
        lines += ["", "Peer rows: another library's own algorithm and training function at its",
                  "tutorial's settings, on the same task and env-step budget, its elite played on",
                  "the same evaluation episodes and scored by the same code as ours",
                  "(docs/results.md, \"A peer row\"):", ""]  # fmt: skip
        lines += [f"- {r['task']} / {r['algorithm']}: {r['peer']}" for r in peers]
    published = [r for r in rows if r["published"]]
    lines += ["", "Published figures on the same scale:", ""]
    for row in published:
        value, source = row["published"]
        lines.append(f"- {row['task']} / {row['algorithm']}: about {value:.0f}: {source}")
    if not published:
        lines.append(
            "- none: no published figure could be checked against its paper's own text "
            "(docs/results.md, \"Published figures\")"
        )
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Mean score with its 95 % CI per task and algorithm, random and zero marked (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.6 * len(rows) + 1.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    y = list(range(len(rows)))[::-1]
    means = [r["mean"] for r in rows]
    errors = [0.0 if r["ci95"] is None else r["ci95"] for r in rows]
    ax.barh(y, means, xerr=errors, color="#4c78a8", capsize=4, label="elite (mean, 95 % CI)")
    for pos, row in zip(y, rows, strict=True):
        ax.plot(row["scores"], [pos] * len(row["scores"]), "k.", ms=4)
    randoms = [
        (pos, r["random"]) for pos, r in zip(y, rows, strict=True) if r["random"] is not None
    ]
    zeros = [(pos, r["zero"]) for pos, r in zip(y, rows, strict=True) if r["zero"] is not None]
    if randoms:
        ax.plot([v for _, v in randoms], [p for p, _ in randoms], "rx", ms=8, label="random policy")
    if zeros:
        ax.plot(
            [v for _, v in zeros], [p for p, _ in zeros], "g|", ms=12, mew=2, label="zero action"
        )
    ax.set_yticks(y, [f"{r['task']}\n{r['algorithm']}" for r in rows], fontsize=8)
    ax.set_xlabel("greedy return, summed over the scored agents (higher is better)")
    ax.legend(fontsize=8, loc="lower left")
    return atomic_write(
        path, lambda f: fig.savefig(f, format="png", dpi=100, metadata={"Software": None})
    )


def aggregate(
    summaries: str | os.PathLike,
    baselines: str | os.PathLike,
    results_md: str | os.PathLike,
    results_png: str | os.PathLike,
    versus: str | os.PathLike | None = None,
    fingerprints: str | os.PathLike | None = None,
    peers: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Read every cell summary, baseline and (optional folders) versus file, row fingerprint
    and peer summary; write ``results_md`` and ``results_png``."""
    cells = load_cells(summaries)
    if peers is not None:
        cells += load_peer_cells(peers)
    base = {f.stem: read_json(f) for f in sorted(Path(baselines).glob("*.json"))}
    matches = {f.stem: read_json(f) for f in sorted(Path(versus).glob("*.json"))} if versus else {}
    rows = table_rows(cells, base, matches)
    if fingerprints is not None:
        _add_fingerprints(rows, Path(fingerprints))
    text = markdown(rows)
    atomic_write(results_md, lambda f: f.write(text), mode="w")
    plot(rows, results_png)
    return rows


__all__ = [
    "PUBLISHED",
    "RELATIVE_TARGETS",
    "TARGETS",
    "aggregate",
    "cell_name",
    "load_peer_cells",
    "markdown",
    "mean_ci",
    "plot",
    "table_rows",
]
