"""The training loop of the original release, independent of the agent and of the tracker.

Collect episodes with exploration, store each one on disk, train every ``train_every``
environment steps once ``prefill`` steps exist, play a noise-free evaluation episode every
``eval_every`` steps. Metrics go through a ``log(name, value, step)`` callable, at the
environment step they belong to, so the same loop runs under Sacred or in a test.

Where the time goes: the loop times its phases on the agent's clock (agents/timing.py, which
lists them) and logs each training episode's seconds per phase as ``time/<phase>`` at the
episode's step, and ``time/setup`` once per attempt, at its first step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent
from agents.checkpoint import LoopState, save_checkpoint
from agents.settings import ConfigSettings
from agents.timing import METRIC_PREFIX, SETUP
from envs.episodes import ReplaySampler, load_episodes, save_episode

LogFn = Callable[[str, float, int], None]


@dataclass(frozen=True)
class LoopSettings(ConfigSettings):
    """The schedule the loop runs, from a resolved config: each field is the config key of the
    same name (``schedule`` section, plus the replay's ``batch_length``, the task's
    ``offline_dir`` and the run's ``seed``). Built once where a run's config enters
    (benchmark/experiment.py) and passed to :func:`train_and_evaluate`."""

    steps: int
    prefill: int
    train_every: int
    train_steps: int
    pretrain: int
    eval_every: int
    eval_episodes: int
    checkpoint_every: int
    video_every: int
    fail_at_step: int
    batch_length: int
    offline_dir: str | None
    seed: int
    config_hash: str = ""  # the run's identity, stored with each checkpoint; "" outside the suite

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LoopSettings:
        """The fields read from a resolved config (``config_hash`` is set by the suite, if at all)."""
        return super().from_config(config, config_hash=config.get("config_hash", ""))


class DeliberateFailure(RuntimeError):
    """Raised when the config's ``fail_at_step`` is reached, to exercise failure handling."""


def play_episode(env, agent: Agent, training: bool, on_step: Callable[[int], None] | None = None):
    """One episode; returns its arrays (Dreamer's alignment) and a summary.

    ``on_step(env_steps)`` is called after every agent decision with the environment steps
    it took, so training can interleave with collection as in the original. Environment
    resets and steps (rendering included) are timed as ``env`` on the agent's clock.
    """
    clock = agent.clock
    with clock.phase("env"):
        observation, info = env.reset()
    agent.reset()
    action_dim = env.action_space.shape[0]
    images, actions, rewards, successes = [observation["image"]], [np.zeros(action_dim, np.float32)], [0.0], [False]
    done, env_steps = False, 0
    while not done:
        action = agent.act(observation, training)
        with clock.phase("env"):
            observation, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        images.append(observation["image"])
        actions.append(np.asarray(action, np.float32))
        rewards.append(float(reward))
        successes.append(bool(info.get("success", False)))
        env_steps += info.get("env_steps", 1)
        if on_step is not None:
            on_step(info.get("env_steps", 1))
    episode = {
        "image": np.stack(images),
        "action": np.stack(actions),
        "reward": np.asarray(rewards, np.float32),
        "success": np.asarray(successes, bool),
    }
    summary = {
        "return": float(np.sum(rewards)),
        # Episode success = any success in the episode (docs/protocol.md#success).
        "success": float(np.any(successes)),
        "length": float(len(actions) - 1),
        "env_steps": env_steps,
    }
    if "choice" in info:
        for choice in ("safe", "risky", "none"):
            summary[f"choose_{choice}"] = float(info["choice"] == choice)
    return episode, summary


def train_and_evaluate(
    settings: LoopSettings,
    agent: Agent,
    train_env,
    eval_env,
    run_dir: Path,
    log: LogFn,
    resume: tuple[Path, LoopState] | None = None,
    flush: Callable[[], None] | None = None,
    artifact: Callable[[str, np.ndarray], None] | None = None,
    progress: Callable[[int, int, dict[str, float], dict[str, float]], object] | None = None,
    started_at: float | None = None,
) -> dict[str, float]:
    """Run the whole schedule of one run; return the final summary (stored as the result).

    With ``resume`` (a checkpoint folder and its loop state) the agent is restored and the
    episodes the checkpoint covers are reloaded into replay; later ones are deleted, since
    their steps will be collected (and logged) again. ``flush`` is called before each
    checkpoint to push buffered metrics to the tracker, so everything the checkpoint covers
    is recorded before the checkpoint claims it. ``artifact(name, frames)`` receives a plan
    video (executed | planned frames) every ``video_every`` training episodes.
    ``progress(step, episodes, summary, times)`` is told after each training episode how far
    the run has got and the episode's seconds per phase (benchmark/progress.py turns that into
    log lines, ``info``, an ETA and the phases' shares). ``started_at`` (``time.time()``) is
    when the run started, the origin of ``time/setup`` (default: this call).

    An episode's ``time/<phase>`` cover the loop from the previous episode's time points to its
    own, its checkpoint included; they are flushed with a second flush after a checkpoint, so
    a run killed after it loses none of the steps the checkpoint covers.
    """
    started_at = time.time() if started_at is None else started_at
    clock = agent.clock
    episode_dir = Path(run_dir) / "episodes"
    replay = ReplaySampler(load_episodes(settings.offline_dir), settings.batch_length, settings.seed)
    state = LoopState(next_checkpoint=settings.checkpoint_every)
    if resume is not None:
        folder, state = resume
        agent.restore(folder)
        for path in sorted(episode_dir.glob("*.npz")):
            if int(path.name.split("-")[0]) >= state.episodes:
                path.unlink()
        for episode in load_episodes(episode_dir):
            replay.add(episode)
    last_summary: dict[str, float] = {}

    def log_all(prefix: str, metrics: Mapping[str, float], step: int) -> None:
        with clock.phase("logging"):
            for name, value in metrics.items():
                log(f"{prefix}{name}", value, step)

    clock.take()  # the constructor's and the resume's time belongs to setup, measured from the start
    log_all(METRIC_PREFIX, {SETUP: time.time() - started_at}, state.step)
    if resume is None and settings.prefill <= 0 and replay.episodes:
        # The first training call (``pretrain`` updates) comes at step ``prefill``; with no
        # prefill and offline data that is before the first step, so the agent plans from
        # step 0 (the original README's fine-tune schedule, docs/protocol.md#offline-data).
        with clock.phase("update"):
            metrics = agent.train(replay, settings.pretrain)
        log_all("train/", metrics, 0)
        state.trained_once = True

    def after_decision(env_steps: int) -> None:
        state.step += env_steps
        if 0 <= settings.fail_at_step <= state.step:
            raise DeliberateFailure(
                f"fail_at_step={settings.fail_at_step} reached at step {state.step} (requested by config)"
            )
        due = state.step - state.last_train >= settings.train_every
        if state.step >= settings.prefill and due and replay.episodes:
            # As the original: the first call makes ``pretrain`` updates, later ones ``train_steps``.
            updates = settings.train_steps if state.trained_once else settings.pretrain
            with clock.phase("update"):
                metrics = agent.train(replay, updates)
            log_all("train/", metrics, state.step)
            state.trained_once, state.last_train = True, state.step

    while state.step < settings.steps:
        episode, summary = play_episode(train_env, agent, training=True, on_step=after_decision)
        with clock.phase("diagnostics"):
            # Before replay.add: the episode is still held out from every model update.
            held_out = agent.episode_diagnostics(episode)
        log_all("", held_out, state.step)
        with clock.phase("replay"):
            save_episode(episode_dir, episode, state.episodes)
            replay.add(episode)
        state.episodes += 1
        last_summary = {f"train/{k}": v for k, v in summary.items() if k != "env_steps"}
        log_all("", last_summary, state.step)
        with clock.phase("diagnostics"):
            planner_stats = agent.diagnostics()
        log_all("plan/", planner_stats, state.step)
        if artifact is not None and settings.video_every > 0 and state.episodes % settings.video_every == 0:
            with clock.phase("video"):
                frames = agent.episode_video()
                if frames is not None:
                    artifact(f"plan_episode{state.episodes:05d}_step{state.step}.gif", frames)
        if state.step >= state.next_eval:
            with clock.phase("eval", absorb=True):
                last_summary.update(evaluate(settings.eval_episodes, agent, eval_env, state.step, log))
            state.next_eval = state.step + settings.eval_every
        finished = state.step >= settings.steps
        checkpointed = finished or (settings.checkpoint_every > 0 and state.step >= state.next_checkpoint)
        if checkpointed:
            # The final checkpoint is what `run_suite.py eval` loads.
            state.next_checkpoint = state.step + settings.checkpoint_every
            with clock.phase("checkpoint"):
                if flush is not None:
                    with clock.phase("logging"):
                        flush()
                save_checkpoint(run_dir, agent, state, settings.config_hash)
        times = clock.take()
        log_all(METRIC_PREFIX, times, state.step)
        with clock.phase("logging"):
            if checkpointed and flush is not None:
                flush()
            if progress is not None:
                progress(state.step, state.episodes, summary, times)
    last_summary["steps"] = float(state.step)
    return last_summary


def evaluate(episodes: int, agent: Agent, env, step: int, log: LogFn) -> dict[str, float]:
    """``episodes`` noise-free episodes; the mean of each summary value is logged as ``eval/<name>``."""
    summaries = [play_episode(env, agent, training=False)[1] for _ in range(episodes)]
    means = {}
    for name in summaries[0]:
        if name == "env_steps":
            continue
        means[f"eval/{name}"] = float(np.mean([s[name] for s in summaries]))
        log(f"eval/{name}", means[f"eval/{name}"], step)
    return means
