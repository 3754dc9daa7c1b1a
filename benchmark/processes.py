"""Stopping the suite's processes together: what SIGINT already did, SIGTERM does too.

Ctrl-C in a terminal reaches the whole foreground process group, so every process of a
command sees it. SIGTERM (``kill PID``, a test's ``terminate()``, a service manager) reaches
one process only: by default Python dies at once and its children (Omniboard's ``node``, the
local run workers, their environment processes) live on as orphans. So the processes that
start children turn SIGTERM into ``KeyboardInterrupt`` and stop their children on the way
out, and each child also asks the kernel for SIGTERM when its parent dies (a SIGKILLed
parent has no way out). The embedded database is deliberately left out: it serves every
command and is stopped by ``run_suite.py db stop``.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from types import FrameType

_PR_SET_PDEATHSIG = 1
# Loaded here, not after a fork: a forked child of a threaded parent must not load libraries.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is (records end INTERRUPTED, ``finally`` blocks run)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the first one is enough; cleanup follows
    raise Terminated(f"signal {signal.Signals(signum).name}")


def interrupt_on_sigterm() -> None:
    """Make SIGTERM raise :class:`Terminated` in the main thread of this process."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def die_with_parent(signum: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``signum`` to this process when its parent exits (Linux only).

    Called first thing in a child (or as ``preexec_fn``), it covers the case no handler can:
    the parent killed with SIGKILL.
    """
    if _LIBC is None:
        return
    parent = os.getppid()
    _LIBC.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signum)
