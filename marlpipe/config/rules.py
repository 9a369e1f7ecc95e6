"""Rules between keys of ``params.yaml`` groups.

Each rule lives here once. :func:`marlpipe.config.params.params_from_dict` applies them to a
whole params file and :func:`marlpipe.config.params.validated` to one group built from keyword
arguments (the seed-style constructors of ``TournamentSelection`` and ``Mutations`` use it).
Components trust a config that passed through either and do not check it again.
"""

from __future__ import annotations

import math
from typing import Any

from marlpipe.config.mutation_kinds import MUTATION_KINDS, mutation_weights
from marlpipe.config.validation import ConfigError
from marlpipe.registry import ALGORITHMS, SYNC_ONLY, env_backends


def _ordered(low: Any, high: Any, low_key: str, high_key: str, source: str) -> None:
    if low > high:
        raise ConfigError(
            f"{source}: {low_key}: expected a value <= {high_key} ({high!r}), got {low!r}"
        )


def check_net_config(net: Any, source: str, prefix: str = "net_config.") -> None:
    """Bounds in order, and the initial layer count and widths within them."""
    _ordered(net.min_hidden_layers, net.max_hidden_layers,
             f"{prefix}min_hidden_layers", f"{prefix}max_hidden_layers", source)  # fmt: skip
    _ordered(net.min_nodes, net.max_nodes, f"{prefix}min_nodes", f"{prefix}max_nodes", source)
    for key in ("hidden_sizes", "critic_hidden_sizes"):
        sizes = getattr(net, key)
        if sizes is None:
            continue
        if not net.min_hidden_layers <= len(sizes) <= net.max_hidden_layers:
            raise ConfigError(
                f"{source}: {prefix}{key}: expected between {prefix}min_hidden_layers "
                f"({net.min_hidden_layers}) and {prefix}max_hidden_layers "
                f"({net.max_hidden_layers}) layers, got {len(sizes)}"
            )
        for i, width in enumerate(sizes):
            if not net.min_nodes <= width <= net.max_nodes:
                raise ConfigError(
                    f"{source}: {prefix}{key}[{i}]: expected a width between "
                    f"{prefix}min_nodes ({net.min_nodes}) and {prefix}max_nodes "
                    f"({net.max_nodes}), got {width}"
                )


def check_mutation(mutation: Any, source: str, prefix: str = "mutation.") -> None:
    """Bounds in order, some mutation weight positive, an activation mutation has a choice."""
    bounds = mutation.bounds
    for name in ("lr", "batch_size", "learn_step"):
        _ordered(getattr(bounds, f"min_{name}"), getattr(bounds, f"max_{name}"),
                 f"{prefix}bounds.min_{name}", f"{prefix}bounds.max_{name}", source)  # fmt: skip
    weights = mutation_weights(mutation)
    if sum(weights) <= 0:
        first = MUTATION_KINDS[0].config_field
        raise ConfigError(f"{source}: {prefix}{first}: expected some mutation weight > 0")
    if mutation.activation > 0 and len(set(mutation.activation_selection)) < 2:
        raise ConfigError(
            f"{source}: {prefix}activation_selection: expected at least two activations when "
            f"{prefix}activation > 0, got {mutation.activation_selection!r}"
        )


def check_evolution(evolution: Any, source: str, prefix: str = "evolution.") -> None:
    """Epsilon ends at or below where it starts."""
    _ordered(evolution.epsilon_end, evolution.epsilon_start,
             f"{prefix}epsilon_end", f"{prefix}epsilon_start", source)  # fmt: skip


def check_selection(tournament: Any, population_size: int, source: str) -> None:
    """A tournament draws ``tournament.size`` distinct members, so the population needs as many.

    A population of one is named as the culprit (``tournament.size`` is at least 2).
    """
    if tournament.size <= population_size:
        return
    if population_size < 2:
        raise ConfigError(
            f"{source}: population.size: expected an integer >= tournament.size "
            f"({tournament.size}), got {population_size!r}"
        )
    raise ConfigError(
        f"{source}: tournament.size: expected an integer <= population.size "
        f"({population_size}), got {tournament.size!r}"
    )


