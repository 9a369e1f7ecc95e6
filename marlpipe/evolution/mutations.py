"""Mutations: exactly one change per member per generation, all draws from this object's stream.

Every random choice (the kind, layer or nodes, which hyperparameter, the factor, the new
activation, the seed of the parameter noise) comes from the :class:`Mutations` generator
(its ``seed``, saved by :meth:`Mutations.state_dict`), never from the member's own streams or the
global RNG, so a run mutates identically whatever the members did before.

Kinds (probabilities normalised to sum to one):

* ``none`` -- the member is left as it is.
* ``architecture`` -- a new hidden layer with probability ``new_layer_prob``, else new nodes,
  applied by the agent to every actor, critic and target with trained weights kept.
* ``parameters`` -- Gaussian noise on the actors' weight matrices (biases untouched). The noise
  is relative: each weight ``w`` moves by ``N(0, (mutation_sd * |w|)^2)``, so the perturbation
  is the same fraction of every layer whatever its initialisation scale, and zero weights stay
  zero. Adam's moments are kept: the parameters are changed in place, not replaced.
* ``activation`` -- a different activation from ``activation_selection``.
* ``rl_hp`` -- one of ``rl_hp_selection`` times 0.8 or 1.2, clipped into its bounds; integer
  hyperparameters that would round back to the old value move by one in the factor's direction.
  Optimisers are rebuilt so a new learning rate takes effect. Given the replay buffer's
  ``memory_size``, ``batch_size`` is clipped to ``min(max_batch_size, memory_size)``: a member
  whose batch the buffer can never hold would never learn again. An initial value outside its
  bounds is allowed; the first mutation of that hyperparameter clips it into them.

The elite that :class:`~marlpipe.evolution.tournament.TournamentSelection` places first (flagged
``lineage["elite"]``) is left unmutated when ``protect_elite`` (the default), so the best policy
found so far always survives intact; set ``protect_elite=False`` to mutate every member as
AgileRL does. Either way each member gets exactly one record (``kind="none"`` with
``reason="elite"`` for a protected elite), unless its selection marked it not to be mutated
(:meth:`Mutations.mutation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from marlpipe.config.mutation_kinds import KIND_NAMES, MUTATION_KINDS, mutation_weights
from marlpipe.config.params import MutationConfig
from marlpipe.config.rules import check_batch_bounds_fit_memory
from marlpipe.evolution.tournament import generator_state, set_generator_state

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent

RL_HP_BOUNDS_KEYS = {
    "lr_actor": "lr",
    "lr_critic": "lr",
    "batch_size": "batch_size",
    "learn_step": "learn_step",
}
INTEGER_HPS = frozenset({"batch_size", "learn_step"})
LR_HPS = frozenset({"lr_actor", "lr_critic"})
FACTORS = (0.8, 1.2)


def actor_modules(agent: Agent) -> list[nn.Module]:
    """The agent's actor networks as a list, whether ``actors`` is a list, dict or one module;
    a network several agents share (``net_config.share_homogeneous``) is listed once."""
    actors = agent.actors
    if isinstance(actors, nn.Module) and not isinstance(actors, nn.ModuleList | nn.ModuleDict):
        return [actors]
    modules = list(actors.values()) if isinstance(actors, dict | nn.ModuleDict) else list(actors)
    return list({id(m): m for m in modules}.values())


def weight_parameters(modules: Iterable[nn.Module]) -> list[torch.Tensor]:
    """Every weight (not bias) parameter of ``modules``."""
    return [
        param
        for module in modules
        for name, param in module.named_parameters()
        if "bias" not in name
    ]


def current_activation(agent: Agent) -> str | None:
    """The activation the agent's hidden layers use now (the networks know; configs may lag)."""
    for module in actor_modules(agent):
        if getattr(module, "activation", None):
            return str(module.activation)
    config = getattr(agent, "net_config", None)
    if isinstance(config, dict) and "activation" in config:
        return str(config["activation"])
    return None


