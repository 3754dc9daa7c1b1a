"""Environments of the suite, built from a task's resolved config by :func:`make`."""

from envs.factory import make

__all__ = ["make"]
