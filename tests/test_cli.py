"""The ``marlpipe`` CLI: instant help, defaults anywhere, one-line user errors, the tiny chain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from marlpipe.cli import cli


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
    ],
)
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
    # render only renders: the same episode again, and no evaluation is written
    (tmp_path / "reports" / "eval.json").unlink()
    again = tmp_path / "again.gif"
    code, out, _ = invoke("render", str(again), *common)
    assert code == 0 and "frames" in out
    assert again.read_bytes() == gif.read_bytes()
    assert not (tmp_path / "reports" / "eval.json").exists()


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
    env = make_env(params.env.name, **params.env.kwargs)
    spec = EnvSpec.from_env(env, env_name=params.env.name, env_kwargs=dict(params.env.kwargs))
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
