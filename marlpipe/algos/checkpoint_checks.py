"""Checks that a checkpoint's metadata and state fit the class that is asked to load them.

Run before anything is built, so that a mismatched file (another algorithm's, a hand-edited
spec, a foreign state dict) is refused with a message naming what was expected, not with a
TypeError from deep inside a constructor.
"""

from __future__ import annotations

import inspect
from typing import Any

from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.envs.spec import EnvSpec

SHARED_STATE_KEYS = ("critic", "critic_target", "actor_optimizer", "critic_optimizer", "torch_rng")
"""State entries every checkpoint holds besides the per-agent actors and actor targets."""


class SpecMismatchError(ValueError):
    """A state saved for another env spec than the agent it is loaded into."""


def _network_keys(cls: type) -> tuple[set[str], set[str]]:
    """(accepted, required) config keys of an evolvable network class, from its constructor."""
    params = inspect.signature(cls).parameters
    required = {n for n, p in params.items() if p.default is inspect.Parameter.empty}
    return set(params) - {"generator"}, required


def _key_problems(got: set[str], accepted: set[str], required: set[str]) -> str:
    """``"unknown keys [...], missing keys [...]"`` (the non-empty parts), or ``""``."""
    found = {"unknown": sorted(got - accepted), "missing": sorted(required - got)}
    return ", ".join(f"{what} keys {keys}" for what, keys in found.items() if keys)


def _check_network(where: str, config: Any, expected: dict[str, Any]) -> None:
    """ValueError unless ``config`` fits its network constructor and has the ``expected`` values."""
    if not isinstance(config, dict):
        raise ValueError(f"{where}: expected a network config object, got {type(config).__name__}")
    cls = EvolvableCNN if "input_shape" in config else EvolvableMLP
    accepted, required = _network_keys(cls)
    if problems := _key_problems(set(config), accepted, required):
        hint = f"expected keys among {sorted(accepted)}"
        raise ValueError(f"{where}: {cls.__name__} config has {problems}; {hint}")
    for key, value in expected.items():
        if config.get(key) != value:
            raise ValueError(f"{where}: {key} {config.get(key)!r}, expected {value!r}")


def check_content(cls: type, metadata: dict[str, Any], state: dict[str, Any]) -> None:
    """ValueError naming the first part of ``(metadata, state)`` that ``cls`` cannot load.

    Checks hyperparameter names against ``cls.HYPERPARAMETERS``, network configs against the
    network constructors and the spec (dims, critic count), and state keys against the agents.
    """
    spec = EnvSpec.from_dict(metadata["spec"])
    hps, names = metadata["hyperparameters"], set(cls.HYPERPARAMETERS)
    if not isinstance(hps, dict):
        raise ValueError(f"hyperparameters: expected an object, got {type(hps).__name__}")
    if problems := _key_problems(set(hps), names, names):
        raise ValueError(f"hyperparameters: {problems}; {cls.algo_name} expects {sorted(names)}")
    configs, ids = metadata["net_configs"], list(spec.agent_ids)
    actors = configs.get("actors") if isinstance(configs, dict) else None
    if not isinstance(actors, dict) or sorted(actors) != sorted(ids):
        got = sorted(actors) if isinstance(actors, dict) else type(actors).__name__
        raise ValueError(f"net_configs.actors: {got}; expected an object keyed by agents {ids}")
    for a in ids:
        obs = spec.observations[a]
        image = obs.kind == "image"
        inputs = {"input_shape": list(obs.input_shape)} if image else {"input_dim": obs.flat_dim}
        expected = {**inputs, "output_dim": spec.actions[a].dim}
        _check_network(f"net_configs.actors.{a}", actors[a], expected)
    critic = {"input_dim": spec.critic_input_dim, "output_dim": 1}
    critic["ensemble_size"] = cls.n_critics * spec.num_agents
    _check_network(f"net_configs.critic ({cls.algo_name})", configs.get("critic"), critic)
    wanted = {f"{kind}/{a}" for a in ids for kind in ("actor", "actor_target")}
    wanted |= set(SHARED_STATE_KEYS)
    if problems := _key_problems(set(state), wanted, wanted):
        raise ValueError(f"state: {problems} for the agents {ids}")
