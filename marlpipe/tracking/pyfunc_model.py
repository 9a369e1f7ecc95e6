"""The elite as an MLflow pyfunc model: ``mlflow.pyfunc.load_model`` and ``mlflow models serve``.

Input: one batch of observations for every agent, as named tensors (a dict ``agent id -> array``
of shape ``(batch, *obs_shape)``; float32, int64 for Discrete observations; the signature makes
MLflow check names, shapes and dtypes before ``predict``). Output: the greedy
actions per agent, a dict ``agent id -> array``: ``(batch, action_dim)`` float32 for continuous
actions (already scaled to the action space's bounds), ``(batch,)`` int64 action indices for
discrete ones. These are exactly the actions the evaluate stage plays (``get_action(...,
training=False)``): no exploration noise. Agent masks and env-defined actions come from an
env's ``info`` during an episode; a batch of observations has none, so the model always returns
each agent's own choice.

Named tensors rather than a DataFrame: agents have observations of different lengths (and
images), which a table can only hold as ragged list columns; a dict of arrays keeps each agent's
shape and dtype in the signature and reads the same in Python (``predict({...})``) and over REST
(``{"inputs": {"<agent>": [[...], ...]}}``).

The model is logged from code, as MLflow recommends (no pickled object): ``python_model`` is the
path of :mod:`marlpipe.tracking.elite_model_code`, which MLflow runs when it saves and when it
loads the model, and which hands it an :class:`ElitePolicy`.

This module imports ``mlflow`` (the class must derive from ``PythonModel``); nothing imports it
except code that logs or loads the model.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

CHECKPOINT = "checkpoint"
"""Name of the checkpoint in the model's ``artifacts``."""
CARD = "card"
"""Name of the elite's JSON card in the model's ``artifacts`` (optional)."""


MODEL_CODE = Path(__file__).with_name("elite_model_code.py")
"""The file logged as the model's code (``python_model``): it sets an :class:`ElitePolicy`."""

_HINT_NOT_A_SCHEMA = "Failed to infer signature from type hint"
"""Start of MLflow's warning, on saving, that ``predict``'s input hint is no ``list[...]``."""


class ElitePolicy(mlflow.pyfunc.PythonModel):
    """Greedy actions of the agent in the ``checkpoint`` artifact (any marlpipe algorithm)."""

    # MLflow 3.17 turns a ``list[...]`` input hint into a schema and checks inputs against it;
    # it has no such schema for a dict of named tensors, the input here, and warns about any
    # other hint. The signature's TensorSpecs check these inputs instead (names, dtypes,
    # shapes), so MLflow's hint check is skipped (its switch for models that bring their own
    # input types) and the hints below only say what predict takes and returns.
    _skip_type_hint_validation = True

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from marlpipe.algos import load_agent

        self.agent = load_agent(context.artifacts[CHECKPOINT], device="cpu")

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext | None,
        model_input: dict[str, np.ndarray],
        params: dict[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        return greedy_actions(self.agent, model_input)


def greedy_actions(agent: Any, observations: Any) -> dict[str, np.ndarray]:
    """The agent's greedy actions for a batch of observations per agent (see the module)."""
    if not isinstance(observations, dict):
        raise TypeError(
            "expected a dict of observation batches, one per agent id "
            f"({list(agent.agent_ids)}), got {type(observations).__name__}"
        )
    unknown = sorted(set(observations) - set(agent.agent_ids))
    if unknown:
        raise ValueError(f"unknown agent ids {unknown}, expected some of {list(agent.agent_ids)}")
    batches = {}
    for agent_id, value in observations.items():
        spec = agent.spec.observations[agent_id]
        batch = np.asarray(value, dtype=_obs_dtype(spec))
        if batch.shape[1:] != tuple(spec.shape):
            raise ValueError(
                f"observations of {agent_id}: shape {batch.shape}, expected (batch, *{spec.shape})"
            )
        batches[agent_id] = batch
    _, actions = agent.get_action(batches, training=False)
    return {a: np.asarray(v) for a, v in actions.items()}


def _obs_dtype(spec: Any) -> type:
    return np.int64 if spec.kind == "discrete" else np.float32


def signature(spec: Any) -> Any:
    """The model signature of an :class:`~marlpipe.envs.EnvSpec`: a named tensor per agent in,
    a named tensor per agent out (batch axis ``-1``)."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    inputs = Schema([
        TensorSpec(np.dtype(_obs_dtype(spec.observations[a])), (-1, *spec.observations[a].shape), a)
        for a in spec.agent_ids
    ])  # fmt: skip
    outputs = []
    for agent_id in spec.agent_ids:
        action = spec.actions[agent_id]
        if action.discrete:
            outputs.append(TensorSpec(np.dtype(np.int64), (-1,), agent_id))
        else:
            outputs.append(TensorSpec(np.dtype(np.float32), (-1, action.dim), agent_id))
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def input_example(spec: Any, batch: int = 2) -> dict[str, np.ndarray]:
    """A batch of zero observations per agent, in the signature's dtypes."""
    return {
        a: np.zeros((batch, *spec.observations[a].shape), dtype=_obs_dtype(spec.observations[a]))
        for a in spec.agent_ids
    }


def pip_requirements() -> list[str]:
    """What the model needs besides marlpipe itself (given, not inferred: inferring loads the
    model in a subprocess). marlpipe is not on PyPI: serve with ``--env-manager local`` in an
    environment where marlpipe is installed."""
    import torch

    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}",
            f"numpy=={np.__version__}"]  # fmt: skip


def save_elite_model(
    path: str | Path,
    checkpoint: str | Path,
    spec: Any,
    card: str | Path | None = None,
    mlflow_model: Any = None,
) -> None:
    """Write the pyfunc model of ``checkpoint`` (an agent of env spec ``spec``) to ``path``.

    Quietly: MLflow copies the artefacts into the model with a progress bar per file (off here,
    unless ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` is set), and warns that it cannot make a
    schema of ``predict``'s input hint (the signature is the schema: see :class:`ElitePolicy`);
    that warning is dropped, any other is shown.
    """
    from marlpipe.tracking.store import environ

    artifacts = {CHECKPOINT: str(checkpoint)}
    if card is not None:
        artifacts[CARD] = str(card)
    bars = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # Recorded, not filtered: MLflow's own "once" filter, set around the warning, comes first.
    with (
        environ(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=bars),
        warnings.catch_warnings(record=True) as caught,
    ):
        mlflow.pyfunc.save_model(
            str(path), python_model=str(MODEL_CODE), artifacts=artifacts,
            signature=signature(spec), input_example=input_example(spec),
            pip_requirements=pip_requirements(), mlflow_model=mlflow_model,
        )  # fmt: skip
    for warning in caught:  # any other warning is shown as usual
        if not str(warning.message).startswith(_HINT_NOT_A_SCHEMA):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
