"""The ``marlpipe`` CLI: instant help, defaults anywhere, one-line user errors, the tiny chain."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from marlpipe.cli import cli

REPO = Path(__file__).resolve().parents[1]
NEEDS_VMAS = pytest.mark.skipif(
    importlib.util.find_spec("vmas") is None, reason="needs the vmas extra"
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_help_is_instant_and_imports_nothing_heavy() -> None:
    code = "import sys; from marlpipe.cli import main; sys.argv=['marlpipe','--help']\n" + (
        "try:\n main()\nexcept SystemExit:\n pass\n"
        "heavy = [m for m in ('torch', 'mlflow', 'pettingzoo', 'dvc') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for command in ("envspec", "init-population", "evolve", "evaluate", "check-regression"):
        assert command in done.stdout


def test_envspec_without_params_uses_package_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("envspec")
    assert code == 0
    assert "speaker_0" in out and "listener_0" in out
    spec = json.loads((tmp_path / "models" / "envspec.json").read_text())
    assert spec["env_name"] == "mpe2.simple_speaker_listener_v4"


def test_default_params_are_the_projects_own(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("env:\n  kwargs:\n    continuous_actions: false\n")
    code, _, _ = invoke("envspec", "--root", str(tmp_path))  # run from another folder
    assert code == 0
    spec = json.loads((tmp_path / "models" / "envspec.json").read_text())
    assert spec["env_kwargs"] == {"continuous_actions": False}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("tournament:\n  size: x\n", "tournament.size: expected an integer >= 2, got 'x'"),
        ("env:\n  name: nosuchpkg.env_v0\n", "unknown environment 'nosuchpkg.env_v0'"),
        ("evaluate:\n  episodes: 3\n  colour: red\n", "evaluate.colour: unknown key"),
        ("population:\n  size: 1\n", "population.size: expected an integer >= tournament.size"),
        pytest.param("env:\n  name: vmas.no_such\n",
                     "unknown VMAS scenario 'no_such' in env.name", marks=NEEDS_VMAS),
        pytest.param("env:\n  name: vmas.simple_spread\n  kwargs:\n    seed: 3\n",
                     "environment 'vmas.simple_spread': env.kwargs may not set seed",
                     marks=NEEDS_VMAS),
        ("env:\n  name: vmas.simple_spread\n  backend: async\n",
         "env.backend: expected 'sync' with a VMAS env.name"),
        ("population:\n  backend: ray\n  experience: shared\n",
         "population.experience: expected 'merged' with"),
        ("evolution:\n  fitness_agents: []\n", "evolution.fitness_agents: expected a list"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line(tmp_path: Path, content: str, expected: str) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(content)
    code, out, err = invoke("envspec", "--params", str(params), "--root", str(tmp_path))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_missing_inputs_are_one_line(tmp_path: Path) -> None:
    code, _, err = invoke("evaluate", "--root", str(tmp_path), "--params", "nope.yaml")
    assert code == 2 and err.strip() == "marlpipe: error: nope.yaml: file not found"
    code, _, err = invoke("evolve", "--root", str(tmp_path))
    assert code == 2 and "envspec.json: file not found" in err
    assert len(err.strip().splitlines()) == 1


def test_tiny_chain_with_render(tmp_path: Path, tiny_params_file: Path) -> None:
    common = ("--params", str(tiny_params_file), "--root", str(tmp_path))
    assert invoke("envspec", *common)[0] == 0
    code, out, _ = invoke("init-population", *common)
    assert code == 0 and "2 members" in out
    code, out, _ = invoke("evolve", *common)
    assert code == 0 and "after 2 generations" in out
    gif = tmp_path / "elite.gif"
    code, out, _ = invoke("evaluate", *common, "--render", str(gif))
    assert code == 0 and "score=" in out
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert json.loads((tmp_path / "reports" / "eval.json").read_text())["episodes"] == 3
    assert out.strip().endswith(f"wrote {gif} ({gif_frames(gif)} frames)")
    # render only renders: the same episode again, and no evaluation is written
    (tmp_path / "reports" / "eval.json").unlink()
    again = tmp_path / "again.gif"
    code, out, _ = invoke("render", str(again), *common)
    assert code == 0 and out.strip() == f"wrote {again} ({gif_frames(again)} frames)"
    assert again.read_bytes() == gif.read_bytes()
    assert not (tmp_path / "reports" / "eval.json").exists()
    # The same episode as an MP4: every rendered frame (the GIF may have merged repeats).
    import imageio.v3 as iio

    video = tmp_path / "elite.mp4"
    code, out, _ = invoke("render", str(video), *common)
    frames = len(list(iio.imiter(video, plugin="FFMPEG")))
    assert code == 0 and out.strip() == f"wrote {video} ({frames} frames)"
    assert video.read_bytes()[4:8] == b"ftyp" and frames >= gif_frames(gif) > 1


def gif_frames(path: Path) -> int:
    """The frames in the GIF file at ``path``, as a viewer plays them."""
    from PIL import Image

    with Image.open(path) as image:
        return image.n_frames


def test_stages_refuse_work_for_another_env_than_the_envspec(
    tmp_path: Path, tiny_params_file: Path
) -> None:
    from marlpipe.config import dump_params, load_params, with_overrides
    from marlpipe.envs import make_env
    from marlpipe.envs.spec import EnvSpec
    from marlpipe.evolution import create_population

    common = ("--params", str(tiny_params_file), "--root", str(tmp_path))
    assert invoke("envspec", *common)[0] == 0  # speaker-listener
    spread = "mpe2.simple_spread_v3"
    other = tmp_path / "spread.yaml"
    params = with_overrides(load_params(tiny_params_file), {"env": {"name": spread}})
    other.write_text(dump_params(params))
    for stage in ("init-population", "evolve"):
        code, _, err = invoke(stage, "--params", str(other), "--root", str(tmp_path))
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "envspec.json: made for env 'mpe2.simple_speaker_listener_v4'" in err
        assert f"the params' env.name is '{spread}'" in err
    assert not (tmp_path / "models" / "population").exists()
    # An elite of another env is not evaluated (nor rendered) on the pipeline's env.
    env = make_env(spread, continuous_actions=True)
    spec = EnvSpec.from_env(env, env_name=spread, env_kwargs={"continuous_actions": True})
    env.close()
    elite = create_population("MATD3", spec, {"hidden_sizes": [16]}, {}, 1, seed=0)[0]
    elite.save_checkpoint(tmp_path / "models" / "elite" / "elite.pt")
    for command in (("evaluate",), ("render", str(tmp_path / "x.gif"))):
        code, _, err = invoke(*command, *common)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert f"elite.pt: made for env '{spread}'" in err and "speaker_listener" in err
    assert not (tmp_path / "reports" / "eval.json").exists()
    assert not (tmp_path / "x.gif").exists()


def test_evaluate_with_a_tracking_server_that_does_not_answer_fails_first(
    tmp_path: Path, tiny_params_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from marlpipe.config import dump_params, load_params, with_overrides
    from marlpipe.envs import make_env
    from marlpipe.envs.spec import EnvSpec
    from marlpipe.evolution import create_population

    params = with_overrides(load_params(tiny_params_file), {"tracking": {"enabled": True}})
    tiny_params_file.write_text(dump_params(params))
    common = ("--params", str(tiny_params_file), "--root", str(tmp_path))
    assert invoke("envspec", *common)[0] == 0
    env = make_env(params.env.name, **params.env.call_kwargs)
    spec = EnvSpec.from_env(env, env_name=params.env.name, env_kwargs=params.env.call_kwargs)
    env.close()
    elite = create_population("MATD3", spec, {"hidden_sizes": [16]}, {}, 1, seed=0)[0]
    elite.save_checkpoint(tmp_path / "models" / "elite" / "elite.pt")
    (tmp_path / "models" / "elite" / "elite.json").write_text("{}")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    code, _, err = invoke("evaluate", *common)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"MLflow tracking store http://127.0.0.1:{port} does not answer" in err
    assert not (tmp_path / "reports" / "eval.json").exists()  # failed before the work
    # the probe's reason is the connection, not its own settings
    assert "Failed to convert" not in err and "MLFLOW_HTTP_REQUEST" not in err


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (to show a refused command changed nothing)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def project_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with tracking on whose stages have run: envspec, initial population, an elite,
    a saved partial evolve run (which ``evolve --fresh`` would discard) and its params.yaml."""
    from marlpipe.config import Params, dump_params, with_overrides
    from marlpipe.evolution import create_population
    from marlpipe.pipeline import envspec, init_population
    from tests.helpers.builders import TINY

    root = tmp_path_factory.mktemp("project")
    params = with_overrides(Params(), {**TINY, "tracking": {"enabled": True}})
    (root / "params.yaml").write_text(dump_params(params))
    spec = envspec.run(params, root)
    init_population.run(params, root)
    elite = create_population("MATD3", spec, {"hidden_sizes": [16]}, {}, 1, seed=0)[0]
    elite.save_checkpoint(root / "models" / "elite" / "elite.pt")
    (root / "models" / "elite" / "elite.json").write_text('{"fitness": -1.0}')
    (root / "runs" / "evolve" / "checkpoint").mkdir(parents=True)
    (root / "runs" / "evolve" / "checkpoint" / "state.json").write_text("{}")
    return root


