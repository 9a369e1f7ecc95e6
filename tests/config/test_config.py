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

REPO = Path(__file__).resolve().parents[2]


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


def test_mutation_bounds_against_the_settings_they_meet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused: bounds that can never be met. Accepted: what mutations clamp or outgrow."""
    import dataclasses

    from marlpipe.registry import ALGORITHMS

    message = error({
        "mutation": {"bounds": {"min_batch_size": 1024}},
        "init_hp": {"batch_size": 512},
        "evolution": {"memory_size": 1000},
    })  # fmt: skip
    assert "mutation.bounds.min_batch_size: expected an integer <= evolution.memory_size " in (
        message
    )
    assert "(1000), got 1024" in message
    # ... but only where batch sizes can be mutated: a bound of what never changes cannot bite.
    small = {"evolution": {"memory_size": 50}, "init_hp": {"batch_size": 32}}
    for mutation in ({"rl_hp": 0}, {"rl_hp_selection": ["lr_actor", "lr_critic", "learn_step"]}):
        params = params_from_dict({**small, "mutation": mutation})
        assert params.mutation.bounds.min_batch_size == 64 > params.evolution.memory_size
    for mutation in ({}, {"rl_hp": 0.1, "rl_hp_selection": ["batch_size"]}):
        assert "mutation.bounds.min_batch_size: expected an integer <= evolution.memory_size " \
            "(50), got 64" in error({**small, "mutation": mutation})
    for name in ("lr", "batch_size", "learn_step"):
        low, high = (0.5, 0.1) if name == "lr" else (300, 200)
        bounds = {f"min_{name}": low, f"max_{name}": high}
        assert f"mutation.bounds.min_{name}: expected a value <= mutation.bounds.max_{name}" in (
            error({"mutation": {"bounds": bounds}})
        )
    # The default max_batch_size above a small buffer: batch-size mutations stop at memory_size.
    params_from_dict({"evolution": {"memory_size": 2000}})
    # An initial value outside its bounds: the first mutation of it clips it in.
    params_from_dict({"init_hp": {"batch_size": 32, "lr_actor": 0.05, "learn_step": 500}})
    # A learn_step above one generation's transitions still learns: the remainder carries over.
    params_from_dict({"init_hp": {"learn_step": 400}, "env": {"num_envs": 2},
                      "evolution": {"steps_per_generation": 100}})  # fmt: skip
    # A hyperparameter the algorithm does not use cannot be mutated.
    maddpg = ALGORITHMS["MADDPG"]
    without = tuple(n for n in maddpg.hyperparameters if n != "learn_step")
    monkeypatch.setitem(ALGORITHMS, "MADDPG", dataclasses.replace(maddpg, hyperparameters=without))
    message = error({"algorithm": "MADDPG"})
    assert "mutation.rl_hp_selection[3]: expected one of the hyperparameters algorithm MADDPG " in (
        message
    )
    assert "got 'learn_step'" in message
    params_from_dict({"algorithm": "MADDPG",
                      "mutation": {"rl_hp_selection": ["lr_actor", "batch_size"]}})  # fmt: skip


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


def test_vmas_env_must_step_in_sync() -> None:
    from marlpipe.config import EnvConfig, validated

    vmas_async = {"name": "vmas.simple_spread", "backend": "async"}
    assert error({"env": vmas_async}) == (
        "params.yaml: env.backend: expected 'sync' with a VMAS env.name ('vmas.simple_spread': "
        "one batched simulator steps every copy in this process), got 'async'"
    )
    with pytest.raises(ConfigError, match=r"^make_env: env\.backend: expected 'sync'"):
        validated(EnvConfig, vmas_async, "make_env", "env.")
    assert params_from_dict({"env": {**vmas_async, "backend": "sync"}}).env.backend == "sync"
    assert params_from_dict({"env": {"backend": "async"}}).env.backend == "async"  # not VMAS


@pytest.mark.parametrize(
    ("data", "expected"),
    [  # every setting added since v1: VMAS, Ray, devices, teams (presets: test_cli.py)
        ({"env": {"kwargs": ["continuous_actions"]}},
         "env.kwargs: expected a mapping, got ['continuous_actions']"),
        ({"population": {"backend": "dask"}},
         "population.backend: expected one of 'processes', 'local', 'ray'"),
        ({"population": {"experience": "pooled"}},
         "population.experience: expected one of 'merged', 'shared'"),
        ({"population": {"ray_address": 6379}}, "population.ray_address: expected a string"),
        ({"population": {"num_cpus": 0}}, "population.num_cpus: expected a finite number > 0.0"),
        ({"population": {"num_gpus": -0.5}},
         "population.num_gpus: expected a finite number >= 0.0"),
        ({"population": {"workers": 0}}, "population.workers: expected an integer >= 1, got 0"),
        ({"population": {"workers": 1.5}}, "population.workers: expected an integer >= 1"),
        ({"population": {"device": "gpu0"}}, "population.device: expected a torch device"),
        ({"population": {"device": "cuda:"}}, "population.device: expected a torch device"),
        ({"population": {"device": "CUDA"}}, "population.device: expected a torch device"),
        ({"evolution": {"fitness_agents": []}},
         "evolution.fitness_agents: expected a list (each a string) (at least 1), got []"),
        ({"evolution": {"fitness_agents": "agent"}},
         "evolution.fitness_agents: expected a list (each a string) (at least 1), got 'agent'"),
        ({"evolution": {"fitness_agents": [0]}},
         "evolution.fitness_agents[0]: expected a string, got 0"),
    ],
)  # fmt: skip
def test_settings_since_v1_refuse_bad_values(data: dict, expected: str) -> None:
    assert error(data).startswith(f"params.yaml: {expected}")


@pytest.mark.parametrize("preset", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_refuse_a_bad_key_like_params_yaml(tmp_path: Path, preset: Path) -> None:
    data = yaml.safe_load(preset.read_text()) or {}
    data.setdefault("population", {})["workers"] = 0
    path = tmp_path / preset.name
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: population.workers: expected an integer >= 1, got 0"


def _leaves(data: dict, prefix: str = "") -> dict:
    """``{"a.b": value}`` for every key a (partial) params mapping sets; env.kwargs is one value."""
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and key != "kwargs":
            out.update(_leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


PRESET_VALUES = {
    "adversary": ("mpe2.simple_adversary_v3", 20),
    "reference": ("mpe2.simple_reference_v3", 20),
    "speaker_listener": ("mpe2.simple_speaker_listener_v4", 20),
    "speaker_listener_discrete": ("mpe2.simple_speaker_listener_v4", 20),
    "speaker_listener_mf_pbt": ("mpe2.simple_speaker_listener_v4", 20),
    "spread": ("mpe2.simple_spread_v3", 30),
    "spread_shared": ("mpe2.simple_spread_v3", 30),
    "vmas_speaker_listener": ("vmas.simple_speaker_listener_per_copy", 14),
}


@pytest.mark.parametrize("preset", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_presets_hold_only_what_they_change(preset: Path) -> None:
    """A preset is overrides on the package defaults (= params.yaml): every key it sets differs
    from the default, and it resolves to the defaults with those keys changed."""
    from marlpipe.config import Params, with_overrides

    data = yaml.safe_load(preset.read_text()) or {}
    defaults = _leaves(Params().to_dict())
    for key, value in _leaves(data).items():
        assert key in defaults, (preset.name, key)
        assert value != defaults[key], f"{preset.name}: {key} repeats the default {value!r}"
    params = load_params(preset)
    assert params == with_overrides(Params(), data)
    name, generations = PRESET_VALUES[preset.stem]
    assert (params.env.name, params.evolution.generations) == (name, generations)
    assert load_params(REPO / "params.yaml") == Params()


def test_preset_kwargs_and_budgets() -> None:
    spread = load_params(REPO / "configs" / "spread.yaml")
    assert spread.env.kwargs == {"N": 3, "continuous_actions": True}
    discrete = load_params(REPO / "configs" / "speaker_listener_discrete.yaml")
    assert discrete.env.kwargs == {"continuous_actions": False}
    vmas = load_params(REPO / "configs" / "vmas_speaker_listener.yaml")
    assert (vmas.env.num_envs, vmas.init_hp.batch_size, vmas.evolution.steps_per_generation) == (
        256, 256, 25600)
    assert load_params(REPO / "configs" / "adversary.yaml").evolution.fitness_agents == ["agent"]


def test_result_neutral_settings_are_marked_where_they_are_defined() -> None:
    """The marks on the fields are the one list: what changes no numbers, what only evaluate
    reads, and so what shapes the generations (the resume fingerprint, dvc.yaml's params)."""
    from marlpipe.config import keys

    assert set(keys.result_neutral_keys()) == {
        "population.backend", "population.ray_address", "population.num_cpus",
        "population.num_gpus", "population.workers", "env.backend", "env.fast",
        "tracking.enabled", "tracking.experiment", "tracking.registered_model",
    }  # fmt: skip
    assert keys.read_only_by("evaluate") == keys.expand("evaluate")
    shaping = set(keys.generation_keys())
    assert {"seed", "env.kwargs", "mutation.bounds.min_lr", "population.torch_threads",
            "evolution.generations", "evolution.fitness_agents"} <= shaping  # fmt: skip
    assert shaping.isdisjoint(keys.result_neutral_keys()) and "evaluate.seed" not in shaping
    assert shaping | set(keys.result_neutral_keys()) | set(keys.read_only_by("evaluate")) == set(
        keys.leaf_keys()
    )
    assert keys.expand("mutation.bounds") == tuple(
        f"mutation.bounds.{k}" for k in Params().to_dict()["mutation"]["bounds"]
    )
    assert keys.expand("seed") == ("seed",) and keys.expand("env.kwargs") == ("env.kwargs",)
    data = Params().to_dict()
    kept = keys.select(data, ["seed", "mutation.bounds.min_lr", "env.name"])
    assert kept == {"seed": 0, "mutation": {"bounds": {"min_lr": 1e-4}},
                    "env": {"name": data["env"]["name"]}}  # fmt: skip
    assert keys.grouped(["env.fast", "env.backend", "tracking.enabled"]) == {
        "env": ("fast", "backend"), "tracking": ("enabled",)
    }  # fmt: skip


def test_the_marks_do_not_change_what_is_checked() -> None:
    """``neutral`` and ``read_only_by`` sit in the metadata beside the rules, ignored by them."""
    assert "population.workers: expected an integer >= 1, got 0" in error(
        {"population": {"workers": 0}}
    )
    params = params_from_dict({"env": {"fast": False}, "tracking": {"enabled": False}})
    assert params.env.fast is False and params.tracking.enabled is False


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a/b", "without '/' or ':'"),
        ("team:model", "without '/' or ':'"),
        ("  ", "non-blank"),
        ("..", "does not start with '..'"),
        ("both ' and \"", "but not both"),
    ],
)
def test_registered_model_names_mlflow_cannot_take_are_refused_in_one_line(
    name: str, why: str
) -> None:
    """Refused at validation, before any work; a name MLflow takes (a quote, spaces) is not."""
    with pytest.raises(ConfigError) as info:
        with_overrides(Params(), {"tracking": {"registered_model": name}})
    message = str(info.value)
    assert message.startswith("overrides: tracking.registered_model: expected") and why in message
    assert "\n" not in message
    for fine in ("bob's model", 'say "hi"', "ünï model_1.2"):
        params = with_overrides(Params(), {"tracking": {"registered_model": fine}})
        assert params.tracking.registered_model == fine


