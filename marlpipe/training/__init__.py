"""Training: experience collection, one generation, the evolution loop and its records."""

from marlpipe.training.agilerl_style import (
    mutations_from_keywords,
    tournament_from_keywords,
    train_multi_agent,
)
from marlpipe.training.loop import (
    EvolutionResult,
    GenerationResult,
    evolve,
    run_generation,
)
from marlpipe.training.rollout import LearnSchedule, RolloutStats, collect
from marlpipe.training.state import LoopState
from marlpipe.training.tracker import (
    ChildRecord,
    GenerationRecord,
    ListTracker,
    MemberRecord,
    NullTracker,
    Tracker,
    Trackers,
)

__all__ = [
    "ChildRecord",
    "EvolutionResult",
    "GenerationRecord",
    "GenerationResult",
    "LearnSchedule",
    "ListTracker",
    "LoopState",
    "MemberRecord",
    "NullTracker",
    "RolloutStats",
    "Tracker",
    "Trackers",
    "collect",
    "mutations_from_keywords",
    "tournament_from_keywords",
    "evolve",
    "run_generation",
    "train_multi_agent",
]
