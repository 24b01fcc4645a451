"""Frames a scoring stage looks at: evenly spread over the clip, decoded with PyAV, optionally resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..video.decoding import open_video


def spread(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread evenly over `[0, num_frames)`, first and last included (fewer if short)."""
    if num_frames <= 0:
        return []
    count = min(count, num_frames)
    return sorted({round(i * (num_frames - 1) / max(count - 1, 1)) for i in range(count)})


def read_clip_frames(path: str | Path, count: int) -> np.ndarray:
    """RGB uint8 frames `[T, H, W, 3]`: `count` spread over the clip (all of them when it is shorter)."""
    with open_video(path, backend="pyav") as video:
        return video.read(spread(video.num_frames, count)).permute(0, 2, 3, 1).numpy()


def resized_gray(frame: np.ndarray, short_side: int) -> np.ndarray:
    """A grayscale copy whose shorter side is `short_side` pixels, so scores do not depend on the resolution."""
    import cv2

    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    scale = short_side / min(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
