"""Episodes on disk (one compressed .npz each) and a replay sampler of fixed-length sequences.

Files are written to a temporary name and renamed, so a crash never leaves a half-written
episode behind; a file that is corrupt anyway (copied partially, disk full) is skipped with
a warning naming it, so one bad file never stops training.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

EPISODE_KEYS = ("image", "action", "reward", "success")


def episode_length(episode: Mapping[str, np.ndarray]) -> int:
    """Number of transitions; the arrays hold one more observation than actions."""
    return len(episode["action"]) - 1


def save_episode(directory: Path, episode: Mapping[str, np.ndarray], index: int) -> Path:
    """Write ``episode`` atomically as ``<index>-<length>-<uid>.npz``; return the path.

    Arrays are aligned per time step, as in Dreamer: ``action[t]`` and ``reward[t]`` are the
    action that led to ``image[t]`` and the reward received with it; index 0 holds zeros.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{index:06d}-{episode_length(episode)}-{uuid.uuid4().hex[:8]}.npz"
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, **{k: np.asarray(v) for k, v in episode.items()})
            stream.flush()
            os.fsync(stream.fileno())
        path = directory / name
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_episode(path: Path) -> dict[str, np.ndarray] | None:
    """Read one episode; ``None`` (and a warning naming the file) if it is unreadable."""
    try:
        with np.load(path) as data:
            episode = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as error:
        warnings.warn(
            f"skipping corrupt episode file {path} ({type(error).__name__}); delete it or "
            "regenerate it", stacklevel=2
        )
        return None
    missing = [key for key in ("image", "action", "reward") if key not in episode]
    if missing:
        warnings.warn(f"skipping episode file {path}: missing arrays {missing}", stacklevel=2)
        return None
    return episode


def load_episodes(directory: Path | None) -> list[dict[str, np.ndarray]]:
    """All readable episodes of a folder, in file-name order (so in collection order)."""
    if directory is None or not Path(directory).exists():
        return []
    loaded = (load_episode(path) for path in sorted(Path(directory).glob("*.npz")))
    return [episode for episode in loaded if episode is not None]


class ReplaySampler:
    """Uniform sampling of ``length``-step windows from stored episodes.

    Episodes too short for a window are kept (they still count as data) but never sampled.
    """

    def __init__(self, episodes: list[dict[str, np.ndarray]], length: int, seed: int = 0):
        self.length = length
        self.episodes: list[dict[str, np.ndarray]] = []
        self._eligible: list[dict[str, np.ndarray]] = []  # long enough for a window
        self._rng = np.random.default_rng(seed)
        for episode in episodes:
            self.add(episode)

    def add(self, episode: dict[str, np.ndarray]) -> None:
        self.episodes.append(episode)
        if len(episode["action"]) >= self.length:
            self._eligible.append(episode)

    @property
    def num_steps(self) -> int:
        return sum(episode_length(e) for e in self.episodes)

    def sample(self, batch_size: int) -> dict[str, np.ndarray]:
        """A batch ``{key: [batch, length, ...]}`` of windows from random episodes."""
        eligible = self._eligible
        if not eligible:
            raise ValueError(
                f"no stored episode has {self.length} steps; collect longer episodes or lower "
                "batch_length"
            )
        windows = []
        for choice in self._rng.integers(0, len(eligible), size=batch_size):
            episode = eligible[choice]
            start = self._rng.integers(0, len(episode["action"]) - self.length + 1)
            windows.append({k: v[start : start + self.length] for k, v in episode.items()})
        return {key: np.stack([w[key] for w in windows]) for key in windows[0]}

    def batches(self, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
        while True:
            yield self.sample(batch_size)