@pytest.fixture
def project(project_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of ``project_template``; MLflow's store is the default local mlflow.db."""
    import shutil

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    root = tmp_path / "project"
    shutil.copytree(project_template, root)
    return root


def set_params(root: Path, **overrides: object) -> None:
    from marlpipe.config import dump_params, load_params, with_overrides

    path = root / "params.yaml"
    path.write_text(dump_params(with_overrides(load_params(path), overrides)))


DEVICE_COMMANDS = [
    ("init-population",),
    ("evolve", "--fresh"),
    ("evaluate", "--render", "elite.gif"),
    ("render", "elite.gif"),
]
"""Every command that puts networks on ``population.device``."""

NO_CUDA = (
    "population.device: 'cuda' needs CUDA, but CUDA is not available on this machine "
    "(torch.cuda.is_available() is False); use cpu"
)


def test_a_device_this_machine_lacks_is_one_line_before_any_work(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    set_params(project, population={"device": "cuda"})
    before = snapshot(project)
    for command in DEVICE_COMMANDS:
        args = [str(project / a) if a.endswith(".gif") else a for a in command]
        code, _, err = invoke(
            *args, "--root", str(project), "--params", str(project / "params.yaml")
        )
        assert code == 2, (command, err)
        assert err.strip() == f"marlpipe: error: {NO_CUDA}", command
    assert snapshot(project) == before  # nothing written, nothing removed


def test_check_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from marlpipe.errors import UserError
    from marlpipe.pipeline.preflight import check_device

    assert check_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="^population.device: 'cuda:0' needs CUDA, but CUDA is"):
        check_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    with pytest.raises(UserError) as info:
        check_device("cuda:1")
    assert str(info.value) == (
        "population.device: 'cuda:1': expected a CUDA device index below 1 (this machine has 1 "
        "CUDA device); use cuda:0 or cpu"
    )
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(UserError, match=r"^population.device: 'mps' needs Apple's Metal \(MPS\)"):
        check_device("mps")
    with pytest.raises(UserError, match="^population.device: expected a torch device"):
        check_device("gpu0")


GARBAGE = b"garbage\n"


@pytest.mark.parametrize("command", [("evolve", "--fresh"), ("evaluate",)])
def test_a_local_store_that_is_not_sqlite_is_one_line_and_left_alone(
    project: Path, command: tuple[str, ...]
) -> None:
    (project / "mlflow.db").write_bytes(GARBAGE)
    before = snapshot(project)
    code, _, err = invoke(*command, "--root", str(project))
    db = (project / "mlflow.db").resolve()
    assert code == 2 and err.strip() == (
        f"marlpipe: error: {db}: not an SQLite database (MLflow's local store); move it aside "
        "or set MLFLOW_TRACKING_URI"
    )
    assert snapshot(project) == before  # the saved run, models/ and mlflow.db as they were
    assert not (project / "reports" / "eval.json").exists()


def test_check_sqlite_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from marlpipe.errors import UserError
    from marlpipe.tracking.local_store import check_sqlite_store

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    check_sqlite_store(uri)  # not there yet: MLflow creates it
    db.write_bytes(b"")
    check_sqlite_store(uri)  # empty: SQLite's empty database
    db.unlink()
    sqlite3.connect(db).execute("create table t (x)").connection.close()
    check_sqlite_store(uri)
    check_sqlite_store("http://127.0.0.1:1")  # not a file: check_store probes it
    check_sqlite_store("sqlite:///:memory:")
    for bad in (tmp_path / "garbage.db", tmp_path / "folder.db"):
        if bad.name == "folder.db":
            bad.mkdir()
        else:
            bad.write_bytes(b"SQLite format 2\x00" + GARBAGE)
        with pytest.raises(UserError) as info:
            check_sqlite_store(f"sqlite:///{bad}")
        assert str(info.value) == (
            f"{bad}: not an SQLite database (MLflow's local store); move it aside or set "
            "MLFLOW_TRACKING_URI"
        )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'garbage.db'}")
    with pytest.raises(UserError, match="point MLFLOW_TRACKING_URI elsewhere"):
        check_sqlite_store(f"sqlite:///{tmp_path / 'garbage.db'}")
    assert (tmp_path / "garbage.db").read_bytes() == b"SQLite format 2\x00" + GARBAGE


