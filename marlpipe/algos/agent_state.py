"""The agents' public state interface: describe, copy, save and restore a whole agent.

:class:`AgentStateMixin` is part of every agent class (``MATD3`` and so ``MADDPG``): the agent
says what its state is (:meth:`~AgentStateMixin.metadata`, :meth:`~AgentStateMixin.state_dicts`)
and how to rebuild from it (:meth:`~AgentStateMixin.from_state`,
:meth:`~AgentStateMixin.load_state`); ``checkpoint.py`` only turns that into one file and back.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from typing import Any

import torch

from marlpipe.algos import checkpoint
from marlpipe.algos.base import BOUND_KEYS, network_from_config
from marlpipe.algos.checkpoint_checks import SpecMismatchError, check_content, torch_rng_kind
from marlpipe.envs.spec import EnvSpec
from marlpipe.registry import LATER_HYPERPARAMETERS

EVOLUTION_FIELDS = ("index", "fitness", "steps", "lineage", "learn_counter", "learn_credit")
"""Attributes the evolution layer and the training loop keep on an agent (saved alike)."""


def restore_torch_rng(generator: torch.Generator, entry: dict[str, Any]) -> None:
    """Put a saved torch RNG entry (``state_dicts()["torch_rng"]``) into ``generator``.

    A state saved by a generator of the same device type is restored exactly. One from another
    kind (a CUDA agent loaded on the CPU, or the reverse) cannot be: the generator is seeded
    instead from the SHA-256 of the saved state's bytes, so the same checkpoint gives the same
    stream every time it is loaded on that kind of device. A file without a device field whose
    state has no CPU size (written before the field existed) is restored exactly where its size
    fits ``generator``, as such files always were. ``entry`` must have passed
    :func:`~marlpipe.algos.checkpoint_checks.check_torch_rng`.
    """
    saved = entry["state"].cpu()
    kind, here = torch_rng_kind(entry), generator.device.type
    legacy_fits = kind is None and here != "cpu" and saved.numel() == generator.get_state().numel()
    if kind == here or legacy_fits:
        generator.set_state(saved)
        return
    digest = hashlib.sha256(saved.numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)


class AgentStateMixin:
    """State of an agent with per-agent (or per-group: ``net_owners``) ``actors`` (and
    ``actor_targets``), one stacked
    ``critic`` (and ``critic_target``), two optimisers and two random streams."""

    def metadata(self) -> dict[str, Any]:
        """JSON-able description: algorithm, spec, architectures, hyperparameters, evolution
        data and the numpy RNG state."""
        return {
            "algo": self.algo_name,
            "spec": self.spec.to_dict(),
            "net_config": self.net_config,
            "net_configs": {
                "actors": {a: self.actors[a].config for a in self.net_owners},
                "critic": self.critic.config,
            },
            "hyperparameters": self.hyperparameters(),
            **{name: getattr(self, name) for name in EVOLUTION_FIELDS},
            "np_rng": self.np_rng.bit_generator.state,
        }

    def state_dicts(self) -> dict[str, dict[str, Any]]:
        """Every tensor state by name: networks, targets, optimisers, torch RNG (live
        references, not copies).

        The torch RNG entry names the device type of the generator only when it is not the CPU
        (``{"state": ..., "device": "cuda"}``): a CPU agent's checkpoint is byte for byte what it
        was before devices were recorded (see :func:`restore_torch_rng`). A group's shared actor
        is stored once, under its owner (:attr:`net_owners`)."""
        state: dict[str, dict[str, Any]] = {}
        for a in self.net_owners:
            state[f"actor/{a}"] = self.actors[a].state_dict()
            state[f"actor_target/{a}"] = self.actor_targets[a].state_dict()
        state["critic"] = self.critic.state_dict()
        state["critic_target"] = self.critic_target.state_dict()
        state["actor_optimizer"] = self.actor_optimizer.state_dict()
        state["critic_optimizer"] = self.critic_optimizer.state_dict()
        state["torch_rng"] = {"state": self.torch_rng.get_state()}
        if self.torch_rng.device.type != "cpu":
            state["torch_rng"]["device"] = self.torch_rng.device.type
        return state

    @classmethod
    def from_state(
        cls, metadata: dict[str, Any], state: dict[str, dict[str, Any]], device: str | torch.device
    ) -> Any:
        """A new agent built from :meth:`metadata` and :meth:`state_dicts` output (unchecked:
        :func:`~marlpipe.algos.checkpoint_checks.check_content` first for foreign input)."""
        spec = EnvSpec.from_dict(metadata["spec"])
        # Built with the saved networks' bounds (a checkpoint whose net_config left them to the
        # networks' defaults of its day still loads); _restore puts back the net_config itself.
        critic = metadata["net_configs"]["critic"]
        net_config = {**metadata["net_config"], **{k: critic[k] for k in BOUND_KEYS if k in critic}}
        later = {k: v for k, v in LATER_HYPERPARAMETERS.items() if k in cls.HYPERPARAMETERS}
        hyperparameters = {**later, **metadata["hyperparameters"]}  # an older checkpoint's too
        agent = cls(spec, net_config, device=device, **hyperparameters)
        agent._restore(metadata, state)
        return agent

    def _restore(self, metadata: dict[str, Any], state: dict[str, dict[str, Any]]) -> None:
        """Rebuild the networks from the metadata configs and load every state.

        Not atomic (a failure leaves the agent half-loaded): only ``from_state`` calls it, on
        an agent it has just built. The throwaway generator keeps the global torch RNG
        untouched by the random initialisation that the saved weights overwrite anyway.
        """
        configs = metadata["net_configs"]
        scratch = torch.Generator()

        def build(config: dict[str, Any], key: str) -> torch.nn.Module:
            net = network_from_config(config, scratch)
            net.load_state_dict(state[key])
            return net

        ids = self.net_owners
        actors = {a: build(configs["actors"][a], f"actor/{a}") for a in ids}
        targets = {a: build(configs["actors"][a], f"actor_target/{a}") for a in ids}
        critic = build(configs["critic"], "critic")
        self.set_networks(actors, critic, targets, build(configs["critic"], "critic_target"))
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        restore_torch_rng(self.torch_rng, state["torch_rng"])
        self.np_rng.bit_generator.state = metadata["np_rng"]
        for name, value in metadata["hyperparameters"].items():
            setattr(self, name, value)
        for name in EVOLUTION_FIELDS:
            setattr(self, name, metadata[name])
        self.net_config = metadata["net_config"]

    def load_state(self, metadata: dict[str, Any], state: dict[str, dict[str, Any]]) -> None:
        """Restore architectures, weights, optimisers, RNGs and evolution data (same spec).

        All-or-nothing: the content is checked and a new agent is built and loaded first; this
        one takes over its state only once that has fully succeeded.
        """
        check_content(type(self), metadata, state)
        saved = EnvSpec.from_dict(metadata["spec"])
        if saved != self.spec:
            raise SpecMismatchError(
                f"checkpoint was saved for a different env spec ({saved.env_name}, agents "
                f"{list(saved.agent_ids)}); expected agents {list(self.agent_ids)} of "
                f"{self.spec.env_name}"
            )
        self._take_over(type(self).from_state(metadata, state, self.device))

    def _take_over(self, other: Any) -> None:
        """Adopt everything ``metadata`` and ``state_dicts`` describe from ``other`` (same class
        and spec, so everything derived from the spec alone is equal already; which agents share
        networks comes from the state's ``net_config``)."""
        self.owners, self.net_owners = other.owners, other.net_owners
        self.critic_layout = other.critic_layout
        self.set_networks(other.actors, other.critic, other.actor_targets, other.critic_target)
        self.actor_optimizer, self.critic_optimizer = other.actor_optimizer, other.critic_optimizer
        self.np_rng, self.torch_rng = other.np_rng, other.torch_rng
        self.net_config = other.net_config
        for name in (*self.HYPERPARAMETERS, *EVOLUTION_FIELDS):
            setattr(self, name, getattr(other, name))

    def clone(self, index: int | None = None) -> Any:
        """Fully independent copy: networks, targets, optimiser and RNG states, evolution data."""
        metadata = json.loads(json.dumps(self.metadata()))  # as a checkpoint would carry it
        twin = type(self).from_state(metadata, copy.deepcopy(self.state_dicts()), self.device)
        if index is not None:
            twin.index = int(index)
        return twin

    # AgileRL-style file API over checkpoint.py.
    def save_checkpoint(self, path: str | os.PathLike) -> None:
        """Write one self-describing checkpoint file atomically (see ``checkpoint.py``)."""
        checkpoint.save_checkpoint(self, path)

    def load_checkpoint(self, path: str | os.PathLike) -> None:
        """Load a checkpoint of the same algorithm and spec into this agent (all-or-nothing)."""
        checkpoint.load_checkpoint_into(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
        """Rebuild an agent of this class from a checkpoint, whatever its architecture."""
        return checkpoint.load_agent(path, device=device, expected=cls)
