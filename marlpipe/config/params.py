"""Typed, validated run parameters (``params.yaml``): frozen dataclasses, errors name the key path.

Every group of ``params.yaml`` is one dataclass below; a missing key takes the default shown
here (the defaults are the package's default run, used when no ``params.yaml`` is found). An
unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` with ONE line
such as ``params.yaml: tournament.size: expected an integer >= 2, got 'x'``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marlpipe.config.validation import ConfigError, build_dataclass, option

DEFAULT_PARAMS_NAME = "params.yaml"
# Kept here (not imported from marlpipe.algos) so that loading params never imports torch;
# tests/test_config.py checks them against the names the networks and mutations accept.
ACTIVATIONS = ("ReLU", "ELU", "GELU", "Tanh", "LeakyReLU", "Sigmoid", "Softplus", "Identity")
RL_HYPERPARAMETERS = ("lr_actor", "lr_critic", "batch_size", "learn_step")
DEVICE_PATTERN = r"cpu|cuda(:[0-9]+)?|mps"


@dataclass(frozen=True)
class EnvConfig:
    """The environment every stage builds."""

    name: str = "mpe2.simple_speaker_listener_v4"
    """PettingZoo env as "package.module" (with parallel_env()) or "package.module:factory"."""
    kwargs: dict[str, Any] = option(factory=lambda: {"continuous_actions": True})
    """Keyword arguments given to the env factory."""
    num_envs: int = option(8, ge=1)
    """Env copies stepped together while training."""
    backend: str = option("sync", choices=("sync", "async"))
    """"sync": copies stepped in this process; "async": in worker subprocesses (one per core but
    one) that share the batches with this process through shared memory, so the env steps while
    this process stores and learns. Both give identical results; async pays off when learning
    is light (small batches), sync when one learn call takes many env steps' time."""
    channels_last: bool = False
    """Image observations arrive [H, W, C] and are moved channels-first for the networks."""


@dataclass(frozen=True)
class NetConfig:
    """Initial network architecture of every member (mutations change it later)."""

    hidden_sizes: list[int] = option(factory=lambda: [64, 64], min_len=1, ge=1)
    """Hidden layer widths of the actors."""
    critic_hidden_sizes: list[int] | None = option(None, min_len=1, ge=1)
    """Hidden layer widths of the critics (null: same as the actors)."""
    activation: str = option("ReLU", choices=ACTIVATIONS)
    """Hidden activation (a torch.nn class name such as ReLU, Tanh, ELU, GELU)."""
    min_hidden_layers: int = option(1, ge=1)
    """Fewest hidden layers (a bound of the networks' remove-layer operation)."""
    max_hidden_layers: int = option(3, ge=1)
    """Architecture mutations never add layers above this."""
    min_nodes: int = option(16, ge=1)
    """Node mutations never shrink a layer below this."""
    max_nodes: int = option(256, ge=1)
    """Node mutations never grow a layer above this."""


