"""Multiple-frequencies population-based training (MF-PBT; Doulazmi et al., 2025, arXiv 2506.03225).

A drop-in for :class:`~marlpipe.evolution.tournament.TournamentSelection` (``select``,
``state_dict``, ``load_state_dict``, ``config.eval_last``), chosen by ``evolution.selection:
mf_pbt``. Written from the method as the paper's abstract and a published summary of its
method section describe it, and checked rule by rule against the authors' own code
(github.com/WaelDLZ/MF-PBT, ``hpo/utils/mf_pbt_genetics.py``; read, not copied). Generalised
from its fixed quarters to the shares of ``mf_pbt``:

* **Subpopulations at several frequencies**: the slots are cut in order into
  ``subpopulations`` equal groups; group ``i`` evolves after every ``frequency_ratios[i]``-th
  generation (when ``(step + 1) % ratio == 0``, ``step`` counting this object's selections from
  0) and otherwise carries on untouched. Fast groups chase short-term gains, slow groups let
  schedules prove themselves over longer horizons.
* **Brackets** (quarters by default, as in the paper): an evolving group is ranked by fitness
  (the mean of the last ``eval_last`` scores; ties to the lower slot) and cut into winners,
  survivors, open and losers (shares ``winners``/rest/``open``/``losers``, see
  :func:`~marlpipe.config.rules.mf_pbt_brackets`). Winners and survivors are kept as they
  are. Each loser is replaced by a clone of the winner of the same rank (the best loser clones
  the best winner, as in the authors' code): the PBT exploit step; those clones alone are then
  mutated (explore).
* **Asymmetric migration**: the open slots take migrants. The open slots, best first, each meet
  the best member of the other groups not taken yet, which replaces the slot only when its
  fitness is strictly higher (and is then taken). A migrant from a slower group (a larger
  ratio) comes whole; one from a faster group brings its weights only and takes the
  hyperparameters of the receiving group's best member, so a slow group never inherits a
  schedule tuned for the short term. Migrants are not mutated. Every decision reads the trained
  population as it stood, so groups evolving in the same generation do not see each other's
  new members.

Kept members stay the same objects with the same index (the lineage figure draws them as
carrying on); clones and migrants are new members with new indices
(:func:`~marlpipe.evolution.tournament.make_offspring`). Every member of the new population gets
``lineage["selection"]``: its subpopulation, bracket, what happened to it (``kept``,
``waiting``, ``cloned``, ``migrated``, ``migrated_weights``), the index it came from and whether
it is to be mutated (``mutate``: :class:`~marlpipe.evolution.mutations.Mutations` skips the
others). The elite is a clone of the fittest member, which is always kept: a winner is never
replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.config.params import MfPbtConfig
from marlpipe.config.rules import mf_pbt_brackets
from marlpipe.evolution.population import population_fitness
from marlpipe.evolution.tournament import make_offspring

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent

ACTIONS = ("kept", "waiting", "cloned", "migrated", "migrated_weights")
"""What selection did to a slot: kept (winner, survivor or an open slot no migrant beat),
waiting (its subpopulation did not evolve), cloned (a loser replaced by a winner's clone),
migrated (a whole member from a slower subpopulation), migrated_weights (weights from a faster
subpopulation, hyperparameters from the receiving one's best)."""


@dataclass(frozen=True)
class SlotPlan:
    """What one slot of the next population becomes."""

    slot: int
    subpopulation: int
    bracket: str | None
    """``winner``, ``survivor``, ``open`` or ``loser`` (``None``: its subpopulation waited)."""
    action: str
    """One of :data:`ACTIONS`."""
    source: int
    """Slot of the trained population it comes from (its own when kept or waiting)."""
    hyperparameters_from: int | None = None
    """For ``migrated_weights``: the slot whose hyperparameters it takes."""

    @property
    def mutate(self) -> bool:
        """Only the clones of winners are mutated."""
        return self.action == "cloned"


class MultiFrequencySelection:
    """MF-PBT selection (see the module doc). ``config`` is trusted as validated against
    ``population_size`` (:func:`~marlpipe.config.rules.check_mf_pbt`). The rules draw nothing:
    ``seed`` is taken for the signature :class:`TournamentSelection` has, and unused."""

    def __init__(self, config: MfPbtConfig, population_size: int, seed: int | None = None):
        self.config = config
        self.population_size = int(population_size)
        self.steps = 0

    def fitness(self, population: Sequence[Agent]) -> list[float]:
        """The fitness ranking uses: the mean of each member's last ``eval_last`` scores."""
        return population_fitness(population, self.config.eval_last)

    def evolving(self, step: int) -> list[bool]:
        """Per subpopulation, whether it evolves at selection ``step`` (0-based)."""
        return [(step + 1) % int(ratio) == 0 for ratio in self.config.frequency_ratios]

    def plan(self, fitness: Sequence[float], step: int) -> list[SlotPlan]:
        """Every slot's fate at selection ``step`` given the trained members' ``fitness``."""
        ratios = [int(r) for r in self.config.frequency_ratios]
        count = len(ratios)
        size = len(fitness) // count
        n_win, n_survive, n_open, _ = mf_pbt_brackets(self.config, size)
        ranked_all = sorted(range(len(fitness)), key=lambda k: (-fitness[k], k))
        plans: dict[int, SlotPlan] = {}
        for group, evolves in enumerate(self.evolving(step)):
            slots = range(group * size, (group + 1) * size)
            if not evolves:
                plans.update({k: SlotPlan(k, group, None, "waiting", k) for k in slots})
                continue
            ranked = [k for k in ranked_all if k in slots]
            winners = ranked[:n_win]
            opened = ranked[n_win + n_survive : n_win + n_survive + n_open]
            for k in ranked[: n_win + n_survive]:
                bracket = "winner" if k in winners else "survivor"
                plans[k] = SlotPlan(k, group, bracket, "kept", k)
            for rank, k in enumerate(ranked[n_win + n_survive + n_open :]):
                source = winners[rank % len(winners)]  # the best loser clones the best winner
                plans[k] = SlotPlan(k, group, "loser", "cloned", source)
            outsiders = iter(k for k in ranked_all if k not in slots)
            migrant = next(outsiders, None)
            for k in opened:  # best first, each against the best outsider not taken yet
                if migrant is None or not fitness[migrant] > fitness[k]:
                    continue
                if ratios[migrant // size] > ratios[group]:
                    plans[k] = SlotPlan(k, group, "open", "migrated", migrant)
                else:
                    plans[k] = SlotPlan(k, group, "open", "migrated_weights", migrant,
                                        winners[0])  # fmt: skip
                migrant = next(outsiders, None)
            for k in opened:
                plans.setdefault(k, SlotPlan(k, group, "open", "kept", k))
        return [plans[k] for k in range(len(fitness))]

    def select(self, population: Sequence[Agent]) -> tuple[Any, list[Any]]:
        """Return ``(elite, new_population)``: the elite an independent clone of the fittest
        member (kept in its slot and flagged ``lineage["elite"]``), the new population slot by
        slot as :meth:`plan` says."""
        if not population:
            raise ValueError("cannot select from an empty population")
        fitness = self.fitness(population)
        plans = self.plan(fitness, self.steps)
        self.steps += 1
        generation = self.steps
        next_index = max(int(agent.index) for agent in population) + 1
        best = int(np.argmax(fitness))
        new_population: list[Agent] = []
        for plan in plans:
            parent = population[plan.source]
            if plan.action in ("kept", "waiting"):
                member = parent
            else:
                member = make_offspring(parent, next_index, generation)
                next_index += 1
                if plan.hyperparameters_from is not None:
                    adopt_hyperparameters(member, population[plan.hyperparameters_from])
            member.lineage["elite"] = plan.slot == best
            member.lineage["selection"] = {
                "subpopulation": plan.subpopulation, "bracket": plan.bracket,
                "action": plan.action, "source": int(parent.index), "mutate": plan.mutate,
                "step": generation,
            }  # fmt: skip
            new_population.append(member)
        elite = new_population[best]
        return elite.clone(index=int(elite.index)), new_population

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the frequency clock) so a resumed run selects exactly as the
        original."""
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        self.steps = int(state["steps"])


def adopt_hyperparameters(agent: Agent, donor: Agent) -> None:
    """Give ``agent`` ``donor``'s hyperparameters (its weights stay); optimisers are rebuilt at
    the new learning rates when one changed."""
    before = agent.hyperparameters()
    for name, value in donor.hyperparameters().items():
        setattr(agent, name, value)
    if any(before[name] != getattr(agent, name) for name in ("lr_actor", "lr_critic")
           if name in before):  # fmt: skip
        agent.reinit_optimizers()


__all__ = ["ACTIONS", "MultiFrequencySelection", "SlotPlan", "adopt_hyperparameters"]