def mf_pbt_brackets(mf_pbt: Any, size: int) -> tuple[int, int, int, int]:
    """Members per bracket of a subpopulation of ``size``, best first: (winners, survivors,
    open, losers); each share of ``mf_pbt`` rounded half up, the survivors the rest."""
    shares = (mf_pbt.winners, mf_pbt.open, mf_pbt.losers)
    winners, open_, losers = (int(math.floor(share * size + 0.5)) for share in shares)
    return winners, size - winners - open_ - losers, open_, losers


def check_mf_pbt(mf_pbt: Any, population_size: int, source: str, prefix: str = "mf_pbt.") -> None:
    """Equal subpopulations, one increasing frequency ratio each, and brackets that fit one
    subpopulation with at least one winner."""
    count = mf_pbt.subpopulations
    if population_size % count:
        raise ConfigError(
            f"{source}: {prefix}subpopulations: expected a divisor of population.size "
            f"({population_size}), got {count!r}"
        )
    ratios = list(mf_pbt.frequency_ratios)
    if len(ratios) != count:
        raise ConfigError(
            f"{source}: {prefix}frequency_ratios: expected {count} ratios (one per "
            f"{prefix}subpopulations), got {ratios!r}"
        )
    if any(a >= b for a, b in zip(ratios, ratios[1:], strict=False)):
        raise ConfigError(
            f"{source}: {prefix}frequency_ratios: expected strictly increasing ratios, "
            f"got {ratios!r}"
        )
    size = population_size // count
    winners, survivors, _, _ = mf_pbt_brackets(mf_pbt, size)
    if winners < 1:
        raise ConfigError(
            f"{source}: {prefix}winners: expected a share giving at least one winner in a "
            f"subpopulation of {size} (population.size / {prefix}subpopulations), got "
            f"{mf_pbt.winners!r}"
        )
    if survivors < 0:
        raise ConfigError(
            f"{source}: {prefix}losers: expected {prefix}winners + open + losers to fit a "
            f"subpopulation of {size} members, got {size - survivors} members"
        )


def check_batch_fits_memory(batch_size: int, memory_size: int, source: str) -> None:
    """A batch is drawn from the shared buffer, which never holds more than ``memory_size``
    transitions: a larger ``batch_size`` would mean the population never learns."""
    if batch_size > memory_size:
        raise ConfigError(
            f"{source}: init_hp.batch_size: expected an integer <= evolution.memory_size "
            f"({memory_size}), got {batch_size!r} (the replay buffer never holds a larger batch)"
        )


def mutates_batch_size(mutation: Any) -> bool:
    """Whether an RL mutation can change ``batch_size``: it has weight and may pick it."""
    return mutation.rl_hp > 0 and "batch_size" in mutation.rl_hp_selection


def check_batch_bounds_fit_memory(
    mutation: Any,
    memory_size: int,
    source: str,
    prefix: str = "mutation.",
    memory_key: str = "evolution.memory_size",
) -> None:
    """Batch-size mutations stay at or below ``memory_size`` (``Mutations`` lowers its ceiling
    from ``max_batch_size`` to it), so a ``min_batch_size`` above it could never be met. Checked
    only where it can bite: when a mutation can change the batch size (:func:`mutates_batch_size`;
    ``rl_hp: 0`` or an ``rl_hp_selection`` without ``batch_size`` never touch it)."""
    bounds = mutation.bounds
    if mutates_batch_size(mutation) and bounds.min_batch_size > memory_size:
        raise ConfigError(
            f"{source}: {prefix}bounds.min_batch_size: expected an integer <= {memory_key} "
            f"({memory_size}), got {bounds.min_batch_size!r} (batch sizes are mutated, and the "
            f"replay buffer never holds a larger batch; {prefix}rl_hp: 0 or a "
            f"{prefix}rl_hp_selection without batch_size leaves the batch size alone)"
        )


