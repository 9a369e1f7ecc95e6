"""Stage ``evaluate``: score the elite on fresh greedy episodes, report and register it."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from marlpipe.config import Params
from marlpipe.io import file_sha256, read_json, write_json
from marlpipe.pipeline.env_deps import warn_if_env_module_not_a_dep
from marlpipe.pipeline.paths import (
    ELITE_CARD,
    ELITE_FILE,
    Paths,
    env_short_name,
    set_torch_threads,
)  # fmt: skip
from marlpipe.pipeline.preflight import check_device

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent
    from marlpipe.tracking import MlflowTracker



def load_elite(root: str | Path = ".", device: str = "cpu") -> tuple[Agent, dict[str, Any]]:
    """The elite agent and its JSON card from ``models/elite/``."""
    from marlpipe.algos import load_agent
    from marlpipe.pipeline.envspec import check_agent

    directory = Paths(Path(root)).elite
    if not (directory / ELITE_FILE).is_file():
        raise FileNotFoundError(f"{directory / ELITE_FILE}: file not found (run evolve first)")
    agent = load_agent(directory / ELITE_FILE, device=device)
    check_agent(agent.spec, directory / ELITE_FILE, root)
    return agent, read_json(directory / ELITE_CARD)


def episode_scores(agent: Agent, params: Params) -> tuple[list[float], dict[str, float]]:
    """Greedy return of each of ``params.evaluate.episodes`` episodes, summed over the scored
    agents (``evolution.fitness_agents``; default: all), and every agent's mean return.

    The env is seeded once with ``evaluate.seed`` (never used in training), so every run of the
    stage faces the same episodes.
    """
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution.fitness import scored_agents, scored_returns

    cfg = params.evaluate
    selection = params.evolution.fitness_agents
    scored = None if selection is None else scored_agents(agent.agent_ids, selection)
    env = EnvFactory.from_params(params, agent.spec).eval_env(cfg.episodes)
    try:
        returns = run_episodes(agent, env, cfg.episodes, cfg.max_steps, seed=cfg.seed)
    finally:
        env.close()
    scores = [float(row.sum()) for row in scored_returns(returns, agent.agent_ids, scored)]
    per_agent = {}
    for column, agent_id in enumerate(agent.agent_ids):
        total = 0.0  # summed in episode order, as the reports have always been computed
        for value in returns[:, column]:
            total += float(value) / cfg.episodes
        per_agent[agent_id] = total
    return scores, per_agent


def run(
    params: Params, root: str | Path = ".", *, store: str | Path | None = None
) -> dict[str, Any]:
    """Write ``reports/eval.json`` for the elite; log it to MLflow and register the model
    (``store``: the folder of the local MLflow store, default ``root``)."""
    check_device(params.population.device)  # one line, before any work, not torch's trace
    set_torch_threads(params.population.torch_threads)
    root = Path(root)
    agent, card = load_elite(root, params.population.device)
    warn_if_env_module_not_a_dep(agent.spec.env_name, "evaluate", root)
    if params.tracking.enabled:  # a store that does not answer fails now, not after the work
        from marlpipe.tracking import MlflowTracker

        MlflowTracker(params.tracking.experiment, root=store or root).check_store()
    scores, per_agent = episode_scores(agent, params)
    metrics: dict[str, Any] = {
        "score": statistics.fmean(scores),
        "score_std": statistics.pstdev(scores),
        "score_min": min(scores),
        "score_max": max(scores),
        "episodes": len(scores),
        "elite_fitness": float(card["fitness"]),
        "generations": int(card["generations"]),
        "env_steps": int(card["env_steps"]),
    }
    metrics.update({f"return_{a}": v for a, v in per_agent.items()})
    from marlpipe.evolution.fitness import team_returns

    metrics.update({f"team_{t}": v for t, v in team_returns(per_agent).items()})
    if params.tracking.enabled:
        version = _track(params, root, Path(store or root), metrics, card, agent)
        metrics_out = {**metrics, "registered_version": version}
    else:
        metrics_out = metrics
    # The MLflow version varies run to run; keep it out of the DVC metrics file.
    write_json(Paths(root).eval_report, metrics)
    return metrics_out


def registered_model_name(params: Params, env_name: str | None) -> str:
    """``tracking.registered_model`` or ``marlpipe-<env>-<algorithm>``."""
    if params.tracking.registered_model:
        return params.tracking.registered_model
    short = env_short_name(env_name or "env")
    return f"marlpipe-{short}-{params.algorithm.lower()}"


def _track(
    params: Params,
    root: Path,
    store: Path,
    metrics: dict[str, Any],
    card: dict[str, Any],
    agent: Agent,
) -> int:
    from marlpipe.tracking import MlflowTracker

    evolve_run_id = _evolve_run_id(root)
    # Nested under the evolve run that made this elite, whose row also gets the scores
    # (eval.*), so the runs table sorts evolve runs by their elite's evaluated score.
    link = {"evolve_run_id": evolve_run_id, "mlflow.parentRunId": evolve_run_id}
    tracker = MlflowTracker(
        params.tracking.experiment, root=store, run_name="evaluate",
        params=_flat_evaluate(params), tags=link if evolve_run_id else None,
    )  # fmt: skip
    tracker.start()
    try:
        tracker.log_metrics(metrics)
        if evolve_run_id:
            tracker.log_metrics_to(evolve_run_id, {f"eval.{k}": v for k, v in metrics.items()})
        tracker.log_artifacts(Paths(root).elite, "elite")
        _log_gif(tracker, params, root, agent)
        name = registered_model_name(params, card.get("env", {}).get("name"))
        version = _register(tracker, name, Paths(root).elite, agent, metrics["score"])
    except BaseException as err:  # the run says it failed (or was stopped), never RUNNING
        tracker.finish("FAILED" if isinstance(err, Exception) else "KILLED")
        raise
    tracker.finish("FINISHED")
    return version


def _register(
    tracker: MlflowTracker, name: str, elite: Path, agent: Agent, score: float
) -> int:
    """The registered version of the elite checkpoint in ``elite/``.

    A checkpoint registered before (same ``checkpoint_sha256`` tag) keeps its version. Else the
    elite is logged on the run as a pyfunc model (``model/``: ``mlflow.pyfunc.load_model`` and
    ``mlflow models serve`` take it), registered from there with tags ``score`` and
    ``checkpoint_sha256``, and made ``champion`` if it beats the current one (or there is none).
    """
    from marlpipe.tracking.pyfunc_model import save_elite_model

    sha256 = file_sha256(elite / ELITE_FILE)
    version = tracker.find_model_version(name, "checkpoint_sha256", sha256)
    if version is None:
        model_uri, model_id = tracker.log_model(
            "model",
            lambda path, meta: save_elite_model(
                path, elite / ELITE_FILE, agent.spec, elite / ELITE_CARD, mlflow_model=meta
            ),
            model_type="marlpipe-policy",
        )
        tags = {"score": repr(float(score)), "checkpoint_sha256": sha256}
        version = tracker.register_model(name, model_uri, tags=tags, model_id=model_id)
        tracker.promote(name, version, "champion", "score")
    tracker.set_tags({"registered_model": name, "registered_version": version})
    return int(version)


def _log_gif(tracker: MlflowTracker, params: Params, root: Path, agent: Agent) -> None:
    """Log the elite playing the evaluation's first episode as ``render/elite.gif``.

    A GIF is a bonus: an env that cannot render says why on stderr and the stage goes on.
    """
    import logging
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            render_video(params, root, Path(tmp) / "elite.gif", agent=agent)
        except Exception as err:  # no rgb_array mode, no pygame, ...: nothing to log
            reason = " ".join(f"{type(err).__name__}: {err}".split())
            logging.getLogger(__name__).warning("evaluate: no GIF logged to MLflow (%s)", reason)
            return
        tracker.log_artifacts(tmp, "render")


def _evolve_run_id(root: Path) -> str | None:
    """The MLflow run of the ``evolve`` that wrote this very elite checkpoint, if known here."""
    paths = Paths(root)
    try:
        link = read_json(paths.evolve_link)
    except (OSError, ValueError):
        return None
    if not isinstance(link, dict) or link.get("elite_sha256") != file_sha256(
        paths.elite / ELITE_FILE
    ):
        return None
    return link.get("run_id")


def _flat_evaluate(params: Params) -> dict[str, Any]:
    return {f"evaluate.{k}": v for k, v in vars(params.evaluate).items()}


def render_video(
    params: Params, root: str | Path, path: str | Path, fps: int = 10, agent: Agent | None = None
) -> int:
    """Record the elite playing one greedy episode to a GIF or MP4 file (``path``'s extension
    says which, :mod:`marlpipe.tracking.video`); return the number of frames the file holds.

    The episode is the evaluation's first (same seed, same runner, agent masks honoured).
    ``agent`` is the elite when the caller has it loaded already (else read from ``root``). An
    extension other than ``.gif`` and ``.mp4`` is refused before anything is loaded.
    """
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.tracking.video import check_video_path, write_video

    check_video_path(path)
    if agent is None:
        agent, _ = load_elite(root, params.population.device)
    env = EnvFactory.from_params(params, agent.spec).render_env()
    frames: list[Any] = []
    try:
        cfg = params.evaluate
        run_episodes(
            agent, env, 1, cfg.max_steps, seed=cfg.seed, on_step=lambda e: frames.append(e.render())
        )
    finally:
        env.close()
    frames = [frame for frame in frames if frame is not None]
    if not frames:
        raise RuntimeError(f"{agent.spec.env_name} returned no frames in rgb_array mode")
    return write_video(frames, path, fps)
