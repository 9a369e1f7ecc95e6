"""The one table of mutation kinds: what mutations draw, params validate and figures draw.

:data:`MUTATION_KINDS` is in draw order: :class:`~marlpipe.evolution.mutations.Mutations`
builds its probability vector from the ``config_field`` weights of ``mutation:`` in this order
and maps the drawn position back to a kind, so the order is part of every run's numbers (never
reorder it; a new kind goes at the end). ``check_mutation`` reads the same weights, and the
evolve stage's lineage figure takes each kind's marker and legend label from here.
Torch-free, like the rest of ``config/``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MutationKind:
    """One kind of mutation.

    ``name``: the kind recorded in ``lineage["mutations"]``; ``config_field``: its weight in
    :class:`~marlpipe.config.params.MutationConfig`; ``method``: the ``Mutations`` method that
    applies it (``None``: nothing to apply); ``sub_kinds``: what the kind may do in turn
    (``method`` of the architecture record; the hyperparameters come from ``rl_hp_selection``);
    ``marker``/``label``: its marker and legend entry in the lineage figure (``label`` ``None``:
    shown under the figure's ``initial`` entry).
    """

    name: str
    config_field: str
    method: str | None
    marker: str
    label: str | None
    sub_kinds: tuple[str, ...] = ()


MUTATION_KINDS: tuple[MutationKind, ...] = (
    MutationKind("none", "no_mutation", None, "o", None),
    MutationKind(
        "architecture",
        "architecture",
        "architecture_mutation",
        "s",
        "architecture (+layer, +nodes)",
        ("add_layer", "add_nodes"),
    ),
    MutationKind(
        "parameters", "parameters", "parameter_mutation", "^", "parameters (weight noise)"
    ),
    MutationKind(
        "activation",
        "activation",
        "activation_mutation",
        "D",
        "activation (-> new)",
        ("change_activation",),
    ),
    MutationKind("rl_hp", "rl_hp", "rl_hp_mutation", "P", "RL hyperparameter (x factor)"),
)
"""Every mutation kind, in the order of the probability vector (see the module doc)."""

KIND_NAMES: tuple[str, ...] = tuple(kind.name for kind in MUTATION_KINDS)
"""The kinds' names in draw order."""


def mutation_weights(config: object) -> list[float]:
    """The weight of each kind in :data:`MUTATION_KINDS` order, read from a ``MutationConfig``."""
    return [getattr(config, kind.config_field) for kind in MUTATION_KINDS]


__all__ = ["KIND_NAMES", "MUTATION_KINDS", "MutationKind", "mutation_weights"]
