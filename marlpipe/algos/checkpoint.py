"""Agent checkpoints: one file of state_dicts plus JSON metadata, never pickled classes.

Format (a dict written with ``torch.save`` through :func:`marlpipe.io.atomic_write`)::

    {"format": "marlpipe-checkpoint", "version": 1,
     "metadata": "<JSON: algo, spec, net configs, hyperparameters, evolution data, numpy RNG>",
     "state": {"actor/<agent>": state_dict, "actor_target/<agent>": ..., "critic": ...,
               "critic_target": ..., "actor_optimizer": ..., "critic_optimizer": ...,
               "torch_rng": {"state": uint8 tensor}}}

It is read back with ``torch.load(weights_only=True)`` after checking the CRC-32 of every zip
member (torch itself does not, so flipped bits would load as wrong weights). The architecture is
rebuilt from the network configs in the metadata, so a mutated agent loads without the caller
knowing its shape. Loading into an existing agent is all-or-nothing, and no load draws from the
global torch RNG.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from marlpipe.algos.base import network_from_config
from marlpipe.algos.checkpoint_checks import check_content
from marlpipe.envs.spec import EnvSpec
from marlpipe.io import atomic_write

FORMAT = "marlpipe-checkpoint"
VERSION = 1
EVOLUTION_FIELDS = ("index", "fitness", "steps", "lineage", "learn_counter", "learn_credit")
LOAD_ERRORS = (KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError)
"""What rebuilding an agent from mismatched content can raise; each becomes a CheckpointError."""


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not what the caller expected."""


def _algorithms() -> dict[str, type]:
    from marlpipe.algos.maddpg import MADDPG
    from marlpipe.algos.matd3 import MATD3

    return {cls.algo_name: cls for cls in (MATD3, MADDPG)}


def agent_metadata(agent: Any) -> dict[str, Any]:
    """JSON-able metadata of an agent (see the module docstring)."""
    return {
        "algo": agent.algo_name,
        "spec": agent.spec.to_dict(),
        "net_config": agent.net_config,
        "net_configs": {
            "actors": {a: agent.actors[a].config for a in agent.agent_ids},
            "critic": agent.critic.config,
        },
        "hyperparameters": agent.hyperparameters(),
        **{name: getattr(agent, name) for name in EVOLUTION_FIELDS},
        "np_rng": agent.np_rng.bit_generator.state,
    }


def agent_state_dicts(agent: Any) -> dict[str, dict[str, Any]]:
    """Every tensor state of an agent by name (live references, not copies)."""
    state: dict[str, dict[str, Any]] = {}
    for a in agent.agent_ids:
        state[f"actor/{a}"] = agent.actors[a].state_dict()
        state[f"actor_target/{a}"] = agent.actor_targets[a].state_dict()
    state["critic"] = agent.critic.state_dict()
    state["critic_target"] = agent.critic_target.state_dict()
    state["actor_optimizer"] = agent.actor_optimizer.state_dict()
    state["critic_optimizer"] = agent.critic_optimizer.state_dict()
    state["torch_rng"] = {"state": agent.torch_rng.get_state()}
    return state


def load_agent_state(
    agent: Any, metadata: dict[str, Any], state: dict[str, dict[str, Any]]
) -> None:
    """Rebuild the networks from the metadata configs and load every state into a new ``agent``.

    Not atomic (a failure leaves ``agent`` half-loaded): use it on a freshly built agent only, as
    ``from_state`` does. The throwaway generator keeps the global torch RNG untouched by the
    random initialisation that the saved weights overwrite anyway.
    """
    configs = metadata["net_configs"]
    scratch = torch.Generator()

    def build(config: dict[str, Any], key: str) -> torch.nn.Module:
        net = network_from_config(config, scratch)
        net.load_state_dict(state[key])
        return net

    ids = agent.agent_ids
    actors = {a: build(configs["actors"][a], f"actor/{a}") for a in ids}
    targets = {a: build(configs["actors"][a], f"actor_target/{a}") for a in ids}
    critic = build(configs["critic"], "critic")
    agent.set_networks(actors, critic, targets, build(configs["critic"], "critic_target"))
    agent.actor_optimizer.load_state_dict(state["actor_optimizer"])
    agent.critic_optimizer.load_state_dict(state["critic_optimizer"])
    agent.torch_rng.set_state(state["torch_rng"]["state"].cpu())
    agent.np_rng.bit_generator.state = metadata["np_rng"]
    for name, value in metadata["hyperparameters"].items():
        setattr(agent, name, value)
    for name in EVOLUTION_FIELDS:
        setattr(agent, name, metadata[name])
    agent.net_config = metadata["net_config"]


