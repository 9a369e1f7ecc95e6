"""Parts shared by MADDPG and MATD3: net configs and actors, observation and action handling,
stats (the stacked critics are in ``critics.py``).

Nothing here holds training state; :class:`marlpipe.algos.matd3.MATD3` owns the networks and the
update, and :class:`marlpipe.algos.maddpg.MADDPG` is its one-critic special case.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from marlpipe.algos.cnn import EvolvableCNN
from marlpipe.algos.evolvable import get_activation
from marlpipe.algos.networks import EvolvableMLP
from marlpipe.config.params import NetConfig
from marlpipe.envs.spec import ActionSpec, EnvSpec, ObservationSpec, team_of
from marlpipe.registry import AlgorithmInfo

log = logging.getLogger(__name__)
_DEFAULTS = NetConfig()
DEFAULT_NET_CONFIG: dict[str, Any] = {
    "hidden_sizes": list(_DEFAULTS.hidden_sizes), "activation": _DEFAULTS.activation,
}  # fmt: skip
"""What every agent's ``net_config`` holds at least (bounds left out take the networks' own
defaults, which are ``NetConfig``'s too)."""
BOUND_KEYS = ("min_hidden_layers", "max_hidden_layers", "min_nodes", "max_nodes")
NET_CONFIG_KEYS = (*(f.name for f in dataclasses.fields(NetConfig)), "cnn")
DEFAULT_CNN: dict[str, Any] = {"channel_sizes": [16], "kernel_sizes": [3], "stride_sizes": [1]}


@dataclass(frozen=True)
class LearnStats:
    """Losses of one ``learn()`` call per agent, as detached 0-d tensors (reading forces no sync).

    ``critic_losses`` is the TD mean-squared error averaged over the twin critics (MATD3) or of
    the single critic (MADDPG); ``actor_losses`` is ``-Q1(s, pi(s))`` and ``None`` on calls that
    did not update the actors (policy delay).
    """

    critic_losses: dict[str, Tensor]
    actor_losses: dict[str, Tensor] | None = None

    def to_dict(self) -> dict[str, float]:
        """Flat ``{"critic_loss/<agent>": float, "actor_loss/<agent>": float}`` (one sync)."""
        names = [f"critic_loss/{a}" for a in self.critic_losses]
        values = list(self.critic_losses.values())
        if self.actor_losses is not None:
            names += [f"actor_loss/{a}" for a in self.actor_losses]
            values += list(self.actor_losses.values())
        return dict(zip(names, torch.stack(values).tolist(), strict=True))


def normalise_net_config(net_config: NetConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The agent's ``net_config`` dict (as checkpoints store it): defaults filled in, unknown
    keys refused by name. A :class:`NetConfig` gives its fields (null ones left to the defaults);
    a plain mapping may also hold ``cnn`` (conv layers of image actors, see ``EvolvableCNN``)."""
    if isinstance(net_config, NetConfig):
        net_config = {k: v for k, v in dataclasses.asdict(net_config).items() if v is not None}
    config = {**DEFAULT_NET_CONFIG, **(net_config or {})}
    unknown = sorted(set(config) - set(NET_CONFIG_KEYS))
    if unknown:
        raise ValueError(
            f"net_config: unknown keys {unknown}; expected some of {list(NET_CONFIG_KEYS)}"
        )
    config["hidden_sizes"] = [int(h) for h in config["hidden_sizes"]]
    config["critic_hidden_sizes"] = [
        int(h) for h in (config.get("critic_hidden_sizes") or config["hidden_sizes"])
    ]
    get_activation(config["activation"])
    if not config.get("share_homogeneous", True):
        del config["share_homogeneous"]  # off: the net_config checkpoints held before the key
    elif "share_homogeneous" in config:
        config["share_homogeneous"] = bool(config["share_homogeneous"])
    return config


_MIXED_TEAMS_SAID: set[str] = set()


def network_owners(spec: EnvSpec, share: bool) -> dict[str, str]:
    """Agent -> the agent whose actor and critic it uses: itself, or with ``share`` the first
    agent of its homogeneous group (:attr:`EnvSpec.groups`). A team whose agents' spaces differ
    is left ungrouped, said once in the log naming the agents."""
    owners = {a: a for a in spec.agent_ids}
    if not share:
        return owners
    for members in spec.groups.values():
        for agent in members:
            owners[agent] = members[0]
    teams: dict[str, list[str]] = {}
    for agent in spec.agent_ids:
        teams.setdefault(team_of(agent), []).append(agent)
    for members in teams.values():
        reason = spec.mixed_team(members)
        if reason is not None and reason not in _MIXED_TEAMS_SAID:
            _MIXED_TEAMS_SAID.add(reason)
            log.warning("net_config.share_homogeneous: %s", reason)
    return owners


def check_supported(info: AlgorithmInfo, spec: EnvSpec) -> None:
    """ValueError naming the agent whose action kind ``info``'s algorithm does not support."""
    for agent in spec.agent_ids:
        kind = "discrete" if spec.actions[agent].discrete else "continuous"
        if not getattr(info, kind):
            raise ValueError(f"{info.name} does not support {kind} actions (agent {agent!r})")


def build_actor(
    obs: ObservationSpec,
    action: ActionSpec,
    net_config: dict[str, Any],
    generator: torch.Generator | None,
) -> nn.Module:
    """Actor for one agent: ``EvolvableCNN`` for image observations, else ``EvolvableMLP``.

    Continuous actors end in ``tanh`` (scaled to the bounds later); discrete ones output logits.
    """
    bounds = {k: net_config[k] for k in BOUND_KEYS if k in net_config}
    out_act = None if action.discrete else "Tanh"
    common = {"activation": net_config["activation"], "output_activation": out_act, **bounds}
    if obs.kind == "image":
        cnn = {**DEFAULT_CNN, **(net_config.get("cnn") or {})}
        return EvolvableCNN(
            obs.input_shape, action.dim, hidden_sizes=net_config["hidden_sizes"],
            generator=generator, **cnn, **common,
        )  # fmt: skip
    return EvolvableMLP(
        obs.flat_dim, action.dim, net_config["hidden_sizes"], generator=generator, **common
    )


def network_from_config(
    config: dict[str, Any], generator: torch.Generator | None = None
) -> nn.Module:
    """Rebuild an evolvable network from its ``config`` (random weights from ``generator``)."""
    cls = EvolvableCNN if "input_shape" in config else EvolvableMLP
    return cls(**config, generator=generator)


def preprocess_observation(obs: Tensor, spec: ObservationSpec) -> Tensor:
    """Raw batched observations ``(B, *raw_shape)`` -> network input ``(B, *input_shape)``.

    Discrete observations (an index) become one-hot; images become float and, when the spec says
    channels-last, channels-first. Vector observations pass through without a copy.
    """
    if spec.kind == "discrete":
        return F.one_hot(obs.reshape(-1).long(), spec.n).float()
    if spec.kind == "image":
        obs = obs.float()
        return obs.permute(0, 3, 1, 2) if spec.channels_last else obs
    return obs if obs.dtype == torch.float32 else obs.float()


def gumbel_softmax_straight_through(logits: Tensor, generator: torch.Generator) -> Tensor:
    """One-hot sample of ``softmax(logits + Gumbel noise)`` whose gradient is the soft sample's.

    The forward value is exactly one-hot (``hard + (soft - soft)``), the backward that of ``soft``.
    """
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_(1e-10, 1.0 - 1e-7)))
    soft = torch.softmax(logits + gumbel, dim=-1)
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard + (soft - soft.detach())


