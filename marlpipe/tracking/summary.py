"""One generation's record, summarised once: its fitness row, its lineage row, its MLflow metrics.

A :class:`~marlpipe.training.tracker.GenerationRecord` reaches several outputs: the fitness
report (``reports/fitness.json``, :func:`fitness_row`), the lineage report and its figures
(``reports/lineage.json``, :func:`lineage_row`) and MLflow (a child run per generation and the
parent run's curves, :func:`mlflow_metrics`). Each view is derived here, from the record alone;
the fitness summary they share (the elite's, mean, max and min fitness) is computed once, in
:func:`fitness_summary`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from marlpipe.tracking.store import flatten
from marlpipe.training.tracker import GenerationRecord


def fitness_summary(record: GenerationRecord) -> dict[str, float]:
    """``elite_fitness`` (selection's), ``mean_fitness``, ``max_fitness``, ``min_fitness``."""
    fitness = [m.fitness for m in record.members]
    return {
        "elite_fitness": record.elite_fitness,
        "mean_fitness": sum(fitness) / len(fitness),
        "max_fitness": max(fitness),
        "min_fitness": min(fitness),
    }


def fitness_row(record: GenerationRecord) -> dict[str, Any]:
    """One ``reports/fitness.json`` row: the generation, its env steps, :func:`fitness_summary`
    and every member's fitness (``member_<pos>``)."""
    row = {"generation": record.generation, "env_steps": record.env_steps}
    row.update(fitness_summary(record))
    row.update({f"member_{pos}": m.fitness for pos, m in enumerate(record.members)})
    return row


def mutation_label(mutation: dict[str, Any] | None) -> str | None:
    """A few characters saying what a mutation changed (``None``: nothing worth a label)."""
    if not mutation:
        return None
    kind = mutation.get("kind")
    if kind == "architecture":
        method = str(mutation.get("method") or "")
        return "+" + method[4:] if method.startswith("add_") else method or None
    if kind == "activation":
        new = mutation.get("new")
        if isinstance(new, dict) and new:
            new = next(iter(new.values()))
        return f"-> {new}" if new else None
    if kind == "rl_hp":
        return f"{mutation.get('where')} x{float(mutation.get('factor', 1.0)):g}"
    return None


def _birth(mutation: dict[str, Any] | None) -> dict[str, Any]:
    return {"mutation": (mutation or {}).get("kind"), "detail": mutation_label(mutation)}


def lineage_row(record: GenerationRecord) -> dict[str, Any]:
    """One ``reports/lineage.json`` row (the figures of :mod:`marlpipe.tracking.figures` are
    drawn from these rows).

    ``members``: the population that trained, in slot order, each with its index, fitness, the
    parent it was cloned from, the kind of mutation it was born with (``None`` in generation
    0) and a short ``detail``, and ``elite`` (selection kept it as this generation's elite).
    ``children``: the next population as selection and mutation made it (the same lineage as the
    next row's members; after the last generation it is ``models/population``), ``elite`` there
    marking the elite's clone; under MF-PBT each child also has ``selection`` (its
    subpopulation, bracket and action: kept, waiting, cloned, migrated, migrated_weights).
    """
    members = [
        {"index": int(m.index), "fitness": float(m.fitness), "parent": m.parent,
         **_birth(m.mutation), "elite": int(m.index) == int(record.elite_index)}
        for m in record.members
    ]  # fmt: skip
    children = [
        {"index": int(c.index), "parent": c.parent, **_birth(c.mutation), "elite": bool(c.elite),
         **({"selection": dict(c.selection)} if c.selection is not None else {})}
        for c in record.children
    ]  # fmt: skip
    return {
        "generation": int(record.generation),
        "elite_index": int(record.elite_index),
        "elite_fitness": float(record.elite_fitness),
        "members": members,
        "children": children,
    }


@dataclass(frozen=True)
class GenerationMetrics:
    """A generation as MLflow keeps it."""

    child: dict[str, float]
    """The generation's child run's metrics: :attr:`parent`'s, the elite's index and per
    member its fitness, selection fitness, learn calls, training return, losses per agent, and
    the loop's own figures (``extra.<name>``)."""
    params: dict[str, Any]
    """The child run's params: who each member is (index, parent, birth mutation, worker), the
    next population (``child_<pos>.*``; under MF-PBT with ``child_<pos>.selection``, what was
    done to the slot) and the elite's hyperparameters (``elite.*``)."""
    parent: dict[str, float]
    """Step ``generation`` of the parent run's curves: :func:`fitness_summary`, env steps, wall
    time, epsilon, every member's fitness, the counts of each mutation kind (and under MF-PBT
    of each selection action, ``selection.<action>``), the mean losses per
    agent (:func:`mean_losses`) and the elite's numeric hyperparameters."""


def mlflow_metrics(record: GenerationRecord) -> GenerationMetrics:
    """``record`` as the metrics and params of its MLflow child run and the parent's curves."""
    summary: dict[str, Any] = {
        **fitness_summary(record),
        "env_steps": record.env_steps,
        "wall_time": record.wall_time,
        "epsilon": record.epsilon,
        **{f"member_{pos}.fitness": m.fitness for pos, m in enumerate(record.members)},
    }
    metrics = {**summary, "elite_index": record.elite_index}
    params: dict[str, Any] = {"generation": record.generation}
    for pos, member in enumerate(record.members):
        metrics[f"member_{pos}.fitness"] = member.fitness
        metrics[f"member_{pos}.selection_fitness"] = member.selection_fitness
        metrics[f"member_{pos}.learn_calls"] = member.learn_calls
        if member.train_return is not None:
            metrics[f"member_{pos}.train_return"] = member.train_return
        for kind in ("actor_loss", "critic_loss"):
            for agent_id, value in getattr(member, kind).items():
                metrics[f"member_{pos}.{kind}.{agent_id}"] = value
        params[f"member_{pos}.index"] = member.index
        params[f"member_{pos}.parent"] = json.dumps(member.parent)
        params[f"member_{pos}.mutation"] = json.dumps(member.mutation)
        if member.worker is not None:
            params[f"member_{pos}.worker"] = member.worker
    kinds: dict[str, int] = {}
    actions: dict[str, int] = {}
    for pos, offspring in enumerate(record.children):  # this generation's selection + mutation
        params[f"child_{pos}.index"] = offspring.index
        params[f"child_{pos}.parent"] = json.dumps(offspring.parent)
        params[f"child_{pos}.elite"] = offspring.elite
        params[f"child_{pos}.mutation"] = json.dumps(offspring.mutation, default=str)
        params.update(flatten(offspring.hyperparameters, f"child_{pos}.hp."))
        kind = (offspring.mutation or {}).get("kind", "none")
        kinds[kind] = kinds.get(kind, 0) + 1
        if offspring.selection is not None:  # MF-PBT: what happened to the slot, and counts
            params[f"child_{pos}.selection"] = json.dumps(offspring.selection)
            action = f"selection.{offspring.selection['action']}"
            actions[action] = actions.get(action, 0) + 1
    summary.update({f"mutations.{kind}": count for kind, count in kinds.items()})
    summary.update(actions)
    summary.update(mean_losses(record))
    metrics.update(summary)
    elite = next((m for m in record.members if m.index == record.elite_index), None)
    if elite is not None:
        params.update(flatten(elite.hyperparameters, "elite."))
        summary.update(
            {
                f"elite.{name}": value
                for name, value in elite.hyperparameters.items()
                if isinstance(value, int | float) and not isinstance(value, bool)
            }
        )
    for key, value in record.extra.items():
        if isinstance(value, (int, float)):
            metrics[f"extra.{key}"] = value
    return GenerationMetrics(metrics, params, summary)


def mean_losses(record: GenerationRecord) -> dict[str, float]:
    """``actor_loss.<agent>`` and ``critic_loss.<agent>``: the mean over the members that have
    that loss this generation (members that did not learn, or never updated their actors, are
    left out rather than counted as zero)."""
    sums: dict[str, list[float]] = {}
    for member in record.members:
        for kind in ("actor_loss", "critic_loss"):
            for agent_id, value in getattr(member, kind).items():
                sums.setdefault(f"{kind}.{agent_id}", []).append(value)
    return {name: sum(values) / len(values) for name, values in sums.items()}


__all__ = [
    "GenerationMetrics",
    "fitness_row",
    "fitness_summary",
    "lineage_row",
    "mean_losses",
    "mlflow_metrics",
    "mutation_label",
]
