"""Stage ``envspec``: build the params' environment once and record its spec."""

from __future__ import annotations

from pathlib import Path

from marlpipe.config import Params
from marlpipe.envs import EnvFactory, EnvSpec
from marlpipe.errors import UserError
from marlpipe.io import atomic_write
from marlpipe.pipeline.env_deps import warn_if_env_module_not_a_dep
from marlpipe.pipeline.paths import Paths


def extract(params: Params) -> EnvSpec:
    """The :class:`EnvSpec` of ``params.env`` (one copy is built, read and closed): of the
    three keys the stage reads, nothing else."""
    env = params.env
    return EnvFactory(env.name, env.call_kwargs, channels_last=env.channels_last).spec()


def run(params: Params, root: str | Path = ".") -> EnvSpec:
    """Write ``models/envspec.json`` for ``params.env`` and return the spec."""
    warn_if_env_module_not_a_dep(params.env.name, "envspec", root)
    spec = extract(params)
    text = spec.to_json() + "\n"
    atomic_write(Paths(Path(root)).envspec, lambda f: f.write(text), mode="w")
    return spec


def load(root: str | Path = ".") -> EnvSpec:
    """Read the spec written by :func:`run` (error names the file and the stage to run)."""
    path = Paths(Path(root)).envspec
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found (run `marlpipe envspec` first)")
    return EnvSpec.from_json(path.read_text())


def describe(name: str | None, kwargs: dict | None) -> str:
    """``'mpe2.simple_spread_v3'`` or ``'mpe2.simple_spread_v3' {'N': 4}`` for messages."""
    return f"{name!r} {kwargs}" if kwargs else repr(name)


def _same_env(spec: EnvSpec, name: str | None, kwargs: dict) -> bool:
    from marlpipe.envs.spec import _json_native

    return spec.env_name == name and (spec.env_kwargs or {}) == _json_native(dict(kwargs))


def load_for(params: Params, root: str | Path = ".") -> EnvSpec:
    """:func:`load`, refusing a spec made for another env than ``params.env`` says (a stage
    run with ``--params`` for a new env before ``marlpipe envspec`` would train the old one)."""
    spec = load(root)
    if not _same_env(spec, params.env.name, params.env.call_kwargs):
        raise UserError(
            f"{Paths(Path(root)).envspec}: made for env {describe(spec.env_name, spec.env_kwargs)}"
            f", but the params' env.name is {describe(params.env.name, params.env.call_kwargs)}: "
            "run `marlpipe envspec` (or `dvc repro`) for the new env first"
        )
    return spec


def check_agent(agent_spec: EnvSpec, what: str | Path, root: str | Path = ".") -> None:
    """Refuse an agent (e.g. the elite) made for another env than ``models/envspec.json``;
    nothing to compare when that file does not exist."""
    path = Paths(Path(root)).envspec
    if not path.is_file():
        return
    spec = load(root)
    if not _same_env(spec, agent_spec.env_name, agent_spec.env_kwargs):
        raise UserError(
            f"{what}: made for env {describe(agent_spec.env_name, agent_spec.env_kwargs)}, but "
            f"{path} is {describe(spec.env_name, spec.env_kwargs)}: evaluate an elite of this "
            "pipeline's env (or rerun the pipeline for that env)"
        )
