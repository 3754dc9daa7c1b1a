"""Deciding what a launch does, for ``run`` and ``eval`` alike: which selected runs to start,
which to skip, and which already have a Slurm job queued or running.

Both commands take the same decision so they cannot drift apart: a second ``eval --launcher
slurm`` (like a second ``run``) leaves jobs that are still queued alone instead of submitting
them again and losing their ids from the job book.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmark.database import MongoTarget
from benchmark.experiment import is_run_locked, run_directory
from benchmark.records import completed_pairs
from benchmark.registry import RunSpec

TRAINING = "training"
EVALUATION = "evaluation"


@dataclass
class Plan:
    """The selected runs split three ways; ``live`` maps run key -> Slurm job id."""

    kind: str
    todo: list[RunSpec] = field(default_factory=list)
    skipped: list[RunSpec] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)
    running: list[str] = field(default_factory=list)  # run keys another local process is training

    @property
    def selected(self) -> int:
        return len(self.todo) + len(self.skipped) + len(self.live) + len(self.running)

    def describe(self) -> str:
        """One line for the user: what will run, what will not and why."""
        if self.kind == TRAINING:
            text = (f"{self.selected} runs in the grid, {len(self.skipped)} already completed, "
                    f"{len(self.todo)} to run")
        else:
            text = (f"{self.selected} runs selected, {len(self.skipped)} without a completed training run "
                    f"(train them first), {len(self.todo)} to evaluate")
        if self.running:
            text += f", {len(self.running)} being trained by another command right now (stop it or wait)"
        if self.live:
            text += (f", {len(self.live)} already queued or running on Slurm "
                     f"(jobs {' '.join(sorted(self.live.values()))})")
        return text


def plan_launch(
    specs: list[RunSpec], target: MongoTarget, results_dir: Path, kind: str = TRAINING,
    on_slurm: bool = False, force: bool = False,
) -> Plan:
    """Split ``specs``: training skips runs already COMPLETED with this config (unless
    ``force``); evaluation skips runs with no completed training to evaluate. On Slurm, runs
    whose job (of this kind, same config) is still queued or running are left to it."""
    completed = completed_pairs(target, [spec.key for spec in specs])
    is_done = [(spec.key, spec.config_hash) in completed for spec in specs]
    if kind == TRAINING:
        skip = [done and not force for done in is_done]
    else:
        skip = [not done for done in is_done]
    plan = Plan(kind)
    plan.skipped = [spec for spec, skipped in zip(specs, skip, strict=True) if skipped]
    rest = [spec for spec, skipped in zip(specs, skip, strict=True) if not skipped]
    if on_slurm and rest:
        from benchmark.slurm import EVALUATION_BOOK, live_jobs

        plan.live = live_jobs(rest, results_dir, EVALUATION_BOOK if kind == EVALUATION else "")
    elif kind == TRAINING and rest:
        # A second local command on the same grid must not train a run another process on this
        # machine is training: both would write the same run folder.
        plan.running = [spec.key for spec in rest if is_run_locked(run_directory(results_dir, spec))]
    plan.todo = [spec for spec in rest if spec.key not in plan.live and spec.key not in plan.running]
    return plan
