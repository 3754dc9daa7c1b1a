"""Episodes on disk and the replay sampler."""

from __future__ import annotations

import numpy as np
import pytest

from envs.episodes import ReplaySampler, load_episodes, save_episode


def _episode(length: int, offset: int = 0) -> dict[str, np.ndarray]:
    steps = np.arange(length + 1)
    return {
        "image": (np.ones((length + 1, 8, 8, 3)) * (steps[:, None, None, None] + offset) % 255).astype(np.uint8),
        "action": np.stack([steps + offset] * 2, axis=1).astype(np.float32),
        "reward": (steps + offset).astype(np.float32),
        "success": steps % 2 == 0,
    }


def test_episode_round_trips_through_npz(tmp_path):
    original = _episode(20)
    path = save_episode(tmp_path, original, index=3)
    assert path.name.startswith("000003-20-") and path.suffix == ".npz"
    assert not list(tmp_path.glob("*.tmp")), "no temporary file may be left behind"
    [loaded] = load_episodes(tmp_path)
    for key, value in original.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert loaded[key].dtype == value.dtype


def test_truncated_file_is_skipped_with_a_warning_naming_it(tmp_path):
    save_episode(tmp_path, _episode(10), 0)
    broken = save_episode(tmp_path, _episode(10), 1)
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])
    with pytest.warns(UserWarning, match=broken.name):
        episodes = load_episodes(tmp_path)
    assert len(episodes) == 1


def test_sampler_returns_contiguous_windows_of_fixed_length():
    sampler = ReplaySampler([_episode(30, offset=0), _episode(5, offset=1000)], length=8, seed=0)
    batch = sampler.sample(16)
    assert batch["image"].shape == (16, 8, 8, 8, 3) and batch["action"].shape == (16, 8, 2)
    assert np.all(np.diff(batch["reward"], axis=1) == 1), "windows must be consecutive steps"
    assert batch["reward"].max() < 1000, "an episode shorter than the window is never sampled"
    assert sampler.num_steps == 35
