"""Environments of the suite, built from a task's resolved config by :func:`make`."""

from __future__ import annotations

from typing import Any

__all__ = ["make"]


def __getattr__(name: str) -> Any:
    """``envs.make`` imported on first use, so ``envs.families`` (read while loading the
    registry) does not import gymnasium."""
    if name == "make":
        from envs.factory import make

        return make
    raise AttributeError(f"module 'envs' has no attribute '{name}'")
