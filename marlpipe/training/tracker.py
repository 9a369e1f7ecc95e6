"""What the training loop reports after each generation, and who listens (the Tracker protocol)."""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent
    from marlpipe.training.state import LoopState


@dataclass(frozen=True)
class MemberRecord:
    """One member as trained and evaluated in a generation."""

    index: int
    """The member's population index."""
    fitness: float
    """Score of this generation's evaluation (mean return summed over the scored agents,
    ``evolution.fitness_agents``; every agent when null)."""
    selection_fitness: float
    """Mean of the last ``eval_loop`` evaluations: what tournament selection compared."""
    parent: int | None
    """Index of the member it was cloned from (``None`` in the initial population)."""
    mutation: dict[str, Any] | None
    """The mutation it received when it was born (``None`` in the initial population)."""
    hyperparameters: dict[str, Any]
    """Its hyperparameters while it trained in this generation."""
    train_return: float | None
    """Mean return of the training episodes it finished, summed over the same scored agents
    as ``fitness`` (``None``: none finished)."""
    learn_calls: int
    """``learn()`` calls it made in this generation."""
    actor_loss: dict[str, float] = field(default_factory=dict)
    """Mean actor loss per agent id over this generation's ``learn()`` calls that updated the
    actors (every ``policy_freq``-th for MATD3); empty when none did."""
    critic_loss: dict[str, float] = field(default_factory=dict)
    """Mean critic loss per agent id over this generation's ``learn()`` calls; empty when it
    did not learn."""
    worker: str | None = None
    """Who trained it this generation: a Ray actor's ``node-ip:pid`` (``None``: this process)."""
    node: str | None = None
    """The Ray node id its turn ran on (``None``: this process)."""
    evaluated_on: str | None = None
    """Who played its fitness episodes: the Ray worker that trained it (``worker``), or
    ``None`` for the driver."""
    reruns: int = 0
    """How often its turn was rerun on a fresh worker after the one running it died."""


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
    selection: dict[str, Any] | None = None
    """What MF-PBT did to its slot (``lineage["selection"]``: subpopulation, bracket, action,
    source index, mutate; see :mod:`marlpipe.evolution.mf_pbt`); ``None`` under tournament
    selection."""


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
    """Mean over members of the exploration epsilon (discrete actions) each ended its turn with."""
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


def hyperparameters_of(agent: Agent) -> dict[str, Any]:
    """The agent's current hyperparameters as plain Python values."""
    hps = agent.hyperparameters() if hasattr(agent, "hyperparameters") else {}
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in hps.items()}


def mutation_count(agent: Agent) -> int:
    """How many mutation entries the agent's lineage holds."""
    return len(agent.lineage.get("mutations") or [])


def birth_mutation(agent: Agent) -> dict[str, Any] | None:
    """The mutation the agent received in the generation it was born (``None``: none)."""
    mutations = agent.lineage.get("mutations") or []
    born = agent.lineage.get("generation", 0)
    return mutations[-1] if mutations and mutations[-1].get("generation") == born else None


def child_record(agent: Agent, mutations_before: int) -> ChildRecord:
    """The record of one next-generation member; its mutation is the entry added after selection."""
    lineage = agent.lineage
    mutations = lineage.get("mutations") or []
    return ChildRecord(
        index=int(agent.index),
        parent=lineage.get("parent"),
        generation=int(lineage.get("generation", 0)),
        elite=bool(lineage.get("elite", False)),
        mutation=copy.deepcopy(mutations[-1]) if len(mutations) > mutations_before else None,
        hyperparameters=hyperparameters_of(agent),
        selection=copy.deepcopy(lineage.get("selection")),
    )


