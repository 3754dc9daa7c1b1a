"""Typed settings read from a resolved config: the one rule every part of a run follows.

The environment, the training loop, the agent, its world model and its planner each read the
config through a frozen dataclass whose fields are config keys of the same name, so that a part
names what it reads (the registry checks a method's keys against them) and a missing key fails
when the part is built, not in the middle of a run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

SettingsT = TypeVar("SettingsT", bound="ConfigSettings")


class ConfigSettings:
    """Base of the settings dataclasses: :meth:`from_config` fills every field from its key."""

    @classmethod
    def from_config(cls: type[SettingsT], config: Mapping[str, Any], **given: Any) -> SettingsT:
        """The fields read from a resolved config (extra keys are someone else's), except those
        ``given`` by the caller; a field annotated ``float`` is cast, since YAML writes 3 for 3.0."""
        values = {field.name: float(config[field.name]) if field.type == "float" else config[field.name]
                  for field in dataclasses.fields(cls) if field.name not in given}
        return cls(**values, **given)
