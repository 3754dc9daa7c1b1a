"""The task's environment in a child process, for processes that also run TensorFlow.

TensorFlow's shared library and Mesa's software OpenGL (llvmpipe, used by EGL and OSMesa
on machines without a GPU) clash when loaded into one process: the first MuJoCo render
after TensorFlow is imported segfaults inside libtensorflow_framework. Agents therefore step
their environments in a spawned child; the per-step cost is one pipe round trip of a 64x64
image. Written here rather than with gymnasium's AsyncVectorEnv because that class builds
one copy of the environment in the parent to read its spaces, which is the very clash.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from envs.factory import EnvSettings


def _serve(connection, settings: EnvSettings, seed: int | None) -> None:
    """Child process: build the environment, then answer (method, argument) requests.

    Ctrl-C reaches the whole process group; the child ignores it so that the parent run can
    stop cleanly (and be recorded as INTERRUPTED) instead of finding a dead pipe. It ends with
    its parent: at the parent's "close", when the pipe breaks, or by SIGTERM from the kernel
    when the parent dies (benchmark/processes.py).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from benchmark.processes import die_with_parent
    from envs.factory import make

    die_with_parent()
    env = make(settings, seed)
    connection.send((env.observation_space, env.action_space))
    while True:
        try:
            method, argument = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if method == "close":
            env.close()
            connection.close()
            return
        try:
            result = env.reset(seed=argument) if method == "reset" else env.step(argument)
            connection.send(("ok", result))
        except Exception as error:  # sent back and re-raised in the parent, with its type
            connection.send(("error", error))


class IsolatedEnv(gym.Env):
    """Same interface and behaviour as ``envs.make(config, seed)``, run in a spawned process
    (``config``: a resolved config, read here into :class:`EnvSettings`, or the settings)."""

    def __init__(self, config: EnvSettings | Mapping[str, Any], seed: int | None = None):
        settings = config if isinstance(config, EnvSettings) else EnvSettings.from_config(config)
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, settings, seed), daemon=True)
        self._process.start()
        child.close()
        self.observation_space, self.action_space = self._connection.recv()

    def _call(self, method: str, argument: Any):
        self._connection.send((method, argument))
        status, result = self._connection.recv()
        if status == "error":
            raise result
        return result

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self._call("reset", seed)

    def step(self, action: np.ndarray):
        return self._call("step", np.asarray(action, np.float32))

    def close(self) -> None:
        if self._process.is_alive():
            self._connection.send(("close", None))
            self._process.join(timeout=30)
        if self._process.is_alive():
            self._process.terminate()
