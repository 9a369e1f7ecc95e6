"""Checks that a checkpoint's metadata and state fit the class that is asked to load them.

Run before anything is built, so that a mismatched file (another algorithm's, a hand-edited
spec, a foreign state dict) is refused with a message naming what was expected, not with a
TypeError from deep inside a constructor.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from marlpipe.algos.base import network_owners
from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.envs.spec import EnvSpec
from marlpipe.registry import LATER_HYPERPARAMETERS

SHARED_STATE_KEYS = ("critic", "critic_target", "actor_optimizer", "critic_optimizer", "torch_rng")
"""State entries every checkpoint holds besides the per-agent actors and actor targets."""

RNG_STATE_BYTES = {"cpu": torch.Generator().get_state().numel(), "cuda": 16}
"""Size of a torch generator's state by device type (CPU: the Mersenne Twister, 5,056 bytes;
CUDA: Philox seed and offset). Other device types are not size-checked."""


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


def torch_rng_kind(entry: dict[str, Any]) -> str | None:
    """The device type whose generator wrote ``entry`` (a checkpoint's ``state["torch_rng"]``).

    Its ``"device"`` field, present only when that was not the CPU (so CPU checkpoints stay as
    they always were). Without it: ``"cpu"`` when the state has a CPU generator's size, else
    ``None``, a generator of another, unnamed kind (a file from before the field existed).
    """
    if "device" in entry:
        return entry["device"]
    return "cpu" if entry["state"].numel() == RNG_STATE_BYTES["cpu"] else None


def check_torch_rng(entry: Any) -> None:
    """ValueError unless ``entry`` is a generator state that fits the kind it says it is from."""
    where = "state.torch_rng"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected an object, got {type(entry).__name__}")
    if problems := _key_problems(set(entry), {"state", "device"}, {"state"}):
        raise ValueError(f"{where}: {problems}; expected 'state' and an optional 'device'")
    state, device = entry["state"], entry.get("device", "cpu")
    if not (isinstance(device, str) and _is_device_type(device)):
        raise ValueError(f"{where}.device: {device!r}, expected a device type such as 'cuda'")
    if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.dim() == 1):
        got = type(state).__name__
        if isinstance(state, torch.Tensor):
            got = f"{state.dtype} tensor of shape {tuple(state.shape)}"
        raise ValueError(f"{where}.state: {got}, expected a 1-D uint8 tensor")
    kind = torch_rng_kind(entry)
    expected = RNG_STATE_BYTES.get(kind)
    if state.numel() == 0 or (expected is not None and state.numel() != expected):
        size = "a non-empty state" if expected is None else f"{expected:,} bytes"
        raise ValueError(
            f"{where}.state: {state.numel():,} bytes, expected {size} for a "
            f"{kind or 'non-CPU'} generator"
        )


def _is_device_type(name: str) -> bool:
    """Whether ``name`` is a bare torch device type (``"cuda"``, not ``"cuda:0"`` or ``"gpu"``)."""
    try:
        return torch.device(name).type == name
    except RuntimeError:
        return False


def check_content(cls: type, metadata: dict[str, Any], state: dict[str, Any]) -> None:
    """ValueError naming the first part of ``(metadata, state)`` that ``cls`` cannot load.

    Checks hyperparameter names against ``cls.HYPERPARAMETERS``, network configs against the
    network constructors and the spec (dims, critic count), and state keys against the agents.
    """
    spec = EnvSpec.from_dict(metadata["spec"])
    hps, names = metadata["hyperparameters"], set(cls.HYPERPARAMETERS)
    if not isinstance(hps, dict):
        raise ValueError(f"hyperparameters: expected an object, got {type(hps).__name__}")
    if problems := _key_problems(set(hps), names, names - set(LATER_HYPERPARAMETERS)):
        raise ValueError(f"hyperparameters: {problems}; {cls.algo_name} expects {sorted(names)}")
    configs = metadata["net_configs"]
    net_config = metadata.get("net_config")
    share = isinstance(net_config, dict) and bool(net_config.get("share_homogeneous"))
    owners = network_owners(spec, share)
    ids = list(dict.fromkeys(owners.values()))  # the agents whose networks are stored
    actors = configs.get("actors") if isinstance(configs, dict) else None
    if not isinstance(actors, dict) or sorted(actors) != sorted(ids):
        got = sorted(actors) if isinstance(actors, dict) else type(actors).__name__
        shared = " (one per shared group)" if len(ids) < spec.num_agents else ""
        raise ValueError(
            f"net_configs.actors: {got}; expected an object keyed by agents {ids}{shared}"
        )
    for a in ids:
        obs = spec.observations[a]
        image = obs.kind == "image"
        inputs = {"input_shape": list(obs.input_shape)} if image else {"input_dim": obs.flat_dim}
        expected = {**inputs, "output_dim": spec.actions[a].dim}
        _check_network(f"net_configs.actors.{a}", actors[a], expected)
    critic = {"input_dim": spec.critic_input_dim, "output_dim": 1}
    critic["ensemble_size"] = cls.n_critics * len(ids)
    _check_network(f"net_configs.critic ({cls.algo_name})", configs.get("critic"), critic)
    wanted = {f"{kind}/{a}" for a in ids for kind in ("actor", "actor_target")}
    wanted |= set(SHARED_STATE_KEYS)
    if problems := _key_problems(set(state), wanted, wanted):
        raise ValueError(f"state: {problems} for the agents {ids}")
    check_torch_rng(state["torch_rng"])
