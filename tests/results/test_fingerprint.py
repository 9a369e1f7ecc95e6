"""The behaviour fingerprint and the results pipeline that depends on it (results/dvc.yaml).

The full check of every row (``marlpipe results fingerprint``) runs in CI after the tests (the
README's test command); here: its hashes see one bit, recording and checking a row agree, a
change of numbers or params fails, another CPU kind says it cannot compare, and the results
pipeline is current on a clean checkout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner

from marlpipe.cli import cli
from marlpipe.results import fingerprint

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"


def results_stages() -> tuple[dict, dict]:
    data = yaml.safe_load((RESULTS / "dvc.yaml").read_text())
    return data["vars"][0], data["stages"]


def test_every_row_of_the_table_has_a_recorded_fingerprint_the_cells_depend_on() -> None:
    variables, stages = results_stages()
    kind = variables["fingerprint_kind"]
    for preset, algorithm in fingerprint.ROWS:
        path = RESULTS / "fingerprints" / kind / f"{fingerprint.row_name(preset, algorithm)}.json"
        assert path.is_file(), path
        record = json.loads(path.read_text())
        assert record["cpu_kind"] == kind
        # the recorded params are today's: a changed default or preset shows here, on any CPU
        assert record["params_sha256"] == fingerprint.params_sha256(
            fingerprint.row_params(REPO / "configs" / f"{preset}.yaml", algorithm)
        ), path.name
    rows = set()
    for name, stage in stages.items():
        deps = stage.get("deps", []) if "do" not in stage else stage["do"]["deps"]
        code = [d for d in deps if d.startswith("../marlpipe")]
        if name == "aggregate":
            # formatting and the interval estimates: they read the cells, never train
            assert code == ["../marlpipe/results/aggregate.py", "../marlpipe/results/intervals.py"]
            continue
        # cells and baselines: their preset and their row's fingerprint, no package sources
        assert not code, (name, code)
        assert any(d.startswith("fingerprints/${fingerprint_kind}/") for d in deps), name
        assert not any(str(o).startswith("runs/") for o in stage.get("outs", [])), name
        if "matrix" in stage:
            algorithm = "maddpg" if name == "maddpg" else "matd3"
            tasks = stage["matrix"]["task"]
            tasks = variables[tasks[2:-1]] if isinstance(tasks, str) else tasks
            rows |= {(task, algorithm) for task in tasks}
    assert rows == {(p, a.lower()) for p, a in fingerprint.ROWS}


def test_the_results_pipeline_is_current_on_a_clean_checkout() -> None:
    """No cell, baseline or aggregate would run: every output the table is built from is in git,
    and the recorded dependencies are the committed files (fails after an edit that changes a
    cell's dependencies until the table is rerun or the change is recorded)."""
    if shutil.which("dvc") is None or not (REPO / ".git").exists():
        pytest.skip("needs dvc and a git checkout")
    done = subprocess.run(
        ["dvc", "status", "--json", "results/dvc.yaml"], cwd=REPO, capture_output=True,
        text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout or "{}") == {}, done.stdout[:2000]
    dry = subprocess.run(
        ["dvc", "repro", "--dry", "results/dvc.yaml"], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert "Running stage" not in dry.stdout, dry.stdout[:2000]


def test_the_model_hash_sees_one_bit(tmp_path: Path) -> None:
    state = {"actor/a": {"weight": torch.ones(3, 2), "bias": torch.zeros(3)}, "step": 4}
    torch.save({"state": state}, tmp_path / "a.pt")
    first = fingerprint.tensors_sha256(tmp_path / "a.pt")
    assert first == fingerprint.tensors_sha256(tmp_path / "a.pt")
    flipped = state["actor/a"]["weight"].clone()
    flipped.view(torch.int32)[1, 1] ^= 1  # the last bit of one float
    state["actor/a"]["weight"] = flipped
    torch.save({"state": state}, tmp_path / "b.pt")
    assert fingerprint.tensors_sha256(tmp_path / "b.pt") != first
    assert fingerprint._floats([0.1, {"x": 0.1 + 2**-56}]) != fingerprint._floats([0.1, {"x": 0.1}])


def _one_row_repo(tmp_path: Path) -> Path:
    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "speaker_listener.yaml", tmp_path / "configs")
    return tmp_path


ROW = "speaker_listener-matd3"


def test_record_then_check_the_same_code_is_the_same_numbers(tmp_path: Path) -> None:
    root = _one_row_repo(tmp_path)
    (path,) = fingerprint.record(root, [ROW])
    assert path == root / "results" / "fingerprints" / fingerprint.cpu_kind() / f"{ROW}.json"
    first = path.read_bytes()
    record = json.loads(first)
    assert record["versions"] == fingerprint.versions()
    # the run learned, selected and mutated: the fingerprint goes through those code paths
    assert {"architecture", "parameters", "rl_hp"} <= set(record["mutations_drawn"])
    assert len(record["elite_fitness"]) == fingerprint.BUDGET["evolution"]["generations"]
    (outcome,) = fingerprint.check(root, [ROW])
    assert outcome.status == "same"
    fingerprint.record(root, [ROW])
    assert path.read_bytes() == first  # no time or date: unchanged numbers stale nothing


def _recorded(root: Path, **changes: object) -> Path:
    record = {
        "cpu_kind": fingerprint.cpu_kind(), "versions": fingerprint.versions(),
        "params_sha256": fingerprint.params_sha256(
            fingerprint.row_params(root / "configs" / "speaker_listener.yaml", "MATD3")
        ),
        "model_sha256": "m", "fitness_sha256": "f", "score": -1.0, "elite_fitness": [-1.0],
    }  # fmt: skip
    record.update(changes)
    path = root / "results" / "fingerprints" / str(record["cpu_kind"]) / f"{ROW}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    return path


def test_other_numbers_fail_the_check_and_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _one_row_repo(tmp_path)
    _recorded(root)
    computed = {"model_sha256": "m", "fitness_sha256": "f", "score": -1.0, "elite_fitness": [-1.0]}
    monkeypatch.setattr(fingerprint, "compute", lambda *a: computed)
    assert [o.status for o in fingerprint.check(root, [ROW])] == ["same"]
    computed["model_sha256"] = "other weights"
    done = CliRunner().invoke(cli, ["results", "fingerprint", "--root", str(root), "--row", ROW])
    assert done.exit_code == 1, done.output
    assert f"{ROW}: OTHER NUMBERS than recorded" in done.output
    assert "fingerprint --record" in done.output.splitlines()[-1]


def test_changed_params_fail_on_any_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _one_row_repo(tmp_path)
    _recorded(root, cpu_kind="some-other-cpu")
    preset = root / "configs" / "speaker_listener.yaml"
    preset.write_text("init_hp:\n  gamma: 0.9\n")  # a changed default would do the same
    monkeypatch.setattr(fingerprint, "compute", lambda *a: pytest.fail("no run is needed"))
    (outcome,) = fingerprint.check(root, [ROW])
    assert outcome.status == "params-differ"
    assert outcome.status in fingerprint.FAILING


def test_an_opt_in_key_at_its_default_leaves_the_params_hash_as_it_was() -> None:
    """An off-by-default feature (``opt_in`` mark) computes what the code did before it existed:
    at its default it is left out of the hash, switched on it changes it."""
    import hashlib

    from marlpipe.config import Params, with_overrides
    from marlpipe.config.keys import leaf_keys, opt_in_keys, result_neutral_keys, select

    assert "net_config.share_homogeneous" in opt_in_keys()
    params = with_overrides(Params(), {"init_hp": {"pre_tanh_penalty": 0.0}})  # all opt-ins off
    left_out = {*result_neutral_keys(), *opt_in_keys()}
    before = select(params.resolved_dict(), [k for k in leaf_keys() if k not in left_out])
    expected = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()
    assert fingerprint.params_sha256(params) == expected
    shared = with_overrides(params, {"net_config": {"share_homogeneous": True}})
    assert fingerprint.params_sha256(shared) != expected


def test_a_feature_with_an_off_value_is_left_out_of_the_params_hash_only_when_off() -> None:
    """``init_hp.pre_tanh_penalty`` came later and computes what the code did before at 0.0
    (its ``off`` mark), whatever its default: at 0.0 it is left out of the hash, so the rows
    that pin it there keep their fingerprints; any other value is hashed."""
    import hashlib

    from marlpipe.config import Params, with_overrides
    from marlpipe.config.keys import leaf_keys, off_values, opt_in_keys, result_neutral_keys, select

    assert off_values()["init_hp.pre_tanh_penalty"] == 0.0
    off = with_overrides(Params(), {"init_hp": {"pre_tanh_penalty": 0.0}})
    left_out = {*result_neutral_keys(), *opt_in_keys()}
    kept = select(off.resolved_dict(), [k for k in leaf_keys() if k not in left_out])
    expected = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()
    assert fingerprint.params_sha256(off) == expected
    on = [with_overrides(Params(), {"init_hp": {"pre_tanh_penalty": v}}) for v in (1e-3, 1e-2)]
    hashes = {fingerprint.params_sha256(p) for p in on}
    assert expected not in hashes and len(hashes) == 2


def test_another_cpu_kind_says_in_one_line_that_it_cannot_compare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _one_row_repo(tmp_path)
    _recorded(root, cpu_kind="x86_64-someone-avx2")
    monkeypatch.setattr(fingerprint, "compute", lambda *a: pytest.fail("nothing to compare with"))
    done = CliRunner().invoke(cli, ["results", "fingerprint", "--root", str(root), "--row", ROW])
    assert done.exit_code == 0, done.output
    last = done.output.strip().splitlines()[-1]
    assert last.startswith("fingerprint: cannot compare on this machine"), done.output
    assert fingerprint.cpu_kind() in last
    # the same with other library versions on this CPU kind
    shutil.rmtree(root / "results")
    _recorded(root, versions={**fingerprint.versions(), "numpy": "1.0"})
    (outcome,) = fingerprint.check(root, [ROW])
    assert outcome.status == "other-versions" and "numpy 1.0" in outcome.detail


def test_a_null_env_kwargs_hashes_as_the_kwargs_it_stands_for() -> None:
    """``env.kwargs: null`` builds an mpe2 task with ``continuous_actions: true``: the params
    hash (and the resume fingerprint) are those of the explicit kwargs, so the rows recorded
    before the null default still match; other kwargs hash otherwise."""
    from marlpipe.config import Params, with_overrides
    from marlpipe.pipeline.resume import fingerprint
    from marlpipe.results.fingerprint import params_sha256

    null = Params()
    explicit = with_overrides(null, {"env": {"kwargs": {"continuous_actions": True}}})
    assert null.env.kwargs is None and explicit.env.kwargs is not None
    assert params_sha256(null) == params_sha256(explicit)
    assert fingerprint(null) == fingerprint(explicit)
    discrete = with_overrides(null, {"env": {"kwargs": {"continuous_actions": False}}})
    assert params_sha256(discrete) != params_sha256(null) != fingerprint(discrete)
