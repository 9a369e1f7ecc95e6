"""Reopening the parent MLflow run of a resumed evolve run, and what it records when it does.

A resume continues its run when the run's ``resume_key`` tag equals the resuming tracker's
(evolve passes the resume fingerprint of its params and the training code's hash: exactly what
a checkpoint must match to be resumed), whatever the settings left out of that key. MLflow
params cannot change, so the settings that did change are added as params named
``resumed.g<generation>.<key>`` holding the new value (``resumed.g<generation>-<n>.<key>`` for
the n-th resume at the same generation; :data:`UNSET` for a key that is gone). A run that takes
a new name (the resuming DVC experiment's, or evolve's default outside one) keeps its former
ones, oldest first, in the tag ``previous_run_names``; its ``dvc_exp_name`` tag follows (dropped
outside an experiment). A run without the tag (or a tracker without a key) is reopened only when
its params are exactly the new ones.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from marlpipe.tracking.provenance import run_tags
from marlpipe.tracking.store import log_batch

PREFIX = "resumed."
UNSET = "(unset)"
"""The value of ``resumed.g<generation>.<key>`` for a key the resumed run no longer has."""
KEY_TAG = "resume_key"
NAMES_TAG = "previous_run_names"
_LIMIT = 6000  # MLflow keeps a param's first 6000 characters (see store.log_batch)
_RESUMED = re.compile(r"resumed\.g(\d+)(?:-(\d+))?\.(.+)")


def continue_run(
    client: Any,
    run_id: str,
    exp_id: str,
    params: Mapping[str, str],
    key: str | None,
    *,
    name: str,
    generation: int,
    root: str | os.PathLike = ".",
) -> bool:
    """Reopen ``run_id`` (``RUNNING`` again) if a resume under flat ``params`` and ``key`` may
    continue it (:func:`reopenable`), logging the params that changed (:func:`resumed_params`,
    at ``generation``) and the name ``name`` (:func:`renamed_tags`); ``True`` if it did."""
    try:
        run = client.get_run(run_id)
    except Exception:  # MlflowException: a run of another store
        return False
    if not reopenable(run, exp_id, params, key):
        return False
    client.update_run(run_id, status="RUNNING")
    tags = renamed_tags(run.data.tags, name)
    experiment = run_tags(root).get("dvc_exp_name")
    if experiment is not None:  # the DVC experiment resuming it (the name follows it)
        tags["dvc_exp_name"] = experiment
    elif tags and "dvc_exp_name" in run.data.tags:  # renamed outside any DVC experiment
        client.delete_tag(run_id, "dvc_exp_name")  # the former is in previous_run_names
    changed = resumed_params(run.data.params, params, generation)
    log_batch(client, run_id, params=changed, tags=tags)
    return True


def reopenable(run: Any, exp_id: str, params: Mapping[str, str], key: str | None) -> bool:
    """Whether ``run`` may be continued by a resume under flat ``params`` and ``key``."""
    if run.info.lifecycle_stage != "active" or run.info.experiment_id != exp_id:
        return False
    logged_key = run.data.tags.get(KEY_TAG)
    if key is not None and logged_key is not None:
        return logged_key == key
    return _clip(run.data.params) == _clip(params)


def current_params(logged: Mapping[str, str]) -> dict[str, str]:
    """The params a run was last resumed under: its first ones, each ``resumed.*`` on top in
    the order the resumes happened."""
    params = {k: v for k, v in logged.items() if not k.startswith(PREFIX)}
    changes = []
    for name, value in logged.items():
        match = _RESUMED.fullmatch(name)
        if match:
            changes.append((int(match[1]), int(match[2] or 1), match[3], value))
    for _generation, _count, key, value in sorted(changes):
        if value == UNSET:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def resumed_params(logged: Mapping[str, str], params: Mapping[str, str], generation: int) -> dict:
    """The ``resumed.g<generation>.<key>`` params saying how flat ``params`` differ from those
    the run was last resumed under (empty when nothing changed)."""
    before, now = _clip(current_params(logged)), _clip(params)
    changed = {
        key: now.get(key, UNSET)
        for key in sorted(before.keys() | now.keys())
        if before.get(key) != now.get(key)
    }
    if not changed:
        return {}
    label, count = f"g{generation}", 1
    while any(name.startswith(f"{PREFIX}{label}.") for name in logged):
        count += 1
        label = f"g{generation}-{count}"
    return {f"{PREFIX}{label}.{key}": value for key, value in changed.items()}


def unused_name(client: Any, exp_id: str, name: str) -> str:
    """``name``, else ``name-2``, ``name-3``, ...: the first that no active run of experiment
    ``exp_id`` has, so that two runs of the same params (``marlpipe train --fresh``, ``dvc repro
    -f``) are told apart in the runs list."""
    quote = '"' if "'" in name else "'"
    runs = client.search_runs([exp_id], f"tags.mlflow.runName LIKE {quote}{name}%{quote}")
    taken = {run.data.tags.get("mlflow.runName") for run in runs}
    candidate, count = name, 1
    while candidate in taken:
        count += 1
        candidate = f"{name}-{count}"
    return candidate


def renamed_tags(tags: Mapping[str, str], name: str) -> dict[str, str]:
    """The tags that give a run named by ``tags`` the name ``name``, the former name appended
    to ``previous_run_names`` (empty when the name is the same)."""
    former = tags.get("mlflow.runName")
    if former is None or former == name:
        return {}
    names = [n for n in tags.get(NAMES_TAG, "").split(", ") if n]
    return {"mlflow.runName": name, NAMES_TAG: ", ".join([*names, former])}


def _clip(params: Mapping[str, Any]) -> dict[str, str]:
    return {k: str(v)[:_LIMIT] for k, v in params.items()}
