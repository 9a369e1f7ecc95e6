"""The AgileRL-style conveniences, together: the seed text's keyword names over marlpipe's
config dataclasses, each validated like a params file (a bad value is one line naming it).

* :func:`tournament_from_keywords` -- ``TournamentSelection(tournament_size, elitism,
  population_size, eval_loop, rand_seed)`` onto :class:`~marlpipe.config.TournamentConfig`;
* :func:`mf_pbt_from_keywords` -- MF-PBT's selection (``subpopulations``,
  ``frequency_ratios``, ``winners``, ``open``, ``losers``) onto
  :class:`~marlpipe.config.MfPbtConfig`, validated against the population size; it goes where
  a tournament goes (``train_multi_agent(tournament=...)``);
* :func:`mutations_from_keywords` -- ``Mutations(no_mutation=..., architecture=...,
  min_lr=..., rand_seed=...)`` onto :class:`~marlpipe.config.MutationConfig` (bounds given flat);
* :func:`train_multi_agent` -- :func:`~marlpipe.training.loop.evolve` with a budget in env steps
  and the seed's names (``evo_steps``, ``eval_loop``, ``eps_*``).

Population creation (:func:`~marlpipe.evolution.population.create_population`), the buffer and
``agent.test()`` take the seed's names themselves and need no convenience here. The pipeline
and ``params.yaml`` use the dataclasses directly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from marlpipe.config.params import (
    EvolutionConfig,
    MfPbtConfig,
    MutationBounds,
    MutationConfig,
    TournamentConfig,
    validated,
)
from marlpipe.config.rules import check_mf_pbt, check_selection
from marlpipe.evolution.mf_pbt import MultiFrequencySelection
from marlpipe.evolution.mutations import Mutations
from marlpipe.evolution.tournament import TournamentSelection
from marlpipe.training.loop import evolve, population_seed
from marlpipe.training.state import LoopState

if TYPE_CHECKING:
    from marlpipe.algos.buffer import MultiAgentReplayBuffer
    from marlpipe.algos.protocols import Agent
    from marlpipe.envs.protocols import VecEnv
    from marlpipe.training.loop import OnGeneration
    from marlpipe.training.tracker import Tracker
    from marlpipe.training.trainers import Trainer


def tournament_from_keywords(
    tournament_size: int,
    elitism: bool,
    population_size: int,
    eval_loop: int = TournamentConfig.eval_last,
    rand_seed: int | None = None,
) -> TournamentSelection:
    """A :class:`TournamentSelection` from AgileRL's names (``tournament_size`` -> ``size``,
    ``eval_loop`` -> ``eval_last``), validated against the population size."""
    source = "tournament_from_keywords"
    values = {"size": tournament_size, "elitism": elitism, "eval_last": eval_loop}
    config = validated(TournamentConfig, values, source, "tournament.")
    check_selection(config, population_size, source)
    return TournamentSelection(config, population_size, rand_seed)


def mf_pbt_from_keywords(
    population_size: int, *, rand_seed: int | None = None, **keywords: Any
) -> MultiFrequencySelection:
    """A :class:`~marlpipe.evolution.mf_pbt.MultiFrequencySelection` (MF-PBT) from
    ``MfPbtConfig``'s field names as keywords (``subpopulations``, ``frequency_ratios``,
    ``winners``, ``open``, ``losers``, ``eval_last``), defaults from ``MfPbtConfig``, validated
    against ``population_size``; ``rand_seed`` seeds its generator. Pass it as
    :func:`train_multi_agent`'s ``tournament``."""
    source = "mf_pbt_from_keywords"
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in keywords.items()}
    config = validated(MfPbtConfig, values, source, "mf_pbt.")
    check_mf_pbt(config, population_size, source)
    return MultiFrequencySelection(config, population_size, rand_seed)


