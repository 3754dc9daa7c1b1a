"""A row of an episode's frames as one PNG: what a run did, at a glance, in Omniboard."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_filmstrip(images: np.ndarray, path: Path, frames: int = 10, scale: int = 2) -> Path:
    """Save ``frames`` evenly spaced images of ``images`` ([time, height, width, 3] uint8)."""
    from PIL import Image

    chosen = np.linspace(0, len(images) - 1, num=min(frames, len(images))).round().astype(int)
    strip = np.concatenate([images[i] for i in chosen], axis=1)
    picture = Image.fromarray(strip)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    path = Path(path)
    picture.save(path)
    return path
