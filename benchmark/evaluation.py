"""Evaluation from a checkpoint (the original's eval.py) as Sacred runs linked to training.

Each selected run's final checkpoint is loaded and plays ``episodes`` episodes without
exploration noise. The evaluation is its own Sacred run (run key ``<training key>/eval``,
``evaluation_of`` = the training run's id), with per-episode success and return and a video
of executed vs planned frames per episode.

Two protocols (``eval_filter``, an evaluation-only key: it never enters the config hash, so
either finds the training run it evaluates; docs/protocol.md#evaluation):

- ``episode`` (default): the agent acts as in training's test episodes, filtering the whole
  episode and clipping its actions;
- ``single_frame``: the original's ``eval.py``, which plans each time from the current frame
  alone (one posterior step from the zero state and zero action) and executes the plan's
  actions unclipped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agents.checkpoint import find_checkpoint
from benchmark.database import MongoTarget
from benchmark.experiment import (
    RunOutcome,
    _artifact_writer,
    _describe_failure,
    failure_directory,
    run_directory,
    sacred_config,
)
from benchmark.records import latest_record
from benchmark.registry import RunSpec


def evaluation_key(spec: RunSpec) -> str:
    """The run key of ``spec``'s evaluation record."""
    return f"{spec.key}/eval"


def execute_evaluation(spec: RunSpec, target: MongoTarget, results_dir: Path, episodes: int = 10) -> RunOutcome:
    """Evaluate the completed training run of ``spec``; never raises for a run error."""
    from sacred import Experiment
    from sacred.observers import MongoObserver

    key = evaluation_key(spec)
    training = latest_record(target, spec.key, spec.config_hash, status="COMPLETED")
    if training is None:
        return RunOutcome(key, "FAILED", None, "no completed training run with this config; run it first")
    run_dir = run_directory(results_dir, spec)
    checkpoint = find_checkpoint(run_dir, spec.config_hash)
    if checkpoint is None:
        return RunOutcome(key, "FAILED", None, f"no checkpoint in {run_dir}; re-run training with --force")

    experiment = Experiment(f"eval:{spec.task}/{spec.method}", save_git_info=False)
    experiment.add_config({**sacred_config(spec), "run_key": key, "evaluation_of": training["_id"],
                           "eval_episodes": episodes})
    observer = MongoObserver(url=target.url, db_name=target.db_name, failure_dir=str(failure_directory(results_dir)),
                             serverSelectionTimeoutMS=2000)
    experiment.observers.append(observer)

    @experiment.main
    def main(_run, _config):
        return _evaluate(dict(_config), _run, run_dir, checkpoint[0], episodes)

    try:
        run = experiment.run(meta_info={"comment": key, "host_pid": os.getpid()}, options={"--capture": "sys"})
    except KeyboardInterrupt:
        return RunOutcome(key, "INTERRUPTED", None, "interrupted")
    except Exception as error:
        return RunOutcome(key, "FAILED", None, _describe_failure(error, results_dir))
    target.database().runs.update_one({"_id": run._id}, {"$set": {"omniboard.tags": [*spec.tags, "eval"]}})
    return RunOutcome(key, run.status, run._id)


def load_trained_agent(spec: RunSpec, results_dir: Path, action_size: int, overrides: dict[str, Any] | None = None):
    """The agent of ``spec`` with its last checkpoint's weights, its run folder and the loop
    state it was saved at; ``overrides`` change the agent's config but not the checkpoint looked
    for (the same world model under another planner, say). Raises FileNotFoundError (one line,
    naming the folder) when the run has no checkpoint of this config."""
    from agents.registry import build_agent

    run_dir = run_directory(results_dir, spec)
    found = find_checkpoint(run_dir, spec.config_hash)
    if found is None:
        raise FileNotFoundError(f"no checkpoint of {spec.key} (config {spec.config_hash}) in {run_dir}; "
                                "run it first, or pass the --results folder it ran in")
    config = {**spec.config, **(overrides or {})}
    agent = build_agent(config, action_size)
    agent.restore(found[0])
    return agent, run_dir, found[1]


def apply_eval_protocol(agent, protocol: str) -> None:
    """Make ``agent`` act by the evaluation protocol ``protocol`` (``eval_filter``'s value).

    The random agent filters nothing, so both protocols are the same for it.
    """
    if protocol == "single_frame":
        agent.use_single_frame_protocol()


def _evaluate(config: dict[str, Any], run, run_dir: Path, checkpoint: Path, episodes: int) -> dict[str, float]:
    import numpy as np

    from agents.loop import play_episode
    from agents.registry import build_agent
    from envs.isolated import IsolatedEnv

    # Fresh start states, same task: the goal does not depend on the seed (docs/protocol.md#start-states-and-goals).
    env = IsolatedEnv(config, seed=config["seed"] + 20_000)
    agent = build_agent(config, env.action_space.shape[0])
    agent.restore(checkpoint)
    apply_eval_protocol(agent, config["eval_filter"])
    write_video = _artifact_writer(run, run_dir / "eval")
    summaries = []
    try:
        for index in range(episodes):
            _, summary = play_episode(env, agent, training=False)
            summaries.append(summary)
            for name in ("success", "return"):
                run.log_scalar(f"eval/{name}", summary[name], index)
            frames = agent.episode_video()
            if frames is not None:
                write_video(f"eval_episode{index:03d}.gif", frames)
    finally:
        env.close()
    return {f"eval/{name}_mean": float(np.mean([s[name] for s in summaries])) for name in ("success", "return")}