class Mutations:
    """Apply one randomly chosen mutation to each member of a population (see the module doc).

    ``config`` (trusted as validated: ``params.yaml``, or
    :func:`marlpipe.training.agilerl_style.mutations_from_keywords`) gives the
    weights of each kind, their strength and the hyperparameter bounds; ``seed`` seeds this
    object's own generator. ``memory_size`` (the replay buffer's capacity, the params'
    ``evolution.memory_size``) caps batch-size mutations below ``bounds.max_batch_size`` when
    smaller; ``None`` leaves ``max_batch_size`` the only ceiling.
    """

    def __init__(
        self, config: MutationConfig, seed: int | None = None, *, memory_size: int | None = None
    ):
        self.config = config
        self.memory_size = None if memory_size is None else int(memory_size)
        if self.memory_size is not None:
            check_batch_bounds_fit_memory(config, self.memory_size, "Mutations",
                                          memory_key="memory_size")  # fmt: skip
        weights = mutation_weights(config)
        probs = np.array(weights, np.float64)
        self.probabilities = probs / probs.sum()
        self.rng = np.random.default_rng(seed)

    def mutation(self, population: Sequence[Agent]) -> list[Any]:
        """Mutate every member in place (one record each in ``lineage["mutations"]``), but
        those a selection marked not to mutate (``lineage["selection"]["mutate"]`` false, as
        :class:`~marlpipe.evolution.mf_pbt.MultiFrequencySelection` marks every member but the
        clones of winners): they are left as they are, with no record and no draw."""
        for agent in population:
            if not (agent.lineage.get("selection") or {}).get("mutate", True):
                continue
            if self.config.protect_elite and agent.lineage.get("elite"):
                record = {"kind": "none", "where": None, "old": None, "new": None}
                record["reason"] = "elite"
            else:
                kind = KIND_NAMES[int(self.rng.choice(len(KIND_NAMES), p=self.probabilities))]
                record = self.apply(agent, kind)
            record["generation"] = int(agent.lineage.get("generation", 0))
            agent.lineage.setdefault("mutations", []).append(record)
        return list(population)

    def apply(self, agent: Agent, kind: str) -> dict[str, Any]:
        """Apply one mutation of ``kind`` to ``agent`` and return what changed."""
        for entry in MUTATION_KINDS:
            if entry.name == kind:
                if entry.method is None:
                    return {"kind": kind, "where": None, "old": None, "new": None}
                return getattr(self, entry.method)(agent)
        raise ValueError(f"unknown mutation kind {kind!r}; expected one of {KIND_NAMES}")

    def architecture_mutation(self, agent: Agent) -> dict[str, Any]:
        """A new layer (probability ``new_layer_prob``) or new nodes, via the agent."""
        method = "add_layer" if self.rng.random() < self.config.new_layer_prob else "add_nodes"
        record = dict(agent.mutate_architecture(method, self.rng))
        record["kind"] = "architecture"
        record.setdefault("method", method)
        return record

    def parameter_mutation(self, agent: Agent) -> dict[str, Any]:
        """Relative Gaussian noise of sd ``mutation_sd`` on every actor weight (in place)."""
        weights = weight_parameters(actor_modules(agent))
        # One torch generator per mutation, seeded from our stream: bulk draws stay fast and the
        # global torch RNG is never touched.
        noise_gen = torch.Generator().manual_seed(int(self.rng.integers(2**63 - 1)))
        old_norm = float(torch.sqrt(sum((w.detach() ** 2).sum() for w in weights)))
        with torch.no_grad():
            for weight in weights:
                noise = torch.randn(weight.shape, generator=noise_gen, dtype=weight.dtype)
                weight.add_(noise.to(weight.device) * weight.abs() * self.config.mutation_sd)
        new_norm = float(torch.sqrt(sum((w.detach() ** 2).sum() for w in weights)))
        return {
            "kind": "parameters",
            "where": "actors",
            "old": {"weight_norm": old_norm},
            "new": {"weight_norm": new_norm},
            "sd": self.config.mutation_sd,
        }

    def activation_mutation(self, agent: Agent) -> dict[str, Any]:
        """Switch every network to a different activation from ``activation_selection``."""
        current = current_activation(agent)
        options = [name for name in self.config.activation_selection if name != current]
        choice = options[int(self.rng.integers(len(options)))]
        record = dict(agent.mutate_architecture("change_activation", self.rng, name=choice))
        record["kind"] = "activation"
        record.setdefault("old", current)
        record.setdefault("new", choice)
        return record

    def rl_hp_mutation(self, agent: Agent) -> dict[str, Any]:
        """Scale one learning hyperparameter by 0.8 or 1.2 within its bounds."""
        selection = self.config.rl_hp_selection
        name = selection[int(self.rng.integers(len(selection)))]
        factor = FACTORS[int(self.rng.integers(len(FACTORS)))]
        bound = RL_HP_BOUNDS_KEYS[name]
        low, high = self.hp_bounds(bound)
        old = getattr(agent, name)
        if name in INTEGER_HPS:
            new = int(round(old * factor))
            if new == old:
                new = old + (1 if factor > 1 else -1)
            new = int(min(max(new, low), high))
        else:
            new = float(min(max(old * factor, low), high))
        setattr(agent, name, new)
        if name in LR_HPS:
            agent.reinit_optimizers()
        return {"kind": "rl_hp", "where": name, "old": old, "new": new, "factor": factor}

    def hp_bounds(self, name: str) -> tuple[Any, Any]:
        """``(low, high)`` of the ``lr``, ``batch_size`` or ``learn_step`` bounds; the batch
        size's ``high`` is at most ``memory_size``."""
        low = getattr(self.config.bounds, f"min_{name}")
        high = getattr(self.config.bounds, f"max_{name}")
        if name == "batch_size" and self.memory_size is not None:
            high = min(high, self.memory_size)
        return low, high

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state (the generator's) so a resumed run mutates exactly as the original."""
        return {"rng": generator_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`."""
        set_generator_state(self.rng, state["rng"])


__all__ = ["Mutations", "actor_modules", "current_activation", "weight_parameters"]
