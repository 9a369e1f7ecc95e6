"""Architecture mutation applied alike to every network of an agent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.registry import ACTIVATIONS

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent

METHODS = ("add_layer", "add_nodes", "change_activation")
"""What an architecture mutation can do: networks only grow (as in the AgileRL text: "adding
layers or nodes"), or switch their activation."""
CNN_METHODS = {"add_layer": "add_conv_layer", "add_nodes": "add_channels"}
"""What each method does to a CNN actor: its encoder grows (a conv layer, channels)."""


def mutate_architecture(agent: Agent, method: str, rng: np.random.Generator, **kwargs: Any) -> dict:
    """Apply ``method`` (one of :data:`METHODS`) alike to every actor (a group's shared one
    once), the critic ensemble and all their targets; a CNN actor applies its
    :data:`CNN_METHODS` counterpart to its encoder.

    Random choices (layer, amount, activation) are drawn once from ``rng``. Each online net and its
    target are mutated with identically seeded torch generators, so their new weights are equal
    while their trained overlapping slices stay their own. Optimisers are rebuilt. ``lineage``
    is left to the caller. Returns
    ``{"kind": "architecture", "method", "where": [nets changed], "old": {...}, "new": {...}}``
    (a CNN actor's ``old``/``new`` are its channel sizes).
    """
    if method not in METHODS:
        raise ValueError(f"unknown architecture mutation {method!r}; choose from {METHODS}")
    # A group's shared actor is mutated once, under its owner's name.
    pairs = [(f"actor:{a}", agent.actors[a], agent.actor_targets[a]) for a in agent.net_owners]
    pairs.append(("critic", agent.critic, agent.critic_target))
    args: dict[str, Any] = {}
    if method == "add_nodes":
        depth = len(agent.actors[agent.agent_ids[0]].hidden_sizes)
        args["layer"] = kwargs.get("layer")
        args["layer"] = int(rng.integers(depth)) if args["layer"] is None else args["layer"]
        args["num_nodes"] = kwargs.get("num_nodes") or int(rng.choice(EvolvableMLP.NODE_CHOICES))
    elif method == "change_activation":
        choices = [a for a in ACTIVATIONS if a != agent.critic.activation]
        args["name"] = kwargs.get("name") or str(rng.choice(choices))
    seed = int(rng.integers(2**62))
    where, old, new = [], {}, {}
    for k, (name, online, target) in enumerate(pairs):
        call, op = dict(args), method
        if isinstance(online, EvolvableCNN) and method in CNN_METHODS:
            op = CNN_METHODS[method]
            if "num_nodes" in call:
                call["num"] = call.pop("num_nodes")
        if "layer" in call:  # nets of different depth: the deepest layer they have
            sizes = online.channel_sizes if op == "add_channels" else online.hidden_sizes
            call["layer"] = min(call["layer"], len(sizes) - 1)
        results = []
        for net in (online, target):
            if method != "change_activation":
                call["generator"] = torch.Generator().manual_seed(seed + k)
            results.append(getattr(net, op)(**call))
        if results[0]["op"] != "none":
            where.append(name)
            old[name], new[name] = results[0]["old"], results[0]["new"]
    agent.set_networks(agent.actors, agent.critic, agent.actor_targets, agent.critic_target)
    return {"kind": "architecture", "method": method, "where": where, "old": old, "new": new}
