"""The evolve stage's figures: fitness per generation, the family tree and every member's fitness.

The fitness curve is drawn from the fitness rows (:func:`marlpipe.tracking.summary.fitness_row`,
``reports/fitness.json``), the other two from the lineage rows
(:func:`marlpipe.tracking.summary.lineage_row`, ``reports/lineage.json``), so each can be
redrawn from its file alone. All are PNGs, which ``dvc plots show`` draws offline (its Vega
plots need the internet); every generation axis has whole-number ticks, and no figure is wider
than :data:`MAX_WIDTH_PX` at any number of generations: the family tree wraps into rows, and past
:data:`_MAX_ROWS` rows its columns narrow and lose their text labels.
matplotlib is imported inside the functions (Agg canvas, no pyplot, no GUI) and the default
style is used whatever the user's matplotlibrc says: the same rows always give the same PNG
bytes (DVC hashes them). Files are written atomically.

Its size (over 300 lines) is earned: the three figures share one canvas, style, tick and save
path, and the family tree alone (edges, nodes, labels, rows, legend) is half of it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlpipe.config.mutation_kinds import MUTATION_KINDS
from marlpipe.io import atomic_write

DPI = 100
"""Resolution of the figures (pixels per inch)."""
MAX_WIDTH_PX = 1400
"""No figure is wider than this (a laptop screen), whatever the number of generations."""
_COLUMN_IN = 0.95  # a lineage column (one generation) at full size, in inches
_MARGIN_IN = 2.2  # the lineage figure's y axis and colour bar, in inches
_ROW_COLUMNS = 12  # lineage columns per row before the figure wraps into another row
_MAX_ROWS = 4  # rows of lineage columns before the columns narrow instead
_TEXT_MIN_IN = 0.7  # narrower lineage columns drop the #index and mutation labels

MARKERS = {"initial": "o", **{kind.name: kind.marker for kind in MUTATION_KINDS}}
"""Marker of each mutation kind a member was born with (``initial``: generation 0)."""

_LEGEND = {
    "initial": "initial / no mutation",
    **{kind.name: kind.label for kind in MUTATION_KINDS if kind.label is not None},
}
"""Legend entry of each marker (kinds without a label share ``initial``'s)."""
_ELITE_RING = "#f5a300"
_ANCESTRY = "#c0143c"
_MIGRATED = "#1f77b4"
_LABEL_BOX = {"boxstyle": "round,pad=0.12", "facecolor": "white", "edgecolor": "none",
              "alpha": 0.85}  # fmt: skip


def _sources(previous: list[dict[str, Any]], current: list[dict[str, Any]]) -> list[int | None]:
    """The slot in ``previous`` each member of ``current`` came from: itself when it carried on
    unselected (same index), else the parent it was cloned from; ``None`` when neither is there."""
    slots = {int(m["index"]): slot for slot, m in enumerate(previous)}
    found = []
    for member in current:
        index, parent = int(member["index"]), member["parent"]
        found.append(slots[index] if index in slots else slots.get(parent))
    return found


def _columns(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    columns = [list(row["members"]) for row in rows]
    if rows and rows[-1].get("children"):
        columns.append(list(rows[-1]["children"]))  # the population a next generation would train
    return columns


def _style():
    import matplotlib.style

    return matplotlib.style.context("default")  # ignore the user's matplotlibrc: same bytes


def _new_figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    # No "Software" entry (it names the matplotlib version), no timestamp: same data, same bytes.
    return atomic_write(
        path, lambda f: fig.savefig(f, format="png", dpi=DPI, metadata={"Software": None})
    )


def draw_lineage(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write the population's family tree as a PNG at ``path``.

    x: generation, y: member slot; a node per member per generation, coloured by its fitness
    and shaped by the mutation it was born with (labelled ``#index`` above, what changed below);
    an edge from the member of the previous generation it was cloned from. Gold rings mark each
    generation's elite; the red path is the ancestry of the last generation's elite (the one in
    ``models/elite``). A last column, hollow, shows the next population (``models/population``).
    """
    if not rows:
        raise ValueError("draw_lineage: no generations to draw")
    with _style():
        return _save(lineage_figure(rows), path)


def lineage_layout(columns: int) -> tuple[int, float]:
    """How the family tree lays out ``columns`` generation columns: (columns per row, inches per
    column). Up to :data:`_ROW_COLUMNS` columns a row at full width; beyond, more rows (balanced)
    up to :data:`_MAX_ROWS`; beyond that, narrower columns, so the figure stays within
    :data:`MAX_WIDTH_PX`."""
    rows = min(_MAX_ROWS, math.ceil(columns / _ROW_COLUMNS))
    per_row = math.ceil(columns / max(rows, 1))
    return per_row, min(_COLUMN_IN, (MAX_WIDTH_PX / DPI - _MARGIN_IN) / per_row)


def _generation_ticks(axis: Any, labels: Sequence[str] | None = None, bins: Any = "auto") -> None:
    """Whole-number ticks on a generation ``axis`` (``labels``: the text at each position)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    axis.set_major_locator(MaxNLocator(nbins=bins, integer=True))
    if labels is not None:
        text = dict(enumerate(labels))
        axis.set_major_formatter(FuncFormatter(lambda x, _: text.get(x, "") if x == int(x) else ""))


def lineage_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """The family tree of :func:`draw_lineage` as a matplotlib figure (not saved)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    columns = _columns(rows)
    trained = len(rows)
    slots = max(len(c) for c in columns)
    per_row, column_in = lineage_layout(len(columns))
    n_rows = math.ceil(len(columns) / per_row)
    scale = column_in / _COLUMN_IN  # markers shrink with narrow columns
    text = column_in >= _TEXT_MIN_IN
    fig = _new_figure(
        min(MAX_WIDTH_PX / DPI, max(7.5, _MARGIN_IN + column_in * per_row)),
        1.6 + n_rows * (1.0 + 0.8 * slots),
    )
    axes = fig.subplots(n_rows, 1, squeeze=False)[:, 0]
    fitness = [m["fitness"] for column in columns[:trained] for m in column]
    low, high = min(fitness), max(fitness)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    norm, cmap = Normalize(low, high), colormaps["viridis"]

    # Edges: who was cloned from whom; the final elite's ancestry on top.
    sources = [[None] * len(columns[0])] + [
        _sources(columns[x - 1], columns[x]) for x in range(1, len(columns))
    ]
    path_nodes, slot = set(), _slot_of(columns[trained - 1], rows[-1]["elite_index"])
    for x in range(trained - 1, -1, -1):
        if slot is None:
            break
        path_nodes.add((x, slot))
        slot = sources[x][slot]
    plain, ancestry, migrated = [], [], []
    for x in range(1, len(columns)):
        actions = _selection_actions(rows[x - 1])
        for slot, source in enumerate(sources[x]):
            if source is not None:
                edge = [(x - 1, source), (x, slot)]
                on_path = (x - 1, source) in path_nodes and (x, slot) in path_nodes
                moved = actions.get(slot, "").startswith("migrated")
                (ancestry if on_path else migrated if moved else plain).append(edge)
    bounds = _subpopulation_bounds(rows)

    labels = [str(row["generation"]) for row in rows] + ["next"] * (len(columns) > trained)
    for number, ax in enumerate(axes):
        # Each row shows its columns; an edge from the row above enters at the left edge
        # (the axes clip it), so every row has the same x scale.
        first = number * per_row
        ax.add_collection(LineCollection(plain, colors="#9a9a9a", linewidths=1.0, zorder=1))
        if migrated:
            ax.add_collection(LineCollection(migrated, colors=_MIGRATED, linewidths=1.2,
                                             linestyles="dashed", zorder=1))  # fmt: skip
        for bound in bounds:  # MF-PBT: a dotted line between subpopulations
            ax.axhline(bound, color="#bbbbbb", linestyle=":", linewidth=0.8, zorder=0)
        ax.add_collection(LineCollection(ancestry, colors=_ANCESTRY, linewidths=2.6 * scale ** 0.5,
                                         zorder=2))  # fmt: skip
        for x in range(first, min(first + per_row, len(columns))):
            _lineage_nodes(ax, x, columns[x], x < trained, (norm, cmap), scale, text)
        _generation_ticks(ax.xaxis, labels, per_row + 1 if text else 12)
        ax.set_yticks(range(slots), [str(s) for s in range(slots)])
        ax.set_xlim(first - 0.6, first + per_row - 0.4)
        ax.set_ylim(slots - 0.4, -0.6)  # slot 0 on top
        ax.set_ylabel("member slot")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("generation (next: the population after the last selection and mutation)")
    fig.suptitle("Population lineage: who was cloned from whom, and the mutation each received")
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=list(axes), pad=0.01,
                       aspect=30 * n_rows)  # fmt: skip
    bar.set_label("fitness (mean greedy return)")

    kinds = [k for k in _LEGEND if k == "initial" or any(
        (m["mutation"] or "initial") == k for column in columns for m in column)]  # fmt: skip
    handles = [
        Line2D([], [], ls="", marker=MARKERS[k], color="white", markeredgecolor="black",
               markersize=8, label=_LEGEND[k])
        for k in kinds
    ]  # fmt: skip
    handles += [
        Line2D([], [], ls="", marker="o", markersize=13, markerfacecolor="none",
               markeredgecolor=_ELITE_RING, markeredgewidth=2.0, label="elite of the generation"),
        Line2D([], [], color=_ANCESTRY, lw=2.6, label="ancestry of the final elite"),
        Line2D([], [], color="#9a9a9a", lw=1.0, label="cloned from"),
    ]  # fmt: skip
    if migrated:
        handles.append(Line2D([], [], color=_MIGRATED, lw=1.2, ls="--",
                              label="migrated from another subpopulation"))  # fmt: skip
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=7.5, frameon=False)  # fmt: skip
    return fig


def _lineage_nodes(
    ax: Any, x: int, column: list[dict[str, Any]], trained: bool, colours: tuple[Any, Any],
    scale: float, text: bool,
) -> None:  # fmt: skip
    """Column ``x``'s nodes: colour = fitness (hollow when untrained), marker = mutation kind,
    a ring on the elite, ``#index`` above and what changed below (when ``text``)."""
    norm, cmap = colours
    for slot, member in enumerate(column):
        kind = member["mutation"] or "initial"
        face = cmap(norm(member["fitness"])) if trained else "white"
        ax.scatter([x], [slot], s=150 * scale, marker=MARKERS.get(kind, "X"), c=[face],
                   edgecolors="black", linewidths=0.8, zorder=4)  # fmt: skip
        if member["elite"]:
            ring = _ELITE_RING if trained else "#7a7a7a"
            ax.scatter([x], [slot], s=480 * scale, marker="o", facecolors="none", edgecolors=ring,
                       linewidths=2.2 * scale ** 0.5, zorder=3)  # fmt: skip
        if not text:
            continue
        ax.annotate(f"#{member['index']}", (x, slot), xytext=(0, 14),
                    textcoords="offset points", ha="center", va="bottom", fontsize=6.5,
                    color="#333333", zorder=5, bbox=_LABEL_BOX)  # fmt: skip
        if member["detail"]:
            ax.annotate(member["detail"], (x, slot), xytext=(0, -14),
                        textcoords="offset points", ha="center", va="top", fontsize=6.5,
                        color="#1f3a93", zorder=5, bbox=_LABEL_BOX)  # fmt: skip


def _selection_actions(row: dict[str, Any]) -> dict[int, str]:
    """Slot -> what MF-PBT did to it after ``row``'s generation (empty under tournament)."""
    children = enumerate(row.get("children", []))
    return {slot: child["selection"]["action"] for slot, child in children
            if child.get("selection")}  # fmt: skip


def _subpopulation_bounds(rows: Sequence[dict[str, Any]]) -> list[float]:
    """The y of each boundary between MF-PBT subpopulations (none under tournament)."""
    children = next((row["children"] for row in rows if _selection_actions(row)), [])
    groups = [child["selection"]["subpopulation"] for child in children]
    return [slot - 0.5 for slot in range(1, len(groups)) if groups[slot] != groups[slot - 1]]


def _slot_of(column: list[dict[str, Any]], index: int) -> int | None:
    return next((slot for slot, m in enumerate(column) if int(m["index"]) == int(index)), None)


def _finish_fitness_axes(fig: Any, ax: Any, title: str) -> None:
    """What both fitness figures share: named axes, whole generation ticks, a grid, ``title``
    and the legend outside on the right."""
    ax.set_xlabel("generation")
    ax.set_ylabel("fitness (mean greedy return)")
    ax.set_title(title)
    _generation_ticks(ax.xaxis)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7.5, frameon=False)


def draw_member_fitness(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write each member slot's fitness per generation, and the elite's, as a PNG at ``path``."""
    if not rows:
        raise ValueError("draw_member_fitness: no generations to draw")
    with _style():
        return _save(member_fitness_figure(rows), path)


def member_fitness_figure(rows: Sequence[dict[str, Any]]) -> Any:
    """The figure of :func:`draw_member_fitness` (not saved)."""
    from matplotlib import colormaps

    generations = [row["generation"] for row in rows]
    slots = max(len(row["members"]) for row in rows)
    fig = _new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    colours = colormaps["tab10"]
    for slot in range(slots):
        points = [(row["generation"], row["members"][slot]["fitness"]) for row in rows
                  if slot < len(row["members"])]  # fmt: skip
        ax.plot(*zip(*points, strict=True), marker="o", markersize=3, lw=1.2, zorder=2,
                color=colours(slot % 10), label=f"member slot {slot}")  # fmt: skip
    ax.plot(generations, [row["elite_fitness"] for row in rows], color="black", lw=5,
            alpha=0.25, zorder=1, label="elite (selection fitness)")  # fmt: skip
    _finish_fitness_axes(fig, ax, "Fitness of every member per generation")
    return fig


def draw_fitness(history: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write the fitness per generation (the rows of ``reports/fitness.json``) as a PNG at
    ``path``: the elite's, the mean and the best, over the band from the worst to the best."""
    if not history:
        raise ValueError("draw_fitness: no generations to draw")
    with _style():
        return _save(fitness_figure(history), path)


def fitness_figure(history: Sequence[dict[str, Any]]) -> Any:
    """The figure of :func:`draw_fitness` (not saved)."""
    generations = [row["generation"] for row in history]
    fig = _new_figure(7.5, 4.2)
    ax = fig.add_subplot()
    low = [row.get("min_fitness", row["mean_fitness"]) for row in history]
    high = [row["max_fitness"] for row in history]
    ax.fill_between(generations, low, high, color="#1f77b4", alpha=0.15, lw=0,
                    label="worst to best member")  # fmt: skip
    ax.plot(generations, high, color="#1f77b4", lw=1.2, marker="^", markersize=4,
            label="best member")  # fmt: skip
    ax.plot(generations, [row["mean_fitness"] for row in history], color="#ff7f0e", lw=1.2,
            marker="s", markersize=3.5, label="mean of the members")  # fmt: skip
    ax.plot(generations, [row["elite_fitness"] for row in history], color="black", lw=2.2,
            marker="o", markersize=4, label="elite (selection fitness)", zorder=3)  # fmt: skip
    _finish_fitness_axes(fig, ax, "Fitness per generation")
    return fig


def write_figures(
    history: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], *, fitness: Path,
    lineage: Path, members: Path,
) -> None:  # fmt: skip
    """The three figures: fitness per generation (from the fitness rows ``history``) at
    ``fitness``; from the lineage ``rows``, the family tree at ``lineage`` and every member's
    fitness at ``members``."""
    draw_fitness(history, fitness)
    draw_lineage(rows, lineage)
    draw_member_fitness(rows, members)


__all__ = [
    "DPI",
    "MARKERS",
    "MAX_WIDTH_PX",
    "draw_fitness",
    "draw_lineage",
    "draw_member_fitness",
    "fitness_figure",
    "lineage_figure",
    "lineage_layout",
    "member_fitness_figure",
    "write_figures",
]
