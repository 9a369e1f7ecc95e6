"""Run parameters: the validated dataclasses of ``params.yaml``, read and written."""

from marlpipe.config.files import dump_params, load_params, with_overrides
from marlpipe.config.keys import generation_keys, result_neutral_keys
from marlpipe.config.params import (
    DEFAULT_PARAMS_NAME,
    EnvConfig,
    EvaluateConfig,
    EvolutionConfig,
    InitHP,
    MfPbtConfig,
    MutationBounds,
    MutationConfig,
    NetConfig,
    Params,
    PopulationConfig,
    TournamentConfig,
    TrackingConfig,
    params_from_dict,
    validated,
)
from marlpipe.config.validation import ConfigError

__all__ = [
    "DEFAULT_PARAMS_NAME",
    "ConfigError",
    "EnvConfig",
    "EvaluateConfig",
    "EvolutionConfig",
    "InitHP",
    "MfPbtConfig",
    "MutationBounds",
    "MutationConfig",
    "NetConfig",
    "Params",
    "PopulationConfig",
    "TournamentConfig",
    "TrackingConfig",
    "dump_params",
    "generation_keys",
    "load_params",
    "params_from_dict",
    "result_neutral_keys",
    "validated",
    "with_overrides",
]