def has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.skipif(has_cuda(), reason="the machine has CUDA (the subprocess is not patched)")
@pytest.mark.parametrize(
    ("stage", "problem"),
    [("init_population", "cuda"), ("evolve", "cuda"), ("evaluate", "cuda"),
     ("evolve", "store"), ("evaluate", "store")],
)  # fmt: skip
def test_stage_scripts_refuse_before_any_work(project: Path, stage: str, problem: str) -> None:
    """What ``dvc repro`` runs (``python -m stages.<name>`` in the project) says one line."""
    import os

    if problem == "cuda":
        set_params(project, population={"device": "cuda"})
        expected = NO_CUDA
    else:
        (project / "mlflow.db").write_bytes(GARBAGE)
        expected = f"{project.resolve() / 'mlflow.db'}: not an SQLite database"
    before = snapshot(project)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-m", f"stages.{stage}"], cwd=project, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().startswith(f"{stage}: error: {expected}")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert snapshot(project) == before


@pytest.mark.parametrize("fps", ["0", "-1", "101"])
def test_render_refuses_an_fps_a_gif_cannot_show(tmp_path: Path, fps: str) -> None:
    gif = tmp_path / "elite.gif"
    code, _, err = invoke("render", str(gif), "--root", str(tmp_path), "--fps", fps)
    assert code == 2 and "Invalid value for '--fps'" in err and "1<=x<=100" in err
    assert "Traceback" not in err and not gif.exists()


