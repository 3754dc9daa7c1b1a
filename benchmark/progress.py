"""How far a run has got, while it runs: one record, three readers.

After every training episode the loop (``agents/loop.py``) calls a :class:`RunProgress`,
which computes the step rate, the ETA and where the time went (each phase's share of the
wall time, agents/timing.py) once and hands the same record to
  * the run's log (``results/logs/<run key>.log`` locally, the job log on Slurm), one line;
  * its Sacred record, as ``info.progress`` (saved at each heartbeat, so ``status`` and
    Omniboard's "Run Info" show it);
  * a JSON file in the run folder (``results/runs/<run key>/progress.json``), which the local
    launcher polls to draw one line per active run under its bar (:class:`ActiveRuns`).

Why a file for the launcher: runs are spawned pool workers, and the file is the one channel
that needs neither the database (Sacred sends ``info`` only every 10 s, and the database
may be remote or down) nor a pipe through ``concurrent.futures`` (which returns results, not
updates). It is replaced atomically, so the reader never sees half a record, and it stays
after the run as its last known state.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
from collections import deque
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

PROGRESS_FILE = "progress.json"
# The rate and the phases' shares are measured over the latest episodes so that the fast
# random prefill at the start of a run stops counting once planning (slower) has taken over.
RATE_WINDOW_EPISODES = 20
SHOWN_PHASES = 3  # the largest shares in the one-line view


def time_shares(episodes: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Each phase's share of the seconds of ``episodes`` (dicts phase -> seconds), largest first."""
    totals: dict[str, float] = {}
    for times in episodes:
        for phase, seconds in times.items():
            totals[phase] = totals.get(phase, 0.0) + seconds
    whole = sum(totals.values())
    if whole <= 0:
        return {}
    return {phase: seconds / whole for phase, seconds in sorted(totals.items(), key=lambda item: -item[1])}


def time_cell(record: Mapping[str, Any] | None, shown: int = SHOWN_PHASES) -> str:
    """The largest phase shares of a progress record, e.g. ``plan 41% update 33% env 12%``."""
    shares = (record or {}).get("time_shares") or {}
    return " ".join(f"{phase} {100 * share:.0f}%" for phase, share in list(shares.items())[:shown]) or "-"


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "?"
    return str(dt.timedelta(seconds=round(seconds)))


def describe(record: Mapping[str, Any]) -> str:
    """The one-line view of a progress record, as the log and the terminal show it."""
    step, total = record["step"], record["total"]
    parts = [f"step {step}/{total} ({100 * step / max(total, 1):.0f}%)", f"{record['episodes']} episodes"]
    for name in ("success", "return"):
        if record.get(name) is not None:
            parts.append(f"{name} {record[name]:.3g}")
    if record.get("steps_per_s"):
        parts.append(f"{record['steps_per_s']:.3g} steps/s")
        parts.append(f"ETA {record['eta']}")
    else:
        parts.append("starting")
    if record.get("time_shares"):
        parts.append(time_cell(record))
    return ", ".join(parts)


def progress_cell(record: Mapping[str, Any] | None, running: bool) -> str:
    """The short form for a status table: ``step/total``, with the ETA while the run runs."""
    if not record:
        return "-"
    cell = f"{record['step']}/{record['total']}"
    return f"{cell}, ETA {record['eta']}" if running and record.get("steps_per_s") else cell


class RunProgress:
    """Called by the training loop as ``progress(step, episodes, summary, times)`` after each
    episode, ``times`` being the episode's seconds per phase.

    ``info`` is the Sacred run's ``info`` dict; ``path`` the JSON file the launcher reads.
    """

    def __init__(self, total_steps: int, path: Path, info: MutableMapping[str, Any] | None = None,
                 step: int = 0, episodes: int = 0):
        self.total = int(total_steps)
        self.path = Path(path)
        self.info = info
        self.started = time.time()
        self._window: deque[tuple[float, int]] = deque([(self.started, step)], maxlen=RATE_WINDOW_EPISODES + 1)
        self._times: deque[Mapping[str, float]] = deque(maxlen=RATE_WINDOW_EPISODES)
        self._write(self._record(step, episodes, {}, None))

    def __call__(self, step: int, episodes: int, summary: Mapping[str, float],
                 times: Mapping[str, float] | None = None) -> dict[str, Any]:
        now = time.time()
        self._window.append((now, step))
        if times:
            self._times.append(times)
        (then, before) = self._window[0]
        rate = (step - before) / (now - then) if step > before and now > then else None
        record = self._record(step, episodes, summary, rate)
        self._write(record)
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        print(f"[{stamp}] progress: {describe(record)}", flush=True)
        return record

    def _record(self, step: int, episodes: int, summary: Mapping[str, float], rate: float | None) -> dict[str, Any]:
        eta = max(self.total - step, 0) / rate if rate else None
        return {
            "step": int(step), "total": self.total, "episodes": int(episodes),
            "success": _number(summary.get("success")), "return": _number(summary.get("return")),
            "steps_per_s": rate, "eta_s": eta, "eta": format_duration(eta),
            "time_shares": {phase: round(share, 4) for phase, share in time_shares(self._times).items()},
            "started": self.started, "updated": time.time(),
        }

    def _write(self, record: dict[str, Any]) -> None:
        if self.info is not None:
            self.info["progress"] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(json.dumps(record))
        os.replace(partial, self.path)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def read_progress(path: Path, since: float = 0.0) -> dict[str, Any] | None:
    """The record in ``path`` if it was started at or after ``since`` (else None: an earlier
    attempt's file, or none yet)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("started", 0) >= since else None


class ActiveRuns:
    """One status line per running run under the launcher's tqdm bar, refreshed by polling.

    ``refresh({label: progress file})`` is given the runs not finished yet; those whose file
    was written by this launch get a line, the others (queued) none.
    """

    def __init__(self, bar, since: float):
        self.bar = bar
        self.since = since
        self.lines: dict[str, Any] = {}

    def refresh(self, running: Mapping[str, Path]) -> None:
        from tqdm import tqdm

        for label in [label for label in self.lines if label not in running]:
            self.lines.pop(label).close()
        for label, path in running.items():
            record = read_progress(path, self.since)
            if record is None:
                continue
            if label not in self.lines:
                self.lines[label] = tqdm(total=0, bar_format="{desc}", leave=False, file=self.bar.fp)
            text = f"  {label}: {describe(record)}"
            if self.lines[label].desc != text:
                self.lines[label].set_description_str(text)

    def close(self) -> None:
        self.refresh({})
