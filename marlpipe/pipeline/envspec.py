"""Stage ``envspec``: build the params' environment once and record its spec."""

from __future__ import annotations

from pathlib import Path

from marlpipe.config import Params
from marlpipe.envs import EnvSpec, make_env
from marlpipe.io import atomic_write
from marlpipe.pipeline.paths import Paths


def extract(params: Params) -> EnvSpec:
    """The :class:`EnvSpec` of ``params.env`` (the env is built, read and closed)."""
    env = make_env(params.env.name, **params.env.kwargs)
    try:
        return EnvSpec.from_env(
            env, params.env.channels_last, params.env.name, dict(params.env.kwargs)
        )
    finally:
        env.close()


def run(params: Params, root: str | Path = ".") -> EnvSpec:
    """Write ``models/envspec.json`` for ``params.env`` and return the spec."""
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
