"""What the training loop reports after each generation, and who listens (the Tracker protocol)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class MemberRecord:
    """One member as trained and evaluated in a generation."""

    index: int
    """The member's population index."""
    fitness: float
    """Score of this generation's evaluation (mean summed-over-agents return)."""
    selection_fitness: float
    """Mean of the last ``eval_loop`` evaluations: what tournament selection compared."""
    parent: int | None
    """Index of the member it was cloned from (``None`` in the initial population)."""
    mutation: dict[str, Any] | None
    """The mutation it received when it was born (``None`` in the initial population)."""
    hyperparameters: dict[str, Any]
    """Its hyperparameters while it trained in this generation."""
    train_return: float | None
    """Mean summed-over-agents return of the training episodes it finished (``None``: none)."""
    learn_calls: int
    """``learn()`` calls it made in this generation."""


@dataclass(frozen=True)
class ChildRecord:
    """One member of the next population, as selection and mutation made it this generation."""

    index: int
    """Its population index in the next generation."""
    parent: int | None
    """Index of the member it was cloned from (``lineage["parent"]``; without a tournament the
    population carries on unselected and this stays what it was)."""
    generation: int
    """Generation it was born in (``lineage["generation"]``)."""
    elite: bool
    """Whether selection placed it as the elite (kept unmutated when mutations protect it)."""
    mutation: dict[str, Any] | None
    """The mutation it received this generation: ``kind``, ``where``, ``old``, ``new`` and
    kind-specific extras (``None`` when no mutation was applied)."""
    hyperparameters: dict[str, Any]
    """Its hyperparameters after mutation: what it will train with next."""


@dataclass(frozen=True)
class GenerationRecord:
    """Everything a tracker logs about one generation (train -> evaluate -> select -> mutate)."""

    generation: int
    """Zero-based number of the generation just finished."""
    env_steps: int
    """Env transitions collected since training began, all members together."""
    members: list[MemberRecord]
    """The population that trained and was evaluated, in population order."""
    elite_index: int
    """Index of the member selection kept as the elite."""
    elite_fitness: float
    """Its selection fitness."""
    wall_time: float
    """Seconds this generation took."""
    epsilon: float = 0.0
    """Exploration epsilon used for discrete actions in this generation."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Room for loop-specific figures (e.g. env steps per second)."""
    children: list[ChildRecord] = field(default_factory=list)
    """The next population after this generation's selection and mutation, in its order. The
    same lineage reappears in the next record's ``members``, but only here for the last
    generation (which has no next record)."""

    @property
    def fitnesses(self) -> dict[int, float]:
        """This generation's evaluation score per member index."""
        return {m.index: m.fitness for m in self.members}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return asdict(self)


@runtime_checkable
class Tracker(Protocol):
    """Receives one :class:`GenerationRecord` per generation (e.g. an MLflow child run)."""

    def log_generation(self, record: GenerationRecord) -> None:
        """Record one finished generation."""
        ...


class NullTracker:
    """A tracker that drops everything (the default, and handy in tests)."""

    def log_generation(self, record: GenerationRecord) -> None:
        """Ignore ``record``."""


class ListTracker:
    """A tracker that keeps every record in ``records`` (tests, notebooks)."""

    def __init__(self) -> None:
        self.records: list[GenerationRecord] = []

    def log_generation(self, record: GenerationRecord) -> None:
        """Append ``record``."""
        self.records.append(record)


__all__ = [
    "ChildRecord",
    "GenerationRecord",
    "ListTracker",
    "MemberRecord",
    "NullTracker",
    "Tracker",
]
