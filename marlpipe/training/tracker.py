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


__all__ = ["GenerationRecord", "ListTracker", "MemberRecord", "NullTracker", "Tracker"]
