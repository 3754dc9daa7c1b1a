"""One short training run of a checkout, timed per phase: the worker of ``bench.speedup``.

    python bench/speedup_harness.py TASK METHOD STEPS [SETTINGS.json]   (the checkout to time as cwd)

It imports the agents of the checkout in the current directory, not of this file's, so that
an old commit and the working tree run the same measurement. It times phases by wrapping the
objects every version has (agent.train, the planner's plan, the filter, the held-out
diagnostics, the environment), rather than with the run's own clock, which older commits lack.
``SETTINGS.json`` holds another checkout's resolved config: every key this checkout's config
also has takes its value, so both sides do the same work even where the profile changed since
(`mini` gave CEM 30 iterations at cab7633 and 15 now).
Prints one JSON line: steps/s over the steady part (after the first model update plus 200
steps) and seconds per phase there.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def _timed(totals: dict[str, float], phase: str, function):
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[phase] += time.perf_counter() - start
    return wrapper


def main() -> None:
    sys.path.insert(0, os.getcwd())  # the checkout being timed
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from agents.loop import train_and_evaluate
    from agents.registry import build_agent
    from benchmark.registry import Registry
    from envs.isolated import IsolatedEnv

    task, method, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = Registry.load().resolve_config(task, method, "mini")
    if len(sys.argv) > 4:
        shared = json.loads(Path(sys.argv[4]).read_text())
        config.update({key: value for key, value in shared.items() if key in config})
    config.update(steps=steps, seed=0, task=task, config_hash="speedup")  # the case's, whatever the file says
    train_env, eval_env = IsolatedEnv(config), IsolatedEnv(config, seed=10_000)
    agent = build_agent(config, train_env.action_space.shape[0])
    totals: dict[str, float] = defaultdict(float)
    agent.train = _timed(totals, "update", agent.train)
    if hasattr(agent, "planner"):
        agent.planner.plan = _timed(totals, "plan", agent.planner.plan)
    if hasattr(agent, "_filter"):
        agent._filter.observe = _timed(totals, "filter", agent._filter.observe)
    if hasattr(agent, "episode_diagnostics"):
        agent.episode_diagnostics = _timed(totals, "diagnostics", agent.episode_diagnostics)
    train_env.step = _timed(totals, "env", train_env.step)
    marks: dict[str, tuple[float, int, dict[str, float]]] = {}
    started = time.perf_counter()

    def progress(step: int, episodes: int, summary, *_times) -> None:  # the loop adds phase times since issue 22
        now = (time.perf_counter(), step, dict(totals))
        if step >= config["prefill"] + 200 and "steady" not in marks:
            marks["steady"] = now
        marks["last"] = now

    try:  # the loop reads typed settings since issue 21; the reference commit read the config itself
        from agents.loop import LoopSettings
        schedule = LoopSettings.from_config(config)
    except ImportError:
        schedule = config
    train_and_evaluate(schedule, agent, train_env, eval_env, Path(tempfile.mkdtemp()), lambda *a: None,
                       progress=progress)
    train_env.close()
    eval_env.close()
    (t0, s0, p0), (t1, s1, p1) = marks["steady"], marks["last"]
    phases = {name: (p1.get(name, 0.0) - p0.get(name, 0.0)) / (s1 - s0) for name in p1}
    print(json.dumps({"steps_per_second": (s1 - s0) / (t1 - t0), "end_to_end_seconds": time.perf_counter() - started,
                      "steady_steps": s1 - s0, "seconds_per_step": phases}))


if __name__ == "__main__":
    main()