def check_rl_hp_selection(mutation: Any, algorithm: str, source: str,
                          prefix: str = "mutation.") -> None:  # fmt: skip
    """Every hyperparameter an RL mutation may pick is one ``algorithm`` uses."""
    info = ALGORITHMS.get(algorithm)
    if info is None:
        return  # ``algorithm`` itself is checked by its choices
    for i, name in enumerate(mutation.rl_hp_selection):
        if name not in info.hyperparameters:
            raise ConfigError(
                f"{source}: {prefix}rl_hp_selection[{i}]: expected one of the hyperparameters "
                f"algorithm {algorithm} uses ({', '.join(info.hyperparameters)}), got {name!r}"
            )


def check_population(population: Any, source: str, prefix: str = "population.") -> None:
    """Parallel members cannot see each other's transitions as they train: ``processes`` and
    ``ray`` need ``merged`` experience."""
    if population.backend != "local" and population.experience != "merged":
        raise ConfigError(
            f"{source}: {prefix}experience: expected 'merged' with {prefix}backend "
            f"{population.backend!r} (members training in parallel cannot share one buffer; "
            f"'shared' needs {prefix}backend 'local'), got {population.experience!r}"
        )


def check_env(env: Any, source: str, prefix: str = "env.") -> None:
    """``env.backend`` is one that can step ``env.name`` (:func:`marlpipe.registry.env_backends`:
    a VMAS task, one batched simulator, takes ``sync`` only)."""
    allowed = env_backends(env.name)
    if env.backend not in allowed:
        raise ConfigError(
            f"{source}: {prefix}backend: expected {' or '.join(map(repr, allowed))} with a VMAS "
            f"{prefix}name ({env.name!r}: {SYNC_ONLY}), got {env.backend!r}"
        )


def check_tracking(tracking: Any, source: str, prefix: str = "tracking.") -> None:
    """A ``registered_model`` name MLflow takes and its search filters can quote.

    MLflow refuses names that are blank, hold ``/`` or ``:``, or are not a plain file name
    (``.``, ``..``, starting with ``..``); its filter grammar has no escapes, so a name holding
    both ``'`` and ``"`` cannot be searched for (one kind alone is quoted with the other)."""
    name = tracking.registered_model
    if name is None:
        return
    key = f"{prefix}registered_model"
    why = None
    if not name.strip():
        why = "a non-blank name"
    elif "/" in name or ":" in name:
        why = "a name without '/' or ':' (MLflow refuses them)"
    elif name == "." or name.startswith(".."):
        why = "a name that is not '.' and does not start with '..' (MLflow refuses them)"
    elif "'" in name and '"' in name:
        why = "a name holding ' or \" but not both (MLflow's search filters cannot quote it)"
    if why is not None:
        raise ConfigError(f"{source}: {key}: expected {why}, got {name!r}")


def check_params(params: Any, source: str) -> Any:
    """Every rule between keys of a whole params file; returns ``params``."""
    check_env(params.env, source)
    check_net_config(params.net_config, source)
    check_mutation(params.mutation, source)
    check_evolution(params.evolution, source)
    check_population(params.population, source)
    if params.evolution.selection == "mf_pbt":
        check_mf_pbt(params.mf_pbt, params.population.size, source)
    else:
        check_selection(params.tournament, params.population.size, source)
    check_batch_fits_memory(params.init_hp.batch_size, params.evolution.memory_size, source)
    check_batch_bounds_fit_memory(params.mutation, params.evolution.memory_size, source)
    check_rl_hp_selection(params.mutation, params.algorithm, source)
    check_tracking(params.tracking, source)
    return params


__all__ = [
    "check_batch_bounds_fit_memory",
    "check_batch_fits_memory",
    "check_env",
    "check_evolution",
    "check_mf_pbt",
    "check_mutation",
    "check_net_config",
    "check_params",
    "check_population",
    "check_rl_hp_selection",
    "check_selection",
    "check_tracking",
    "mf_pbt_brackets",
    "mutates_batch_size",
]
