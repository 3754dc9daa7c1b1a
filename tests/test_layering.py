"""The dependency between packages points one way: ``benchmark`` builds agents, agents never
reach back into the suite (its registry, errors or database)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_no_module_in_agents_imports_benchmark():
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in imported_modules(path) if m.split(".")[0] == "benchmark")
        for path in sorted((ROOT / "agents").rglob("*.py"))
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}


def test_the_typed_settings_choices_are_the_config_choices():
    """A key with choices is a ``Literal`` of exactly the choices config resolution checks."""
    import typing

    from agents.planners.collocation import GaussNewtonSettings
    from agents.planners.latco import LatCo
    from agents.world_model import WorldModelSettings
    from benchmark.config import CHOICES
    from envs.factory import EnvSettings

    seen = set()
    for settings in (WorldModelSettings, GaussNewtonSettings, LatCo.Settings, EnvSettings):
        for name, hint in typing.get_type_hints(settings).items():
            if typing.get_origin(hint) is typing.Literal:
                assert typing.get_args(hint) == CHOICES[name], (settings.__name__, name)
                seen.add(name)
    assert seen == set(CHOICES) - {"eval_filter"}  # eval_filter is read by benchmark/evaluation.py