@pytest.mark.parametrize("name", ["elite.avi", "elite.png"])
def test_render_refuses_other_formats_in_one_line_before_any_work(tmp_path: Path, name: str):
    """No params, no elite here: the extension is what is refused, before either is read."""
    output = tmp_path / name
    expected = f"{output}: unsupported extension '{output.suffix}': expected .gif or .mp4"
    for command in (("render", str(output)), ("evaluate", "--render", str(output))):
        code, out, err = invoke(*command, "--root", str(tmp_path))
        assert code == 2 and err.strip() == f"marlpipe: error: {expected}", command
        assert out == "" and list(tmp_path.iterdir()) == []


def test_a_preset_is_checked_like_params_yaml(tmp_path: Path) -> None:
    """Presets (configs/*.yaml) given with --params, or to ``results``, are refused in one line."""
    import yaml

    preset = yaml.safe_load((REPO / "configs" / "vmas_speaker_listener.yaml").read_text())
    preset["env"]["backend"] = "async"
    path = tmp_path / "vmas_async.yaml"
    path.write_text(yaml.safe_dump(preset))
    code, _, err = invoke("envspec", "--params", str(path), "--root", str(tmp_path))
    assert code == 2 and err.strip().startswith(
        f"marlpipe: error: {path}: env.backend: expected 'sync' with a VMAS env.name"
    )
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "models").exists()
    out = tmp_path / "cell"
    spread = str(REPO / "configs" / "spread.yaml")
    args = ("results", "cell", spread, "--algorithm", "MATD3", "--out", str(out))
    code, _, err = invoke(*args, "--seed", "-1", "--summary", str(tmp_path / "s.json"))
    assert code == 2 and err.strip() == (
        f"marlpipe: error: {spread}: seed: expected an integer >= 0, got -1"
    )
    assert not out.exists()
    code, _, err = invoke("envspec", "--params", str(REPO / "configs"), "--root", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_ray_address_that_is_no_address_is_one_line_without_starting_ray() -> None:
    from marlpipe.errors import UserError
    from marlpipe.training.ray_trainer import probe

    with pytest.raises(UserError) as info:
        probe("head-node", "population.ray_address")
    assert str(info.value) == (
        "population.ray_address: expected a Ray address host:port, got 'head-node'"
    )
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


def test_python_dash_m_and_one_version() -> None:
    import importlib.metadata

    import marlpipe

    done = subprocess.run(
        [sys.executable, "-m", "marlpipe", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "init-population" in done.stdout and "evolve" in done.stdout
    assert importlib.metadata.version("marlpipe") == marlpipe.__version__
    code, out, _ = invoke("--version")
    assert code == 0 and out.strip() == f"marlpipe, version {marlpipe.__version__}"


def test_params_show_prints_a_preset_with_sets_applied() -> None:
    import yaml

    from marlpipe.config import load_params, with_overrides

    code, out, err = invoke(
        "params", "show", "--preset", "spread",
        "--set", "evolution.generations=3", "--set", "init_hp.lr_actor=1e-3",
    )  # fmt: skip
    assert code == 0, err
    expected = with_overrides(
        load_params(REPO / "configs" / "spread.yaml"),
        {"evolution": {"generations": 3}, "init_hp": {"lr_actor": 1e-3}},
    )
    assert yaml.safe_load(out) == expected.to_dict()
    code, out, _ = invoke("params", "show", "--preset", str(REPO / "configs" / "spread.yaml"))
    assert code == 0 and yaml.safe_load(out) == load_params(REPO / "configs/spread.yaml").to_dict()


@pytest.mark.parametrize(
    "item, expected",
    [
        ("evolution.generations=0",
         "--set evolution.generations=0: evolution.generations: expected an integer >= 1, got 0"),
        ("evolution.generationz=3",
         "--set evolution.generationz=3: evolution.generationz: unknown key"),
        ("generations", "--set generations: expected KEY=VALUE"),
    ],
)  # fmt: skip
def test_params_show_refuses_a_bad_set_in_one_line(item: str, expected: str) -> None:
    code, out, err = invoke("params", "show", "--preset", "spread", "--set", item)
    assert code == 2 and not out
    assert err.strip().startswith(f"marlpipe: error: {expected}")
    assert len(err.strip().splitlines()) == 1


def test_train_runs_the_four_stages_in_its_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from marlpipe.config import Params, load_params, with_overrides
    from tests.helpers.builders import TINY

    monkeypatch.chdir(tmp_path)  # the default store (mlflow.db) and runs/ are under cwd
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump(TINY))
    code, out, err = invoke("train", "--preset", str(preset), "--set", "seed=2")
    assert code == 0, err
    folder = tmp_path / "runs" / "train" / "tiny-s2"
    assert (folder / "models" / "elite").is_dir() and (folder / "reports" / "eval.json").is_file()
    expected = with_overrides(with_overrides(Params(), TINY), {"seed": 2})
    assert load_params(folder / "params.yaml") == expected
    assert "score" in out and not (tmp_path / "mlflow.db").exists()  # tracking off in TINY


def test_train_logs_to_the_tracking_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str
) -> None:
    import yaml

    from tests.helpers.builders import TINY

    monkeypatch.chdir(tmp_path)
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    code, _, err = invoke("train", "--preset", str(preset), "--set", "tracking.enabled=true",
                          "--out", str(out))  # fmt: skip
    assert code == 0, err
    assert (out / "models" / "elite").is_dir() and (out / "reports" / "eval.json").is_file()
    assert not (out / "mlflow.db").exists()  # the store is MLFLOW_TRACKING_URI's
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert {r.info.run_name for r in runs} >= {"evaluate"}


def test_set_rescues_a_bad_params_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--set`` applies before validation: after a failed ``dvc exp run -S
    evolution.generations=0``, ``--set evolution.generations=1`` runs."""
    from marlpipe.config import Params, dump_params

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(
        dump_params(Params()).replace("generations: 20", "generations: 0"))  # fmt: skip
    code, _, err = invoke("params", "show")
    assert code == 2 and "params.yaml: evolution.generations: expected" in err
    code, out, err = invoke("params", "show", "--set", "evolution.generations=1")
    assert code == 0, err
    assert "generations: 1\n" in out


def _tiny_preset(tmp_path: Path) -> Path:
    import yaml

    from tests.helpers.builders import TINY

    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump({**TINY, "tracking": {"enabled": True, "experiment": "t"}}))
    return preset


def _parent_runs(uri: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("t").experiment_id])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags and
            r.info.run_name != "evaluate"]  # fmt: skip


def test_train_twice_says_finished_and_fresh_trains_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_uri: str
) -> None:
    """A finished run is not trained again (exit 0, one line); other params are refused;
    ``--fresh`` moves the old folder aside and its MLflow run gets a name of its own."""
    monkeypatch.chdir(tmp_path)
    preset, folder = _tiny_preset(tmp_path), tmp_path / "run"
    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder))
    assert code == 0, err
    elite = folder / "models" / "elite" / "elite.pt"
    first = (elite.read_bytes(), elite.stat().st_mtime_ns)
    assert len(_parent_runs(mlflow_uri)) == 1

    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder))
    assert code == 0, err
    assert out.startswith(f"{folder}: already finished: elite fitness ") and "--fresh" in out
    assert (elite.read_bytes(), elite.stat().st_mtime_ns) == first  # nothing retrained
    assert len(_parent_runs(mlflow_uri)) == 1  # and nothing logged

    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder),
                            "--set", "evolution.generations=3")  # fmt: skip
    assert code == 2 and "evolution.generations" in err and "--fresh" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder),
                            "--set", "population.backend=processes")  # fmt: skip
    assert code == 0 and "already finished" in out  # a result-neutral key is not "other params"

    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder), "--fresh")
    assert code == 0, err
    [aside] = tmp_path.glob("run.stale-fresh-*")
    assert (aside / "models" / "elite" / "elite.pt").read_bytes() == first[0]  # kept, not lost
    assert elite.read_bytes() == first[0]  # the same params and seed: the same elite
    names = sorted(r.info.run_name for r in _parent_runs(mlflow_uri))
    assert len(names) == 2 and names[1] == names[0] + "-2", names


def test_train_resumes_an_unfinished_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed during evolve, ``train`` continues from the checkpoint; killed after evolve, it
    only evaluates: the elite is not trained again."""
    import yaml

    from marlpipe.config import dump_params, load_params
    from marlpipe.pipeline.experiment import Experiment
    from tests.helpers.builders import TINY

    monkeypatch.chdir(tmp_path)
    preset, folder = tmp_path / "tiny.yaml", tmp_path / "run"
    preset.write_text(yaml.safe_dump(TINY))
    params = load_params(preset)
    folder.mkdir()
    (folder / "params.yaml").write_text(dump_params(params))
    experiment = Experiment(params, folder)
    experiment.envspec()
    experiment.init_population()

    def killed(generation: int, _result: object) -> None:
        if generation == 0:  # the first of two
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        experiment.evolve(on_generation=killed)
    assert (folder / "runs" / "evolve" / "checkpoint").is_dir()
    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder))
    assert code == 0, err
    assert "resuming the interrupted run" in caplog.text and "at generation 1" in caplog.text
    assert (folder / "reports" / "eval.json").is_file()

    elite = folder / "models" / "elite" / "elite.pt"
    before = elite.stat().st_mtime_ns
    score = out.rsplit("score ", 1)[1].strip()
    (folder / "reports" / "eval.json").unlink()  # killed during evaluate
    code, out, err = invoke("train", "--preset", str(preset), "--out", str(folder))
    assert code == 0, err
    assert elite.stat().st_mtime_ns == before and "already finished" not in out
    assert out.rsplit("score ", 1)[1].strip() == score
    assert (folder / "reports" / "eval.json").is_file()
