"""Architecture mutation applied alike to every network of an agent."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.registry import ACTIVATIONS

MLP_METHODS = ("add_layer", "remove_layer", "add_nodes", "remove_nodes", "change_activation")
CNN_METHODS = ("add_conv_layer", "remove_conv_layer", "add_channels", "remove_channels")


def mutate_architecture(agent: Any, method: str, rng: np.random.Generator, **kwargs: Any) -> dict:
    """Apply ``method`` alike to every actor, the critic ensemble and all their targets.

    Random choices (layer, amount, activation) are drawn once from ``rng``. Each online net and its
    target are mutated with identically seeded torch generators, so their new weights are equal
    while their trained overlapping slices stay their own. Optimisers are rebuilt. Conv methods
    apply to CNN actors only. ``lineage`` is left to the caller. Returns
    ``{"kind": "architecture", "method", "where": [nets changed], "old": {...}, "new": {...}}``.
    """
    if method not in MLP_METHODS + CNN_METHODS:
        raise ValueError(
            f"unknown architecture mutation {method!r}; choose from {MLP_METHODS + CNN_METHODS}"
        )
    pairs = [(f"actor:{a}", agent.actors[a], agent.actor_targets[a]) for a in agent.agent_ids]
    pairs.append(("critic", agent.critic, agent.critic_target))
    args: dict[str, Any] = {}
    if method in ("add_nodes", "remove_nodes"):
        depth = len(agent.actors[agent.agent_ids[0]].hidden_sizes)
        args["layer"] = kwargs.get("layer")
        args["layer"] = int(rng.integers(depth)) if args["layer"] is None else args["layer"]
        args["num_nodes"] = kwargs.get("num_nodes") or int(rng.choice(EvolvableMLP.NODE_CHOICES))
    elif method in ("add_channels", "remove_channels"):
        cnns = [net for _, net, _ in pairs if isinstance(net, EvolvableCNN)]
        depth = len(cnns[0].channel_sizes) if cnns else 1
        args["layer"] = kwargs.get("layer")
        args["layer"] = int(rng.integers(depth)) if args["layer"] is None else args["layer"]
        args["num"] = kwargs.get("num") or int(rng.choice(EvolvableCNN.CHANNEL_CHOICES))
    elif method == "change_activation":
        choices = [a for a in ACTIVATIONS if a != agent.critic.activation]
        args["name"] = kwargs.get("name") or str(rng.choice(choices))
    seed = int(rng.integers(2**62))
    where, old, new = [], {}, {}
    for k, (name, online, target) in enumerate(pairs):
        if not hasattr(online, method):
            continue
        call = dict(args)
        if "layer" in call:  # nets of different depth: the deepest layer they have
            sizes = online.channel_sizes if method.endswith("channels") else online.hidden_sizes
            call["layer"] = min(call["layer"], len(sizes) - 1)
        results = []
        for net in (online, target):
            if method != "change_activation":
                call["generator"] = torch.Generator().manual_seed(seed + k)
            results.append(getattr(net, method)(**call))
        if results[0]["op"] != "none":
            where.append(name)
            old[name], new[name] = results[0]["old"], results[0]["new"]
    agent.set_networks(agent.actors, agent.critic, agent.actor_targets, agent.critic_target)
    return {"kind": "architecture", "method": method, "where": where, "old": old, "new": new}
