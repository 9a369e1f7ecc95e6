"""The evolve stage's figures: the population's family tree and every member's fitness.

Both are drawn from the lineage rows (:func:`marlpipe.tracking.summary.lineage_row`, one per
generation, as the stage writes them to ``reports/lineage.json``), so they can be redrawn from
that file alone.
matplotlib is imported inside the functions (Agg canvas, no pyplot, no GUI) and the default
style is used whatever the user's matplotlibrc says: the same rows always give the same PNG
bytes (DVC hashes them). Files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from marlpipe.config.mutation_kinds import MUTATION_KINDS
from marlpipe.io import atomic_write

DPI = 100
"""Resolution of both figures (pixels per inch)."""

MARKERS = {"initial": "o", **{kind.name: kind.marker for kind in MUTATION_KINDS}}
"""Marker of each mutation kind a member was born with (``initial``: generation 0)."""

_LEGEND = {
    "initial": "initial / no mutation",
    **{kind.name: kind.label for kind in MUTATION_KINDS if kind.label is not None},
}
"""Legend entry of each marker (kinds without a label share ``initial``'s)."""
_ELITE_RING = "#f5a300"
_ANCESTRY = "#c0143c"
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
        return _save(_lineage_figure(rows), path)


def _lineage_figure(rows: Sequence[dict[str, Any]]) -> Any:
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D

    columns = _columns(rows)
    trained = len(rows)
    slots = max(len(c) for c in columns)
    fig = _new_figure(max(6.5, 2.2 + 0.95 * len(columns)), 2.6 + 0.8 * slots)
    ax = fig.add_subplot()
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
    plain, ancestry = [], []
    for x in range(1, len(columns)):
        for slot, source in enumerate(sources[x]):
            if source is not None:
                edge = [(x - 1, source), (x, slot)]
                on_path = (x - 1, source) in path_nodes and (x, slot) in path_nodes
                (ancestry if on_path else plain).append(edge)
    ax.add_collection(LineCollection(plain, colors="#9a9a9a", linewidths=1.0, zorder=1))
    ax.add_collection(LineCollection(ancestry, colors=_ANCESTRY, linewidths=2.6, zorder=2))

    # Nodes: colour = fitness (hollow for the untrained last column), marker = mutation kind.
    for x, column in enumerate(columns):
        for slot, member in enumerate(column):
            kind = member["mutation"] or "initial"
            face = cmap(norm(member["fitness"])) if x < trained else "white"
            ax.scatter([x], [slot], s=150, marker=MARKERS.get(kind, "X"), c=[face],
                       edgecolors="black", linewidths=0.8, zorder=4)  # fmt: skip
            if member["elite"]:
                ring = _ELITE_RING if x < trained else "#7a7a7a"
                ax.scatter([x], [slot], s=480, marker="o", facecolors="none", edgecolors=ring,
                           linewidths=2.2, zorder=3)  # fmt: skip
            ax.annotate(f"#{member['index']}", (x, slot), xytext=(0, 14),
                        textcoords="offset points", ha="center", va="bottom", fontsize=6.5,
                        color="#333333", zorder=5, bbox=_LABEL_BOX)  # fmt: skip
            if member["detail"]:
                ax.annotate(member["detail"], (x, slot), xytext=(0, -14),
                            textcoords="offset points", ha="center", va="top", fontsize=6.5,
                            color="#1f3a93", zorder=5, bbox=_LABEL_BOX)  # fmt: skip

    ticks = list(range(len(columns)))
    labels = [str(row["generation"]) for row in rows]
    if len(columns) > trained:
        labels.append("next")
    ax.set_xticks(ticks, labels)
    ax.set_yticks(range(slots), [str(s) for s in range(slots)])
    ax.set_xlim(-0.6, len(columns) - 0.4)
    ax.set_ylim(slots - 0.4, -0.6)  # slot 0 on top
    ax.set_xlabel("generation (next: the population after the last selection and mutation)")
    ax.set_ylabel("member slot")
    ax.set_title("Population lineage: who was cloned from whom, and the mutation each received")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, pad=0.01, aspect=30)
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
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)),
               fontsize=7.5, frameon=False)  # fmt: skip
    return fig


def _slot_of(column: list[dict[str, Any]], index: int) -> int | None:
    return next((slot for slot, m in enumerate(column) if int(m["index"]) == int(index)), None)


def draw_member_fitness(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path:
    """Write each member slot's fitness per generation, and the elite's, as a PNG at ``path``."""
    if not rows:
        raise ValueError("draw_member_fitness: no generations to draw")
    with _style():
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
        ax.set_xlabel("generation")
        ax.set_ylabel("fitness (mean greedy return)")
        ax.set_title("Fitness of every member per generation")
        if len(generations) < 15:
            ax.set_xticks(generations)
        ax.grid(alpha=0.3)
        fig.legend(loc="outside right upper", fontsize=7.5, frameon=False)
        return _save(fig, path)


def write_figures(rows: Sequence[dict[str, Any]], lineage: Path, members: Path) -> None:
    """Both figures: the family tree at ``lineage``, member fitness at ``members``."""
    draw_lineage(rows, lineage)
    draw_member_fitness(rows, members)


__all__ = [
    "DPI",
    "MARKERS",
    "draw_lineage",
    "draw_member_fitness",
    "write_figures",
]
