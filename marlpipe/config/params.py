"""Typed, validated run parameters (``params.yaml``): frozen dataclasses, errors name the key path.

Every group of ``params.yaml`` is one dataclass below; a missing key takes the default shown
here (the defaults are the package's default run, used when no ``params.yaml`` is found). An
unknown key, a wrong type or an out-of-range value raises :class:`ConfigError` with ONE line
such as ``params.yaml: tournament.size: expected an integer >= 2, got 'x'``.

Its size is earned: every key of ``params.yaml``, its default, range, marks and one-line
docstring are written here once, and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from marlpipe.config.rules import (
    check_env,
    check_evolution,
    check_mutation,
    check_net_config,
    check_params,
    check_population,
    check_tracking,
)
from marlpipe.config.validation import build_dataclass, option
from marlpipe.registry import ACTIVATIONS, ALGORITHMS, BACKENDS, env_family

DEFAULT_PARAMS_NAME = "params.yaml"
FAMILY_KWARGS: dict[str, dict[str, Any]] = {"mpe2": {"continuous_actions": True}}
"""The ``env.kwargs`` an env family gets when ``env.kwargs`` is null (any other family: none)."""
RL_HYPERPARAMETERS = ("lr_actor", "lr_critic", "batch_size", "learn_step")
DEVICE_PATTERN = r"cpu|cuda(:[0-9]+)?|mps"


@dataclass(frozen=True)
class EnvConfig:
    """The environment every stage builds."""

    name: str = "mpe2.simple_speaker_listener_v4"
    """PettingZoo env as "package.module" (with parallel_env()) or "package.module:factory"."""
    kwargs: dict[str, Any] | None = None
    """Keyword arguments given to the env factory. null: the family's own (:attr:`call_kwargs`):
    ``{continuous_actions: true}`` for an mpe2 task, none for any other env. A mapping replaces
    them as a whole."""
    num_envs: int = option(32, ge=1)
    """Env copies stepped together while training."""
    backend: str = option("sync", choices=BACKENDS, neutral=True)
    """"sync": copies stepped in this process; "async": in worker subprocesses (one per core but
    one) that share the batches with this process through shared memory, so the env steps while
    this process stores and learns. Both give identical results; async pays off when learning
    is light (small batches), sync when one learn call takes many env steps' time."""
    channels_last: bool = False
    """Image observations arrive [H, W, C] and are moved channels-first for the networks."""
    fast: bool = option(True, neutral=True)
    """mpe2 tasks (``mpe2.*``): step the copies through mpe2's own scenario and world code, not
    PettingZoo's AEC cycle and wrappers (``marlpipe.envs.mpe_fast``): byte-identical numbers,
    about 3x the env steps/s on speaker-listener, 1.6-2x on spread and world_comm
    (docs/performance.md). false keeps the PettingZoo path; other envs ignore it, and an mpe2
    version the fast path was not tested with falls back to PettingZoo with one warning."""

    @property
    def call_kwargs(self) -> dict[str, Any]:
        """What the env factory is called with: ``kwargs``, else the family's defaults
        (:data:`FAMILY_KWARGS`: marlpipe's mpe2 tasks take continuous actions)."""
        if self.kwargs is not None:
            return dict(self.kwargs)
        return dict(FAMILY_KWARGS.get(env_family(self.name), {}))


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
    """Fewest hidden layers a network may be built with (mutations only add layers)."""
    max_hidden_layers: int = option(3, ge=1)
    """Architecture mutations never add layers above this."""
    min_nodes: int = option(16, ge=1)
    """Node mutations never shrink a layer below this."""
    max_nodes: int = option(256, ge=1)
    """Node mutations never grow a layer above this."""
    share_homogeneous: bool = option(False, opt_in=True)
    """Each homogeneous group of agents (a team, ids ``<team>_<n>``, whose agents have equal
    observation and action spaces: ``agent_0..2`` on spread) shares one actor and one
    centralised critic, trained on all the group's experience; each agent still acts on its own
    observation. Agents of a team with unequal spaces keep their own networks. false: every
    agent has its own."""


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
    """Env transitions collected per learn() call. The remainder carries over between
    generations (and to offspring), so a learn_step above the transitions a member collects in
    one generation still learns, once every few generations."""
    policy_freq: int | None = option(2, ge=1)
    """MATD3 policy delay (ignored by MADDPG; null: the algorithm's default)."""
    expl_noise: float = option(0.1, ge=0.0)
    """Gaussian exploration noise sd, relative to half the action range."""
    target_noise: float | None = option(0.2, ge=0.0)
    """MATD3 target smoothing noise sd (ignored by MADDPG)."""
    target_noise_clip: float | None = option(0.5, ge=0.0)
    """MATD3 target smoothing noise clip (ignored by MADDPG)."""
    pre_tanh_penalty: float = option(1.0e-3, ge=0.0, off=0.0)
    """Weight of each continuous actor's mean squared pre-tanh output in the actor loss, as in
    the MADDPG authors' code (0: off, as before it existed; discrete actors ignore it). Where an
    action's tanh saturates, the critic's gradient through it vanishes: on speaker-listener the
    speaker could send one message for two colours for good (two seeds of ten stalled at -24.5
    and -20.1); the penalty pulls saturated outputs back (docs/performance.md)."""


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
    backend: str = option("processes", choices=("processes", "local", "ray"), neutral=True)
    """Where members train: "processes" (in parallel, in a pool of processes on this machine,
    one per CPU), "local" (one after another in this process) or "ray" (in parallel, one
    member per Ray actor at a time, here or on a cluster; the ``ray`` extra). "processes" and
    "ray" need ``experience: merged``; with it all three give byte-identical runs, for any
    number of workers."""
    experience: str = option("merged", choices=("merged", "shared"))
    """"merged": each member trains from the buffer as it stood at the generation's start plus
    its own new transitions; all of them are appended in member order at the generation's end
    (what parallel training needs). "shared": members take turns at one replay buffer, each
    seeing the transitions the members before it added in the same generation (one after
    another only: ``backend: local``)."""
    ray_address: str | None = option(None, neutral=True)
    """Ray cluster to join ("host:port", "ray://host:port" or "auto"); null: the RAY_ADDRESS
    environment variable if set, else a Ray started on this machine."""
    num_cpus: float = option(1.0, gt=0.0, neutral=True)
    """CPUs each Ray worker reserves."""
    num_gpus: float | None = option(None, ge=0.0, neutral=True)
    """GPUs each Ray worker reserves (null: 1 when ``device`` is a CUDA device, else 0)."""
    workers: int | None = option(None, ge=1, neutral=True)
    """Processes or Ray workers (actors) training members in parallel (null: min(population
    size, this machine's usable CPUs) for processes, min(population size, the cluster's CPUs /
    num_cpus) for Ray). One process trains in this process, with no pool."""


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
class MfPbtConfig:
    """Multiple-frequencies PBT (``evolution.selection: mf_pbt``; Doulazmi et al., 2025): the
    population split into equal subpopulations (slots in order) that each evolve at its own
    frequency, with brackets ranked by fitness and asymmetric migration between them
    (``marlpipe.evolution.mf_pbt``)."""

    subpopulations: int = option(4, ge=1)
    """Equal subpopulations; ``population.size`` must be a multiple of it."""
    frequency_ratios: list[int] = option(factory=lambda: [1, 2, 4, 8], min_len=1, ge=1)
    """Per subpopulation, in slot order, how many generations pass between its evolution steps
    (1: after every generation); strictly increasing, one per subpopulation."""
    winners: float = option(0.25, ge=0.0, le=1.0)
    """Share of each subpopulation ranked top: kept, and cloned over the losers."""
    open: float = option(0.25, ge=0.0, le=1.0)
    """Share ranked below the winners and survivors: open to migrants from other
    subpopulations that beat them."""
    losers: float = option(0.25, ge=0.0, le=1.0)
    """Share ranked last: replaced by mutated clones of winners. The survivors (the rest,
    between winners and open) are kept."""
    eval_last: int = option(1, ge=1)
    """Fitness used for ranking: mean of each member's last N evaluations."""


