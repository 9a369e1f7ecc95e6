"""Typed, validated run parameters (``params.yaml``): frozen dataclasses, errors name the key path.

Every group of ``params.yaml`` is one dataclass below; a missing key takes the default shown
here (the defaults are the package's default run, used when no ``params.yaml`` is found). An
unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` with ONE line
such as ``params.yaml: tournament.size: expected an integer >= 2, got 'x'``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PARAMS_NAME = "params.yaml"


class ConfigError(ValueError):
    """Invalid parameters; the message is one line naming the file and the key path."""


def _opt(default: Any = dataclasses.MISSING, factory: Any = dataclasses.MISSING, **rule: Any):
    """A dataclass field with validation rules (ge, gt, le, lt, choices, min_len) as metadata."""
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=rule)
    return field(default=default, metadata=rule)


@dataclass(frozen=True)
class EnvConfig:
    """The environment every stage builds."""

    name: str = "mpe2.simple_speaker_listener_v4"
    """PettingZoo env as "package.module" (with parallel_env()) or "package.module:factory"."""
    kwargs: dict[str, Any] = _opt(factory=lambda: {"continuous_actions": True})
    """Keyword arguments given to the env factory."""
    num_envs: int = _opt(8, ge=1)
    """Env copies stepped together while training."""
    backend: str = _opt("sync", choices=("sync", "async"))
    """"sync": copies stepped in this process; "async": in a worker subprocess."""
    channels_last: bool = False
    """Image observations arrive [H, W, C] and are moved channels-first for the networks."""


@dataclass(frozen=True)
class NetConfig:
    """Initial network architecture of every member (mutations change it later)."""

    hidden_sizes: list[int] = _opt(factory=lambda: [64, 64], min_len=1, ge=1)
    """Hidden layer widths of the actors."""
    critic_hidden_sizes: list[int] | None = _opt(None, min_len=1, ge=1)
    """Hidden layer widths of the critics (null: same as the actors)."""
    activation: str = "ReLU"
    """Hidden activation (a torch.nn class name such as ReLU, Tanh, ELU, GELU)."""
    min_hidden_layers: int = _opt(1, ge=1)
    """Architecture mutations never remove layers below this."""
    max_hidden_layers: int = _opt(3, ge=1)
    """Architecture mutations never add layers above this."""
    min_nodes: int = _opt(16, ge=1)
    """Node mutations never shrink a layer below this."""
    max_nodes: int = _opt(256, ge=1)
    """Node mutations never grow a layer above this."""


@dataclass(frozen=True)
class InitHP:
    """Initial learning hyperparameters of every member (see ``marlpipe.algos.matd3``)."""

    batch_size: int = _opt(1024, ge=1)
    """Transitions per gradient step."""
    lr_actor: float = _opt(1.0e-3, gt=0.0)
    """Adam learning rate of the actors."""
    lr_critic: float = _opt(1.0e-3, gt=0.0)
    """Adam learning rate of the critics."""
    gamma: float = _opt(0.95, ge=0.0, le=1.0)
    """Discount factor."""
    tau: float = _opt(0.01, gt=0.0, le=1.0)
    """Polyak rate of the target networks."""
    learn_step: int = _opt(100, ge=1)
    """Env transitions collected per learn() call."""
    policy_freq: int | None = _opt(2, ge=1)
    """MATD3 policy delay (ignored by MADDPG; null: the algorithm's default)."""
    expl_noise: float = _opt(0.1, ge=0.0)
    """Gaussian exploration noise sd, relative to half the action range."""
    target_noise: float | None = _opt(0.2, ge=0.0)
    """MATD3 target smoothing noise sd (ignored by MADDPG)."""
    target_noise_clip: float | None = _opt(0.5, ge=0.0)
    """MATD3 target smoothing noise clip (ignored by MADDPG)."""

    def to_kwargs(self) -> dict[str, Any]:
        """Agent constructor keywords; null entries are left to the algorithm's defaults."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PopulationConfig:
    """The population evolved together."""

    size: int = _opt(4, ge=1)
    """Members trained on one shared replay buffer."""
    device: str = "cpu"
    """Torch device of the networks."""
    torch_threads: int = _opt(1, ge=0)
    """Torch intra-op CPU threads (0: torch's default). 1 is fastest for small networks."""


@dataclass(frozen=True)
class TournamentConfig:
    """Tournament selection between generations."""

    size: int = _opt(2, ge=2)
    """Members drawn into each tournament."""
    elitism: bool = True
    """The best member always survives unchanged."""
    eval_last: int = _opt(1, ge=1)
    """Fitness used for selection: mean of each member's last N evaluations."""


@dataclass(frozen=True)
class MutationBounds:
    """Limits that RL hyperparameter mutations respect."""

    min_lr: float = _opt(1.0e-4, gt=0.0)
    """Smallest learning rate."""
    max_lr: float = _opt(1.0e-2, gt=0.0)
    """Largest learning rate."""
    min_batch_size: int = _opt(64, ge=1)
    """Smallest batch size."""
    max_batch_size: int = _opt(2048, ge=1)
    """Largest batch size."""
    min_learn_step: int = _opt(20, ge=1)
    """Smallest learn step."""
    max_learn_step: int = _opt(400, ge=1)
    """Largest learn step."""


@dataclass(frozen=True)
class MutationConfig:
    """Relative probabilities of each mutation kind and their strength."""

    no_mutation: float = _opt(0.4, ge=0.0)
    """Weight of leaving a member unchanged."""
    architecture: float = _opt(0.2, ge=0.0)
    """Weight of an architecture mutation (add/remove layer or nodes)."""
    new_layer_prob: float = _opt(0.2, ge=0.0, le=1.0)
    """Chance that an architecture mutation changes layers rather than nodes."""
    parameters: float = _opt(0.2, ge=0.0)
    """Weight of Gaussian noise on the weights."""
    activation: float = _opt(0.0, ge=0.0)
    """Weight of an activation change."""
    rl_hp: float = _opt(0.2, ge=0.0)
    """Weight of an RL hyperparameter mutation."""
    rl_hp_selection: list[str] = _opt(
        factory=lambda: ["lr_actor", "lr_critic", "batch_size", "learn_step"], min_len=1
    )
    """Hyperparameters an RL mutation picks from."""
    mutation_sd: float = _opt(0.1, ge=0.0)
    """Strength of parameter noise and of hyperparameter changes."""
    activation_selection: list[str] = _opt(factory=lambda: ["ReLU", "ELU", "GELU"], min_len=1)
    """Activations an activation mutation picks from."""
    bounds: MutationBounds = _opt(factory=MutationBounds)
    """Hyperparameter limits."""
    protect_elite: bool = True
    """Leave the elite unmutated so the best policy found so far always survives."""


@dataclass(frozen=True)
class EvolutionConfig:
    """The evolution budget: how long the evolve stage trains and how it measures fitness."""

    generations: int = _opt(20, ge=1)
    """Train-evaluate-select-mutate cycles."""
    steps_per_generation: int = _opt(20_000, ge=1)
    """Env steps (transitions) each member collects per generation."""
    eval_episodes: int = _opt(10, ge=1)
    """Greedy episodes per member to measure fitness."""
    eval_max_steps: int = _opt(25, ge=1)
    """Step cap of each fitness episode."""
    target: float | None = None
    """Stop early once the elite's fitness reaches this (null: run every generation)."""
    memory_size: int = _opt(100_000, ge=1)
    """Replay buffer capacity (transitions, shared by the population)."""
    epsilon_start: float = _opt(1.0, ge=0.0, le=1.0)
    """Initial random-action probability (discrete actions only)."""
    epsilon_end: float = _opt(0.1, ge=0.0, le=1.0)
    """Floor of the random-action probability."""
    epsilon_decay: float = _opt(0.995, gt=0.0, le=1.0)
    """Multiplicative epsilon decay per generation step."""


@dataclass(frozen=True)
class EvaluateConfig:
    """The final evaluation of the elite."""

    episodes: int = _opt(100, ge=1)
    """Fresh greedy episodes averaged into the reported score."""
    max_steps: int = _opt(25, ge=1)
    """Step cap of each episode."""
    seed: int = _opt(12345, ge=0)
    """Seed of the evaluation env (distinct from training seeds)."""


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow tracking (URI from MLFLOW_TRACKING_URI, else sqlite:///<repo>/mlflow.db)."""

    enabled: bool = True
    """Log runs to MLflow."""
    experiment: str = "marlpipe"
    """MLflow experiment name."""
    registered_model: str | None = None
    """Registered model name (null: marlpipe-<env>-<algorithm>)."""


@dataclass(frozen=True)
class Params:
    """The whole run, as ``params.yaml`` describes it."""

    seed: int = _opt(0, ge=0)
    """Root seed; every random stream of the run is derived from it."""
    algorithm: str = _opt("MATD3", choices=("MATD3", "MADDPG"))
    """Learning algorithm of every member."""
    env: EnvConfig = _opt(factory=EnvConfig)
    net_config: NetConfig = _opt(factory=NetConfig)
    init_hp: InitHP = _opt(factory=InitHP)
    population: PopulationConfig = _opt(factory=PopulationConfig)
    tournament: TournamentConfig = _opt(factory=TournamentConfig)
    mutation: MutationConfig = _opt(factory=MutationConfig)
    evolution: EvolutionConfig = _opt(factory=EvolutionConfig)
    evaluate: EvaluateConfig = _opt(factory=EvaluateConfig)
    tracking: TrackingConfig = _opt(factory=TrackingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what ``params.yaml`` would hold)."""
        return dataclasses.asdict(self)


def params_from_dict(data: Any, source: str = "params") -> Params:
    """Validate a nested mapping into :class:`Params`; errors start with ``source``."""
    return _cross_check(_build(Params, {} if data is None else data, source, ""), source)


def load_params(path: str | Path | None = None) -> Params:
    """Read and validate ``path`` (default: ./params.yaml, else the package defaults)."""
    import yaml

    if path is None:
        if not Path(DEFAULT_PARAMS_NAME).is_file():
            return Params()
        path = DEFAULT_PARAMS_NAME
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    return params_from_dict(data, str(path))


def dump_params(params: Params) -> str:
    """``params`` as complete YAML (every key, floats with a dot) that loads back equal."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Block mappings (one key a line, easy to edit and diff), inline lists."""

    Dumper.add_representer(
        list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
    )
    return yaml.dump(params.to_dict(), Dumper=Dumper, sort_keys=False, default_flow_style=False)


def with_overrides(params: Params, overrides: dict[str, Any], source: str = "overrides") -> Params:
    """A copy of ``params`` with nested ``overrides`` merged in, validated like a file."""

    def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "kwargs":
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    return params_from_dict(merge(params.to_dict(), overrides), source)


def _cross_check(params: Params, source: str) -> Params:
    """Rules between keys: lower bounds under upper bounds, some mutation weight positive."""
    pairs = [
        ("net_config.min_hidden_layers", "net_config.max_hidden_layers"),
        ("net_config.min_nodes", "net_config.max_nodes"),
        ("mutation.bounds.min_lr", "mutation.bounds.max_lr"),
        ("mutation.bounds.min_batch_size", "mutation.bounds.max_batch_size"),
        ("mutation.bounds.min_learn_step", "mutation.bounds.max_learn_step"),
        ("evolution.epsilon_end", "evolution.epsilon_start"),
    ]
    for low_key, high_key in pairs:
        low, high = _get(params, low_key), _get(params, high_key)
        if low > high:
            raise ConfigError(
                f"{source}: {low_key}: expected a value <= {high_key} ({high!r}), got {low!r}"
            )
    mutation = params.mutation
    weights = (mutation.no_mutation, mutation.architecture, mutation.parameters,
               mutation.activation, mutation.rl_hp)  # fmt: skip
    if sum(weights) <= 0:
        raise ConfigError(f"{source}: mutation.no_mutation: expected some mutation weight > 0")
    if params.tournament.size > params.population.size and params.population.size > 1:
        raise ConfigError(
            f"{source}: tournament.size: expected an integer <= population.size "
            f"({params.population.size}), got {params.tournament.size!r}"
        )
    return params


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------------------- validation
def _build(cls: type, data: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            f"{source}: {prefix}{unknown[0]}: unknown key; expected one of {', '.join(fields)}"
        )
    values = {
        name: _check(hints[name], data[name], fields[name].metadata, source, f"{prefix}{name}")
        for name in fields
        if name in data
    }
    return cls(**values)


def _check(kind: Any, value: Any, rule: Any, source: str, key: str) -> Any:
    args = typing.get_args(kind)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
        return _check(kind, value, rule, source, key) if value is not None else None
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, source, f"{key}.")
    if origin is list:
        if not isinstance(value, list) or len(value) < rule.get("min_len", 0):
            _fail(source, key, f"a list (each {_noun(args[0], rule)})", value, rule, min_len=True)
        return [_check(args[0], item, rule, source, f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            _fail(source, key, "a mapping", value, {})
        return dict(value)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if ok and "choices" in rule:
        ok = value in rule["choices"]
    if ok:
        ok = all(_in_range(value, op, bound) for op, bound in rule.items() if op in _OPS)
    if not ok:
        _fail(source, key, _noun(kind, rule), value, rule)
    return value


_OPS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _in_range(value: Any, op: str, bound: float) -> bool:
    return {"ge": value >= bound, "gt": value > bound, "le": value <= bound, "lt": value < bound}[
        op
    ]


def _noun(kind: Any, rule: Any) -> str:
    if "choices" in rule:
        return "one of " + ", ".join(repr(c) for c in rule["choices"])
    base = {bool: "a boolean (true/false)", int: "an integer", float: "a number"}.get(
        kind, "a string"
    )
    limits = [f"{_OPS[op]} {bound}" for op, bound in rule.items() if op in _OPS]
    return " ".join([base, " and ".join(limits)]).strip()


def _fail(source: str, key: str, expected: str, value: Any, rule: Any, min_len: bool = False):
    if min_len and rule.get("min_len"):
        expected += f" (at least {rule['min_len']})"
    hint = ""
    if isinstance(value, str) and _looks_numeric(value):
        hint = " (write floats with a dot, e.g. 1.0e-3: YAML reads 1e-3 as a string)"
    raise ConfigError(f"{source}: {key}: expected {expected}, got {value!r}{hint}")


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
