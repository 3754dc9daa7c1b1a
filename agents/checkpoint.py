"""Checkpoints of a run: agent weights + optimiser, the loop's counters, the replay's extent.

A checkpoint is a folder written next to its final place and renamed over it, so a kill at
any moment leaves either the previous checkpoint or the new one, never half of one. The
replay itself lives in the run's episode files; the checkpoint records how many episodes it
covers, and episodes collected after it are dropped on resume so the curves continue without
duplicated or missing steps.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

CHECKPOINT_DIR = "checkpoint"


@dataclass
class LoopState:
    """Counters of the training loop, all in environment steps except ``episodes``."""

    step: int = 0
    episodes: int = 0
    last_train: int = 0
    trained_once: bool = False
    next_eval: int = 0
    next_checkpoint: int = 0


def save_checkpoint(run_dir: Path, agent, state: LoopState, config_hash: str) -> None:
    final = Path(run_dir) / CHECKPOINT_DIR
    staging = Path(run_dir) / f"{CHECKPOINT_DIR}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    agent.save(staging)
    (staging / "state.json").write_text(json.dumps({"config_hash": config_hash, **asdict(state)}))
    retired = Path(run_dir) / f"{CHECKPOINT_DIR}.old"
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def find_checkpoint(run_dir: Path, config_hash: str) -> tuple[Path, LoopState] | None:
    """The run's last complete checkpoint for this exact config, if any.

    A kill between the two renames of :func:`save_checkpoint` leaves only ``.old``: use it.
    """
    for name in (CHECKPOINT_DIR, f"{CHECKPOINT_DIR}.old"):
        folder = Path(run_dir) / name
        try:
            saved = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            continue
        if saved.pop("config_hash") == config_hash:
            return folder, LoopState(**saved)
    return None