def adopt_state(agent: Any, metadata: dict[str, Any], state: dict[str, dict[str, Any]]) -> None:
    """Load into an existing ``agent`` all-or-nothing: check the content, build and load a new
    agent of its class first, and take over its attributes only once that has fully succeeded."""
    check_content(type(agent), metadata, state)
    fresh = type(agent).from_state(metadata, state, agent.device)
    vars(agent).update(vars(fresh))


def save_checkpoint(agent: Any, path: str | os.PathLike) -> Path:
    """Write ``agent`` to ``path`` as one file, atomically."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "metadata": json.dumps(agent_metadata(agent)),
        "state": agent_state_dicts(agent),
    }
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def _verify_archive(path: Path) -> None:
    """CheckpointError unless ``path`` is a zip whose members all match their CRC-32."""
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(
            f"{path}: not a readable marlpipe checkpoint (corrupt or truncated?): {err}"
        ) from None
    if corrupt is not None:
        raise CheckpointError(f"{path}: corrupt checkpoint: member {corrupt!r} fails its CRC-32")


def read_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read and validate a checkpoint: ``(metadata, state)``, or a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    _verify_archive(path)
    try:
        payload = torch.load(path, weights_only=True, map_location=device)
    except Exception as err:  # foreign pickle, bad record, ...: all mean "not readable"
        raise CheckpointError(
            f"{path}: not a readable marlpipe checkpoint (corrupt or truncated?): {err}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a marlpipe checkpoint (expected format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')!r}, expected {VERSION}"
        )
    try:
        metadata = json.loads(payload["metadata"])
        state = payload["state"]
        required = ("algo", "spec", "net_configs", "hyperparameters", "np_rng")
        missing = [k for k in required if k not in metadata]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: malformed checkpoint metadata ({err})") from None
    if missing or not isinstance(state, dict):
        raise CheckpointError(f"{path}: malformed checkpoint, missing metadata {missing}")
    return metadata, state


def _check_algo(path: str | os.PathLike, metadata: dict[str, Any], expected: str) -> None:
    if metadata["algo"] != expected:
        raise CheckpointError(
            f"{path}: checkpoint holds a {metadata['algo']} agent, expected {expected}"
        )


@contextlib.contextmanager
def _content_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn what mismatched content raises while an agent is built into a CheckpointError."""
    try:
        yield
    except LOAD_ERRORS as err:
        raise CheckpointError(f"{path}: checkpoint content does not fit together ({err})") from None


def load_agent(
    path: str | os.PathLike, device: str | torch.device = "cpu", expected: type | None = None
) -> Any:
    """Rebuild the agent saved in ``path``; its class comes from the metadata.

    With ``expected`` (e.g. ``MATD3``), a checkpoint of another algorithm is a CheckpointError.
    """
    metadata, state = read_checkpoint(path, device)
    algorithms = _algorithms()
    if expected is not None:
        _check_algo(path, metadata, expected.algo_name)
    if metadata["algo"] not in algorithms:
        raise CheckpointError(
            f"{path}: unknown algorithm {metadata['algo']!r}, expected one of {list(algorithms)}"
        )
    cls = algorithms[metadata["algo"]]
    with _content_errors(path):
        check_content(cls, metadata, state)
        return cls.from_state(metadata, state, device)


def load_checkpoint_into(agent: Any, path: str | os.PathLike) -> None:
    """Load ``path`` into an existing agent of the same algorithm and env spec.

    All-or-nothing: on any error ``agent`` is left exactly as it was.
    """
    metadata, state = read_checkpoint(path, agent.device)
    _check_algo(path, metadata, agent.algo_name)
    try:
        saved_spec = EnvSpec.from_dict(metadata["spec"])
    except ValueError as err:
        raise CheckpointError(f"{path}: malformed env spec in the metadata ({err})") from None
    if saved_spec != agent.spec:
        raise CheckpointError(
            f"{path}: checkpoint was saved for a different env spec "
            f"({saved_spec.env_name}, agents {list(saved_spec.agent_ids)}); "
            f"expected agents {list(agent.agent_ids)} of {agent.spec.env_name}"
        )
    with _content_errors(path):
        adopt_state(agent, metadata, state)