@runtime_checkable
class Tracker(Protocol):
    """Where a run is recorded: what the evolution loop and the stages tell their tracker.

    One tracker is one run: ``start`` opens it, the ``log_*`` calls fill it, ``flush`` writes
    what it kept once the generations are done, ``finish`` closes it. The methods here record
    nothing; a tracker subclasses this and overrides what it keeps (:class:`ListTracker` the
    generation records, ``marlpipe.tracking.MlflowTracker`` all, the evolve stage's reports
    and checkpoint their part). :class:`Trackers` hands every call to several.
    """

    def start(self) -> str | None:
        """Open (or, when resuming, reopen) the run; return its id (``None``: not recorded)."""
        return None

    def discard_generations_from(self, generation: int) -> None:
        """Forget generations from ``generation`` on (logged, then lost to a kill)."""

    def mark_abandoned(self, run_id: str) -> bool:
        """Say that run ``run_id``, whose partial state was set aside, will never be continued;
        ``True`` if the record changed."""
        return False

    def log_generation(self, record: GenerationRecord) -> None:
        """Record one finished generation."""

    def log_checkpoint(self, result: Any, state: LoopState) -> None:
        """Keep what a resume needs after the generation of ``result`` (the loop's
        ``GenerationResult``); ``state`` is already advanced past it (the loop calls this after
        every generation)."""

    def flush(self) -> None:
        """Write what was kept (the run's generations are done and it did not fail)."""

    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Record run-level figures (e.g. the evaluation's scores)."""

    def log_artifacts(self, local_dir: str | os.PathLike, artifact_path: str) -> None:
        """Store the files of ``local_dir`` with the run under ``artifact_path``."""

    def register_model(
        self,
        name: str,
        model_uri: str,
        tags: dict[str, Any] | None = None,
        model_id: str | None = None,
    ) -> int | None:
        """Register the logged model ``model_uri`` as a new version of model ``name``."""
        return None

    def finish(self, status: str = "FINISHED") -> None:
        """Close the run as ``FINISHED``, ``FAILED`` or ``KILLED``."""


class NullTracker(Tracker):
    """A tracker that records nothing (the default, and handy in tests)."""


class Trackers(Tracker):
    """One record, several outputs: every call goes to each of ``outputs``, in their order.

    :meth:`start` returns the first run id one of them gives (MLflow's), :meth:`mark_abandoned`
    whether any changed its record; ``finish`` closes them in order.
    """

    def __init__(self, *outputs: Tracker) -> None:
        self.outputs = list(outputs)

    def start(self) -> str | None:
        """Start each; the first run id given."""
        ids = [output.start() for output in self.outputs]
        return next((run_id for run_id in ids if run_id is not None), None)

    def discard_generations_from(self, generation: int) -> None:
        """Each forgets generations from ``generation`` on."""
        for output in self.outputs:
            output.discard_generations_from(generation)

    def mark_abandoned(self, run_id: str) -> bool:
        """Each marks ``run_id``; whether any record changed."""
        return any([output.mark_abandoned(run_id) for output in self.outputs])

    def log_generation(self, record: GenerationRecord) -> None:
        """Each records ``record``."""
        for output in self.outputs:
            output.log_generation(record)

    def log_checkpoint(self, result: Any, state: LoopState) -> None:
        """Each keeps what it needs to resume after ``result``."""
        for output in self.outputs:
            output.log_checkpoint(result, state)

    def flush(self) -> None:
        """Each writes what it kept."""
        for output in self.outputs:
            output.flush()

    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Each records ``metrics``."""
        for output in self.outputs:
            output.log_metrics(metrics)

    def log_artifacts(self, local_dir: str | os.PathLike, artifact_path: str) -> None:
        """Each stores the files of ``local_dir``."""
        for output in self.outputs:
            output.log_artifacts(local_dir, artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        """Each closes, in order."""
        for output in self.outputs:
            output.finish(status)


class ListTracker(NullTracker):
    """A tracker that keeps every generation record in ``records`` (tests, notebooks)."""

    def __init__(self) -> None:
        self.records: list[GenerationRecord] = []

    def log_generation(self, record: GenerationRecord) -> None:
        """Append ``record``."""
        self.records.append(record)


__all__ = [
    "ChildRecord",
    "birth_mutation",
    "child_record",
    "hyperparameters_of",
    "mutation_count",
    "GenerationRecord",
    "ListTracker",
    "MemberRecord",
    "NullTracker",
    "Tracker",
    "Trackers",
]
