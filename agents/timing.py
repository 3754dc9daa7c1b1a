"""Where a run's wall time goes: one phase clock per run, shared by the loop and its agent.

The agent owns the clock (``agent.clock``, part of the :class:`agents.base.Agent` protocol);
the loop (agents/loop.py) times its own phases on it and takes the per-episode totals, which
become the metrics ``time/<phase>`` (seconds, at the episode's step). The phase names are
metric names: keep them stable.

- ``setup``: from the experiment's start to the loop's first step (model build, environment
  processes, resume); logged once per attempt, by the loop, not measured by this clock;
- ``env``: environment reset and steps, rendering included (agents/loop.py, play_episode);
- ``filter``: the agent folding an observation into its feature;
- ``plan``: making a plan (the planner, and the plan's rollout and predicted rewards) or, for
  Dreamer, querying the actor;
- ``update``: model updates (``agent.train``);
- ``diagnostics``: held-out world-model diagnostics and the planners' per-episode statistics;
- ``video``: episode videos and their upload as artifacts;
- ``logging``: metric logging calls, progress records and flushes to the database;
- ``checkpoint``: writing checkpoints;
- ``eval``: evaluation episodes, everything inside them included;
- ``replay``: saving the episode file and adding it to replay;
- ``other``: the rest of the loop, so that the phases add up to its wall time;
- ``teardown``: from the loop's last time points to the run's end (the last progress record,
  closing the environments, the last episode's filmstrip); logged once, by the experiment.

So ``setup``, the episodes' phases and ``teardown`` add up to the run's wall time.
"""

from __future__ import annotations

import time
from collections import defaultdict

SETUP, OTHER, TEARDOWN = "setup", "other", "teardown"
PHASES = (SETUP, "env", "filter", "plan", "update", "diagnostics", "video", "logging", "checkpoint", "eval",
          "replay", OTHER, TEARDOWN)
METRIC_PREFIX = "time/"


class _Phase:
    """The context manager :meth:`PhaseClock.phase` returns; a class rather than a generator so
    that entering and leaving cost two ``perf_counter`` calls and little else."""

    __slots__ = ("_clock", "_name", "_absorb")

    def __init__(self, clock: PhaseClock, name: str, absorb: bool):
        self._clock, self._name, self._absorb = clock, name, absorb

    def __enter__(self) -> None:
        self._clock._enter(self._name, self._absorb)

    def __exit__(self, *_) -> None:
        self._clock._leave()


class PhaseClock:
    """Exclusive wall-time accounting by phase, with ``time.perf_counter``.

    At any moment exactly one phase is charged: the innermost one entered, or ``other``
    outside every phase. Time inside a nested phase belongs to that phase only, so the
    totals never double count and add up to the wall time between two :meth:`take` calls.
    A phase entered with ``absorb=True`` (evaluation episodes) keeps everything inside it:
    phases entered within it are charged to it.
    """

    def __init__(self) -> None:
        self._totals: defaultdict[str, float] = defaultdict(float)
        self._stack: list[str] = [OTHER]
        self._absorbing = 0  # depth of open phases whose inner phases are charged to them
        self._since = time.perf_counter()

    def phase(self, name: str, absorb: bool = False) -> _Phase:
        """``with clock.phase("plan"):`` charges the block's wall time to ``plan``."""
        return _Phase(self, name, absorb)

    def _enter(self, name: str, absorb: bool) -> None:
        if self._absorbing:
            self._absorbing += 1
            return
        now = time.perf_counter()
        self._totals[self._stack[-1]] += now - self._since
        self._since = now
        self._stack.append(name)
        self._absorbing = int(absorb)

    def _leave(self) -> None:
        if self._absorbing > 1:
            self._absorbing -= 1
            return
        now = time.perf_counter()
        self._totals[self._stack.pop()] += now - self._since
        self._since = now
        self._absorbing = 0

    def take(self) -> dict[str, float]:
        """Seconds per phase since the last call (or since the clock was made), then start over.

        Only the phases that were charged appear.
        """
        now = time.perf_counter()
        self._totals[self._stack[-1]] += now - self._since
        self._since = now
        totals = dict(self._totals)
        self._totals.clear()
        return totals