def test_set_items_apply_before_the_file_is_validated(tmp_path: Path) -> None:
    """A bad value that a ``--set`` item replaces is never seen (a failed ``dvc exp run -S``
    can leave params.yaml at ``generations: 0``); a bad value names who gave it."""
    path = tmp_path / "params.yaml"
    data = Params().to_dict()
    data["evolution"]["generations"] = 0
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"^.*params.yaml: evolution.generations: expected"):
        load_params(path)
    assert load_params(path, ["evolution.generations=1"]).evolution.generations == 1
    with pytest.raises(ConfigError) as info:  # the file's own bad value, not an item's
        load_params(path, ["seed=3"])
    assert str(info.value).startswith(f"{path}: evolution.generations: expected")
    with pytest.raises(ConfigError) as info:  # the item's bad value names the item
        load_params(path, ["evolution.generations=1", "tournament.size=x"])
    assert str(info.value) == (
        "--set tournament.size=x: tournament.size: expected an integer >= 2, got 'x'")
    with pytest.raises(ConfigError, match=r"^--set seed: expected KEY=VALUE"):
        load_params(path, ["seed"])


def test_env_kwargs_null_gives_the_family_its_own(tmp_path: Path) -> None:
    """params.yaml's ``env.kwargs: null``: mpe2 tasks get continuous actions, your own env gets
    nothing, so ``--set env.name=mygame:make`` on the repo's params.yaml builds ``make()``."""
    params = load_params(REPO / "params.yaml")
    assert params.env.kwargs is None
    assert params.env.call_kwargs == {"continuous_actions": True}
    mine = load_params(REPO / "params.yaml", ["env.name=mygame:make"])
    assert mine.env.call_kwargs == {}
    given = load_params(REPO / "params.yaml", ["env.name=mygame:make", "env.kwargs={size: 3}"])
    assert given.env.call_kwargs == {"size": 3}
    assert load_params(REPO / "configs" / "spread.yaml").env.call_kwargs == {
        "N": 3, "continuous_actions": True}  # fmt: skip
    assert Params().env.call_kwargs == {"continuous_actions": True}
    path = tmp_path / "p.yaml"
    path.write_text(dump_params(mine))
    assert load_params(path) == mine  # null is written as null and reads back