def mutations_from_keywords(
    *, rand_seed: int | None = None, memory_size: int | None = None, **keywords: Any
) -> Mutations:
    """:class:`Mutations` from ``MutationConfig``'s field names as keywords (bounds flat, e.g.
    ``min_lr=1e-4``), defaults from ``MutationConfig``; ``rand_seed`` seeds its generator;
    ``memory_size`` caps batch-size mutations (see :class:`Mutations`)."""
    bound_names = {f.name for f in dataclasses.fields(MutationBounds)}
    bounds = {k: keywords.pop(k) for k in list(keywords) if k in bound_names}
    values = {k: list(v) if isinstance(v, tuple) else v for k, v in keywords.items()}
    values["bounds"] = bounds
    config = validated(MutationConfig, values, "mutations_from_keywords", "mutation.")
    return Mutations(config, rand_seed, memory_size=memory_size)


_DEFAULTS = EvolutionConfig()
"""Where the keyword defaults come from: the configs', never repeated."""


def train_multi_agent(
    env: VecEnv,
    pop: Sequence[Agent],
    memory: MultiAgentReplayBuffer,
    *,
    max_steps: int,
    evo_steps: int,
    eval_loop: int = _DEFAULTS.eval_episodes,
    eval_env: Any = None,
    eval_steps: int = _DEFAULTS.eval_max_steps,
    target: float | None = None,
    tournament: TournamentSelection | MultiFrequencySelection | None = None,
    mutation: Mutations | None = None,
    eps_start: float = _DEFAULTS.epsilon_start,
    eps_end: float = _DEFAULTS.epsilon_end,
    eps_decay: float = _DEFAULTS.epsilon_decay,
    tracker: Tracker | None = None,
    progress: bool = True,
    on_generation: OnGeneration | None = None,
    seed: int | None = None,
    state: LoopState | None = None,
    trainer: Trainer | None = None,
) -> tuple[list[Agent], list[list[float]]]:
    """The AgileRL-style entry point: :func:`evolve` with the seed's keyword names.

    The names map onto :class:`~marlpipe.config.EvolutionConfig` (``evo_steps`` ->
    ``steps_per_generation``, ``eval_loop`` -> ``eval_episodes``, ``eval_steps`` ->
    ``eval_max_steps``, ``eps_*`` -> ``epsilon_*``), take its defaults and are validated like a
    params file.
    Budgets are counted in env transitions (vector steps x env copies):

    * ``evo_steps`` is **per member, per generation**, rounded up to whole vector steps;
    * ``max_steps`` is the **total over all members and generations**: the run has as many
      generations as it takes to reach it (the last one may pass it).

    Unlike ``max_steps`` in AgileRL's ``train_multi_agent`` (a per-episode step cap), nothing
    here caps training episodes: they end when the env ends them. Seeds: see :func:`evolve`
    (a seeded population and env make the run repeatable without ``seed``). ``trainer``: where
    members train with merged experience, e.g. a
    :class:`~marlpipe.training.ray_trainer.RayTrainer` for the members in parallel on Ray
    (see :func:`evolve`); ``None``: one after another on the shared buffer. Returns
    ``(population, fitness_history)`` with one list of evaluation scores per generation.
    """
    state = state or LoopState.start(population_seed(pop) if seed is None else seed)
    per_generation = len(pop) * math.ceil(int(evo_steps) / env.num_envs) * env.num_envs
    to_go = math.ceil(max(0, int(max_steps) - state.env_steps) / max(per_generation, 1))
    if to_go == 0:
        return list(pop), []
    values = {
        "generations": state.generation + to_go, "steps_per_generation": evo_steps,
        "eval_episodes": eval_loop, "eval_max_steps": eval_steps, "target": target,
        "epsilon_start": eps_start, "epsilon_end": eps_end, "epsilon_decay": eps_decay,
    }  # fmt: skip
    evolution = validated(EvolutionConfig, values, "train_multi_agent", "")
    result = evolve(
        env, pop, memory, evolution, tournament=tournament, mutation=mutation, state=state,
        eval_env=eval_env, tracker=tracker, on_generation=on_generation,
        progress=progress, trainer=trainer,
    )  # fmt: skip
    return result.population, result.history


__all__ = [
    "mf_pbt_from_keywords",
    "mutations_from_keywords",
    "tournament_from_keywords",
    "train_multi_agent",
]
