"""Videos with known properties for the curation tests and benchmark: camera moves, cuts, blur.

Frames are crops of a large random texture (structure at several scales, so optical flow and sharpness have
something to measure): a window moving right is a camera panning right, a shrinking window a zoom in. Every video
is real H.264 (`encode_h264`), with a keyframe every `gop` frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .sample_release import encode_h264

#: The moves `camera_frames` makes, by the OpenVid class a correct detector gives them.
MOVES = ("static", "pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out")


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """An RGB texture: coarse colour blobs plus fine detail, deterministic for `seed`."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = cv2.resize(rng.uniform(0, 255, (height // 16 + 1, width // 16 + 1, 3)), (width, height), cv2.INTER_CUBIC)
    medium = cv2.resize(rng.uniform(-60, 60, (height // 4 + 1, width // 4 + 1, 3)), (width, height), cv2.INTER_CUBIC)
    fine = rng.uniform(-25, 25, (height, width, 1))
    return np.clip(coarse + medium + fine, 0, 255).astype(np.uint8)


def camera_frames(
    move: str, num_frames: int, width: int = 160, height: int = 120, speed: float = 2.0, seed: int = 0
) -> Iterator[np.ndarray]:
    """Frames of a camera making `move` over a texture: `speed` pixels a frame (pans, tilts) or percent (zooms)."""
    import cv2

    if move not in MOVES:
        raise ValueError(f"unknown move {move!r}; one of {', '.join(MOVES)}")
    margin = int(speed * num_frames) + 8
    canvas = texture(height + 2 * margin, width + 2 * margin, seed)
    dx = {"pan_right": speed, "pan_left": -speed}.get(move, 0.0)
    dy = {"tilt_down": speed, "tilt_up": -speed}.get(move, 0.0)
    zoom = {"zoom_in": 1 - speed / 100, "zoom_out": 1 + speed / 100}.get(move, 1.0)
    for index in range(num_frames):
        scale = zoom**index if move.startswith("zoom") else 1.0
        if move == "zoom_out":
            scale /= zoom ** (num_frames - 1)  # start zoomed in, end at the full window
        center_x = margin + width / 2 + dx * index
        center_y = margin + height / 2 + dy * index
        # An affine crop keeps sub-pixel positions exact (an integer crop would move in jumps).
        matrix = np.array(
            [[scale, 0, center_x - scale * width / 2], [0, scale, center_y - scale * height / 2]], dtype=np.float64
        )
        yield cv2.warpAffine(canvas, matrix, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def blurred(frames: Iterator[np.ndarray], sigma: float) -> Iterator[np.ndarray]:
    import cv2

    for frame in frames:
        yield cv2.GaussianBlur(frame, (0, 0), sigma) if sigma else frame


def write_video(path: str | Path, frames, fps: int = 25, gop: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_h264(frames, fps, gop=gop))
    return path


def write_shots(path: str | Path, shot_frames: list[int], fps: int = 25, gop: int | None = None, **size) -> Path:
    """One video of hard cuts between slowly panning shots of different textures; cut frames are the sums."""

    def frames() -> Iterator[np.ndarray]:
        for shot, count in enumerate(shot_frames):
            yield from camera_frames("pan_right", count, speed=1.0, seed=100 + shot, **size)

    return write_video(path, frames(), fps=fps, gop=gop)
