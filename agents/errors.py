"""The error agents raise for a name or setting they cannot use; one line: the thing, the value,
the fix. ``agents`` imports nothing from ``benchmark`` (the dependency points one way): the suite
re-raises this error as its :class:`benchmark.errors.ConfigError`, which the CLI prints
without a traceback."""


class AgentConfigError(ValueError):
    """An agent name or setting this checkout cannot run; raised before any training step."""