@dataclass(frozen=True)
class MutationBounds:
    """Limits that RL hyperparameter mutations respect. An ``init_hp`` value outside its bounds
    is allowed (e.g. a bound of a hyperparameter that is never mutated); the first mutation of
    that hyperparameter clips it into them."""

    min_lr: float = option(1.0e-4, gt=0.0)
    """Smallest learning rate."""
    max_lr: float = option(1.0e-2, gt=0.0)
    """Largest learning rate."""
    min_batch_size: int = option(64, ge=1)
    """Smallest batch size (at most ``evolution.memory_size`` while batch sizes mutate)."""
    max_batch_size: int = option(2048, ge=1)
    """Largest batch size; mutations also stay at or below ``evolution.memory_size`` (a batch
    the replay buffer never holds would stop the member learning), so a larger value is fine."""
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
    """Random-action probability (discrete actions only) of a member with no experience yet."""
    epsilon_end: float = option(0.1, ge=0.0, le=1.0)
    """Floor of the random-action probability."""
    epsilon_decay: float = option(0.9999, gt=0.0, le=1.0)
    """Multiplicative decay per env transition the member collects (its ``steps``, inherited by
    offspring): epsilon = max(epsilon_end, epsilon_start * epsilon_decay ** steps). 0.9999
    reaches 0.1 from 1.0 after 23,025 transitions: within the default run's second generation."""
    selection: str = option("tournament", choices=("tournament", "mf_pbt"), opt_in=True)
    """How the next generation is chosen: "tournament" (``tournament``: tournament selection,
    then every member but the elite mutated) or "mf_pbt" (``mf_pbt``: subpopulations evolving at
    several frequencies, only the clones of winners mutated; from about 16 members)."""
    fitness_agents: list[str] | None = option(None, min_len=1)
    """Whose return is fitness (and the evaluated ``score``): null sums every agent's return;
    a list names agent ids (``agent_0``) or teams (``agent``: every ``agent_<n>``), e.g.
    ``[agent]`` scores the good agents of ``simple_adversary``/``simple_tag``/``simple_push``
    and leaves the adversaries out."""


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
    algorithm: str = option("MATD3", choices=tuple(ALGORITHMS))
    """Learning algorithm of every member."""
    env: EnvConfig = option(factory=EnvConfig)
    net_config: NetConfig = option(factory=NetConfig)
    init_hp: InitHP = option(factory=InitHP)
    population: PopulationConfig = option(factory=PopulationConfig)
    tournament: TournamentConfig = option(factory=TournamentConfig)
    mf_pbt: MfPbtConfig = option(factory=MfPbtConfig, opt_in=True)
    """Read only with ``evolution.selection: mf_pbt``."""
    mutation: MutationConfig = option(factory=MutationConfig)
    evolution: EvolutionConfig = option(factory=EvolutionConfig)
    evaluate: EvaluateConfig = option(factory=EvaluateConfig, read_only_by="evaluate")
    """Read by the evaluate stage alone: it shapes no generation of the evolve stage."""
    tracking: TrackingConfig = option(factory=TrackingConfig, neutral=True)
    """Where runs are logged, never what they compute: every key inside is result-neutral."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (what ``params.yaml`` would hold)."""
        return dataclasses.asdict(self)

    def resolved_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` with what a null stands for filled in (``env.kwargs``: the env
        family's own, :attr:`EnvConfig.call_kwargs`): two params that compute the same run give
        the same dict. The hashes of params (resume, fingerprint) are taken of it."""
        data = self.to_dict()
        data["env"]["kwargs"] = self.env.call_kwargs
        return data


def params_from_dict(data: Any, source: str = "params") -> Params:
    """Validate a nested mapping into :class:`Params`; errors start with ``source``."""
    return check_params(build_dataclass(Params, {} if data is None else data, source, ""), source)


T = TypeVar("T")


def validated(cls: type[T], values: dict[str, Any], source: str, prefix: str = "") -> T:
    """Group ``cls`` built from ``values`` with its types, ranges and rules checked (the same
    checks a params file gets); errors start with ``source`` and the key path ``prefix``."""
    rules = {NetConfig: check_net_config, MutationConfig: check_mutation,
             EvolutionConfig: check_evolution, PopulationConfig: check_population,
             EnvConfig: check_env, TrackingConfig: check_tracking}  # fmt: skip
    config = build_dataclass(cls, values, source, prefix)
    if cls in rules:
        rules[cls](config, source, prefix)
    return config
