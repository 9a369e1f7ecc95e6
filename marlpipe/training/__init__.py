"""Training: experience collection, fitness evaluation, one generation, the evolution loop."""

from marlpipe.training.evaluate import evaluate_population, greedy_score
from marlpipe.training.loop import GenerationResult, run_generation, train_multi_agent
from marlpipe.training.rollout import LearnSchedule, RolloutStats, collect
from marlpipe.training.state import LoopState
from marlpipe.training.tracker import (
    ChildRecord,
    GenerationRecord,
    ListTracker,
    MemberRecord,
    NullTracker,
    Tracker,
)

__all__ = [
    "ChildRecord",
    "GenerationRecord",
    "GenerationResult",
    "LearnSchedule",
    "ListTracker",
    "LoopState",
    "MemberRecord",
    "NullTracker",
    "RolloutStats",
    "Tracker",
    "collect",
    "evaluate_population",
    "greedy_score",
    "run_generation",
    "train_multi_agent",
]