class ActionScale:
    """Affine map of a continuous agent's ``tanh`` output onto ``[low, high]`` (torch and numpy)."""

    def __init__(self, action: ActionSpec, device: torch.device):
        self.low_np = np.asarray(action.low, np.float32)
        self.high_np = np.asarray(action.high, np.float32)
        self.half_np = (self.high_np - self.low_np) / 2
        self.mid_np = self.low_np + self.half_np
        self.low, self.high, self.half, self.mid = (
            torch.as_tensor(v, device=device)
            for v in (self.low_np, self.high_np, self.half_np, self.mid_np)
        )

    def __call__(self, tanh_out: Tensor) -> Tensor:
        return torch.addcmul(self.mid, self.half, tanh_out)


def masked_choice(
    chosen: np.ndarray,
    mask: Any,
    defined: Any,
    action: ActionSpec,
    batched: bool,
    agent: str = "agent",
) -> np.ndarray:
    """Replace the rows of ``chosen`` whose agent mask is False by the env-defined actions.

    ``chosen`` is ``(N,)`` int for discrete or ``(N, dim)`` float for continuous actions.
    ``defined`` is one action (unbatched) or one per env copy; discrete env-defined actions may be
    indices or one-hot vectors: ``(N,)`` or ``(N, n)`` when batched, ``()`` or ``(n,)`` when not.
    Any other discrete shape is a ValueError naming ``agent`` (it would broadcast silently).
    """
    n = len(chosen)
    keep = np.broadcast_to(np.asarray(mask, bool).reshape(-1), (n,))
    if keep.all() or defined is None:
        return chosen
    defined = np.asarray(defined)
    if action.discrete:
        return np.where(keep, chosen, _discrete_indices(defined, action.n, n, batched, agent))
    defined = np.broadcast_to(defined.reshape(-1, action.dim), chosen.shape)
    return np.where(keep[:, None], chosen, defined).astype(np.float32)


def _discrete_indices(
    defined: np.ndarray, n_actions: int, n_rows: int, batched: bool, agent: str
) -> np.ndarray:
    """Env-defined discrete actions as ``(n_rows,)`` int indices, or a ValueError on a shape that
    is neither indices nor one-hot (one per env copy when batched)."""
    lead = (n_rows,) if batched else ()
    if defined.shape == lead or (not batched and defined.shape == (1,)):
        return np.broadcast_to(defined.reshape(-1).astype(np.int64), (n_rows,))
    if defined.shape == (*lead, n_actions):
        return defined.reshape(n_rows, n_actions).argmax(-1)
    what = f"one per env copy: indices {lead} or one-hot {(*lead, n_actions)}"
    if not batched:
        what = f"an index () or a one-hot vector ({n_actions},)"
    raise ValueError(
        f"env_defined_actions[{agent!r}]: shape {defined.shape} is ambiguous; expected {what}"
    )