@dataclass(frozen=True)
class InitHP:
    """Initial learning hyperparameters of every member (see ``marlpipe.algos.matd3``)."""

    batch_size: int = option(1024, ge=1)
    """Transitions per gradient step."""
    lr_actor: float = option(1.0e-3, gt=0.0)
    """Adam learning rate of the actors."""
    lr_critic: float = option(1.0e-3, gt=0.0)
    """Adam learning rate of the critics."""
    gamma: float = option(0.95, ge=0.0, le=1.0)
    """Discount factor."""
    tau: float = option(0.01, gt=0.0, le=1.0)
    """Polyak rate of the target networks."""
    learn_step: int = option(100, ge=1)
    """Env transitions collected per learn() call."""
    policy_freq: int | None = option(2, ge=1)
    """MATD3 policy delay (ignored by MADDPG; null: the algorithm's default)."""
    expl_noise: float = option(0.1, ge=0.0)
    """Gaussian exploration noise sd, relative to half the action range."""
    target_noise: float | None = option(0.2, ge=0.0)
    """MATD3 target smoothing noise sd (ignored by MADDPG)."""
    target_noise_clip: float | None = option(0.5, ge=0.0)
    """MATD3 target smoothing noise clip (ignored by MADDPG)."""

    def to_kwargs(self) -> dict[str, Any]:
        """Agent constructor keywords; null entries are left to the algorithm's defaults."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class PopulationConfig:
    """The population evolved together."""

    size: int = option(4, ge=1)
    """Members trained on one shared replay buffer."""
    device: str = option(
        "cpu", pattern=DEVICE_PATTERN, expected="a torch device: cpu, cuda, cuda:N or mps"
    )
    """Torch device of the networks ("cpu", "cuda", "cuda:N" or "mps")."""
    torch_threads: int = option(1, ge=0)
    """Torch intra-op CPU threads (0: torch's default). 1 is fastest for small networks."""


@dataclass(frozen=True)
class TournamentConfig:
    """Tournament selection between generations."""

    size: int = option(2, ge=2)
    """Members drawn into each tournament."""
    elitism: bool = True
    """The best member always survives unchanged."""
    eval_last: int = option(1, ge=1)
    """Fitness used for selection: mean of each member's last N evaluations."""


@dataclass(frozen=True)
class MutationBounds:
    """Limits that RL hyperparameter mutations respect."""

    min_lr: float = option(1.0e-4, gt=0.0)
    """Smallest learning rate."""
    max_lr: float = option(1.0e-2, gt=0.0)
    """Largest learning rate."""
    min_batch_size: int = option(64, ge=1)
    """Smallest batch size."""
    max_batch_size: int = option(2048, ge=1)
    """Largest batch size."""
    min_learn_step: int = option(20, ge=1)
    """Smallest learn step."""
    max_learn_step: int = option(400, ge=1)
    """Largest learn step."""


@dataclass(frozen=True)
class MutationConfig:
    """Relative probabilities of each mutation kind and their strength."""

    no_mutation: float = option(0.4, ge=0.0)
    """Weight of leaving a member unchanged."""
    architecture: float = option(0.2, ge=0.0)
    """Weight of an architecture mutation (adds a hidden layer or nodes; never removes)."""
    new_layer_prob: float = option(0.2, ge=0.0, le=1.0)
    """Chance that an architecture mutation adds a layer rather than nodes."""
    parameters: float = option(0.2, ge=0.0)
    """Weight of Gaussian noise on the weights."""
    activation: float = option(0.0, ge=0.0)
    """Weight of an activation change."""
    rl_hp: float = option(0.2, ge=0.0)
    """Weight of an RL hyperparameter mutation."""
    rl_hp_selection: list[str] = option(
        factory=lambda: list(RL_HYPERPARAMETERS), min_len=1, choices=RL_HYPERPARAMETERS
    )
    """Hyperparameters an RL mutation picks from."""
    mutation_sd: float = option(0.1, ge=0.0)
    """Relative sd of the parameter mutation: each actor weight w moves by N(0, (sd * |w|)^2).
    RL hyperparameter mutations don't use it: they scale by 0.8 or 1.2."""
    activation_selection: list[str] = option(
        factory=lambda: ["ReLU", "ELU", "GELU"], min_len=1, choices=ACTIVATIONS
    )
    """Activations an activation mutation picks from."""
    bounds: MutationBounds = option(factory=MutationBounds)
    """Hyperparameter limits."""
    protect_elite: bool = True
    """Leave the elite unmutated so the best policy found so far always survives."""


@dataclass(frozen=True)
class EvolutionConfig:
    """The evolution budget: how long the evolve stage trains and how it measures fitness."""

    generations: int = option(20, ge=1)
    """Train-evaluate-select-mutate cycles."""
    steps_per_generation: int = option(20_000, ge=1)
    """Env steps (transitions) each member collects per generation."""
    eval_episodes: int = option(10, ge=1)
    """Greedy episodes per member to measure fitness."""
    eval_max_steps: int = option(25, ge=1)
    """Step cap of each fitness episode."""
    target: float | None = None
    """Stop early once the elite's fitness reaches this (null: run every generation)."""
    memory_size: int = option(100_000, ge=1)
    """Replay buffer capacity (transitions, shared by the population)."""
    epsilon_start: float = option(1.0, ge=0.0, le=1.0)
    """Initial random-action probability (discrete actions only)."""
    epsilon_end: float = option(0.1, ge=0.0, le=1.0)
    """Floor of the random-action probability."""
    epsilon_decay: float = option(0.995, gt=0.0, le=1.0)
    """Multiplicative epsilon decay per generation step."""


@dataclass(frozen=True)
class EvaluateConfig:
    """The final evaluation of the elite."""

    episodes: int = option(100, ge=1)
    """Fresh greedy episodes averaged into the reported score."""
    max_steps: int = option(25, ge=1)
    """Step cap of each episode."""
    seed: int = option(12345, ge=0)
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

    seed: int = option(0, ge=0)
    """Root seed; every random stream of the run is derived from it."""
    algorithm: str = option("MATD3", choices=("MATD3", "MADDPG"))
    """Learning algorithm of every member."""
    env: EnvConfig = option(factory=EnvConfig)
    net_config: NetConfig = option(factory=NetConfig)
    init_hp: InitHP = option(factory=InitHP)
    population: PopulationConfig = option(factory=PopulationConfig)
    tournament: TournamentConfig = option(factory=TournamentConfig)
    mutation: MutationConfig = option(factory=MutationConfig)
    evolution: EvolutionConfig = option(factory=EvolutionConfig)
    evaluate: EvaluateConfig = option(factory=EvaluateConfig)
    tracking: TrackingConfig = option(factory=TrackingConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what ``params.yaml`` would hold)."""
        return dataclasses.asdict(self)


def params_from_dict(data: Any, source: str = "params") -> Params:
    """Validate a nested mapping into :class:`Params`; errors start with ``source``."""
    return _cross_check(build_dataclass(Params, {} if data is None else data, source, ""), source)


def load_params(path: str | Path | None = None) -> Params:
    """Read and validate ``path`` (default: ./params.yaml, else the package defaults)."""
    import yaml

    if path is None:
        if not Path(DEFAULT_PARAMS_NAME).is_file():
            return Params()
        path = DEFAULT_PARAMS_NAME
    path = Path(path)
    try:
        data = yaml.load(path.read_text(), Loader=_unique_key_loader())
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML ({err.problem}{where})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(err).split())})") from None
    return params_from_dict(data, str(path))


def _unique_key_loader() -> type:
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


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
    net = params.net_config
    for key in ("hidden_sizes", "critic_hidden_sizes"):
        sizes = getattr(net, key)
        if sizes is None:
            continue
        if not net.min_hidden_layers <= len(sizes) <= net.max_hidden_layers:
            raise ConfigError(
                f"{source}: net_config.{key}: expected between net_config.min_hidden_layers "
                f"({net.min_hidden_layers}) and net_config.max_hidden_layers "
                f"({net.max_hidden_layers}) layers, got {len(sizes)}"
            )
        for i, width in enumerate(sizes):
            if not net.min_nodes <= width <= net.max_nodes:
                raise ConfigError(
                    f"{source}: net_config.{key}[{i}]: expected a width between "
                    f"net_config.min_nodes ({net.min_nodes}) and net_config.max_nodes "
                    f"({net.max_nodes}), got {width}"
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
