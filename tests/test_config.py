"""params.yaml validation: one-line errors that name the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from marlpipe.config import (
    ConfigError,
    Params,
    dump_params,
    load_params,
    params_from_dict,
    with_overrides,
)

REPO = Path(__file__).resolve().parents[1]


def error(data: object) -> str:
    with pytest.raises(ConfigError) as info:
        params_from_dict(data, "params.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_repo_params_yaml_is_valid_and_complete() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.algorithm == "MATD3"
    assert params.env.name == "mpe2.simple_speaker_listener_v4"
    # every key is written out, so dvc.yaml can name any of them
    written = yaml.safe_load((REPO / "params.yaml").read_text())
    assert set(written) == set(Params().to_dict())


def test_ci_params_are_valid() -> None:
    params = load_params(REPO / "params-ci.yaml")
    assert params.evolution.generations >= 1


def test_wrong_type_names_key_path() -> None:
    assert error({"tournament": {"size": "x"}}) == (
        "params.yaml: tournament.size: expected an integer >= 2, got 'x'"
    )


def test_unknown_key_names_key_path() -> None:
    message = error({"mutation": {"bounds": {"min_lrr": 1.0e-4}}})
    assert message.startswith("params.yaml: mutation.bounds.min_lrr: unknown key")
    assert "min_lr" in message


def test_out_of_range_names_key_path() -> None:
    assert "population.size: expected an integer >= 1, got 0" in error({"population": {"size": 0}})
    assert "init_hp.gamma: expected a finite number >= 0.0 and <= 1.0" in error(
        {"init_hp": {"gamma": 2.0}}
    )


def test_quoted_number_gets_a_hint() -> None:
    message = error({"init_hp": {"lr_actor": "1e-3"}})
    assert "init_hp.lr_actor" in message and "without quotes" in message


def test_yaml_1_2_floats_as_dvc_writes_them(tmp_path: Path) -> None:
    # DVC reads params.yaml as YAML 1.2, where 1e-3 is a float; `dvc exp run -S` writes such.
    path = tmp_path / "p.yaml"
    path.write_text(
        "init_hp:\n  lr_actor: 1e-3\n  lr_critic: 2E-3\n  tau: 5.0e-3\n  gamma: .95e0\n"
        "evolution:\n  target: -1.5e1\n"
    )
    params = load_params(path)
    assert params.init_hp.lr_actor == 0.001 and params.init_hp.lr_critic == 0.002
    assert params.init_hp.tau == 0.005 and params.init_hp.gamma == 0.95
    assert params.evolution.target == -15.0
    # Every other check still holds: an exponent float is no integer, a string stays a string.
    path.write_text("init_hp:\n  batch_size: 1e3\n")
    with pytest.raises(ConfigError, match="init_hp.batch_size: expected an integer"):
        load_params(path)
    path.write_text("init_hp:\n  lr_actor: 1e-3x\n")
    with pytest.raises(ConfigError, match="init_hp.lr_actor"):
        load_params(path)


def test_list_items_and_choices() -> None:
    assert "net_config.hidden_sizes[1]" in error({"net_config": {"hidden_sizes": [64, 0]}})
    assert "algorithm: expected one of 'MATD3', 'MADDPG'" in error({"algorithm": "PPO"})
    assert "env.backend" in error({"env": {"backend": "threads"}})


def test_names_the_code_accepts() -> None:
    from marlpipe.algos.evolvable import get_activation
    from marlpipe.config.params import RL_HYPERPARAMETERS
    from marlpipe.evolution.mutations import RL_HP_BOUNDS_KEYS
    from marlpipe.registry import ACTIVATIONS

    assert all(callable(get_activation(name)) for name in ACTIVATIONS)
    assert set(RL_HYPERPARAMETERS) == set(RL_HP_BOUNDS_KEYS)
    assert "net_config.activation: expected one of 'ReLU'" in error(
        {"net_config": {"activation": "Relu"}}
    )
    assert "mutation.rl_hp_selection[0]: expected one of 'lr_actor'" in error(
        {"mutation": {"rl_hp_selection": ["gamma"]}}
    )
    assert "mutation.activation_selection[1]" in error(
        {"mutation": {"activation_selection": ["ReLU", "Swish"]}}
    )


def test_device_must_be_a_torch_device() -> None:
    assert "population.device: expected a torch device" in error({"population": {"device": "gpu"}})
    for device in ("cpu", "cuda", "cuda:1", "mps"):
        assert params_from_dict({"population": {"device": device}}).population.device == device


def test_non_finite_floats_are_refused() -> None:
    assert "init_hp.lr_actor: expected a finite number" in error(
        {"init_hp": {"lr_actor": float("nan")}}
    )
    assert "evolution.target: expected a finite number" in error(
        {"evolution": {"target": float("inf")}}
    )


def test_initial_architecture_within_mutation_limits() -> None:
    assert "net_config.hidden_sizes: expected between" in error(
        {"net_config": {"hidden_sizes": [64] * 4}}
    )
    assert "net_config.critic_hidden_sizes[0]: expected a width between" in error(
        {"net_config": {"critic_hidden_sizes": [512]}}
    )


def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("population:\n  size: 3\n  size: 5\n")
    expected = r"dup.yaml: not valid YAML \(duplicate key 'size' at line 3"
    with pytest.raises(ConfigError, match=expected):
        load_params(path)


def test_cross_key_rules() -> None:
    assert "mutation.bounds.min_lr" in error({"mutation": {"bounds": {"min_lr": 0.5}}})
    assert "tournament.size" in error({"population": {"size": 2}, "tournament": {"size": 3}})


def test_batch_larger_than_the_buffer_is_refused() -> None:
    message = error({"init_hp": {"batch_size": 4096}, "evolution": {"memory_size": 2000}})
    assert message.count("\n") == 0
    assert "init_hp.batch_size: expected an integer <= evolution.memory_size (2000), got 4096" in (
        message
    )


def test_bool_is_not_an_integer() -> None:
    assert "seed: expected an integer" in error({"seed": True})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_params(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("env: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_params(bad)


def test_defaults_when_no_params_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_params() == Params()


def test_dump_round_trip_writes_floats_with_a_dot(tmp_path: Path) -> None:
    params = with_overrides(Params(), {"init_hp": {"lr_actor": 1.0e-10}})
    text = dump_params(params)
    assert "1.0e-10" in text
    path = tmp_path / "p.yaml"
    path.write_text(text)
    assert load_params(path) == params


def test_params_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Params().seed = 3  # type: ignore[misc]
