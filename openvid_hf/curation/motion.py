"""Motion score and camera-motion class of a clip, from dense optical flow (OpenCV, CPU, no weights).

Pairs of consecutive frames, spread over the clip, are compared at one size (shorter side `ANALYSIS_SHORT_SIDE`) with
Farneback's or DIS flow. The **motion score** is the mean flow magnitude in pixels per frame at that size, averaged
over the pairs.

The **camera class** comes from a global motion model fitted to each pair's flow by least squares, on the frame
without a 10 % border (where content enters and flow is unreliable): with `x, y` measured from the frame's centre,
`u = tx + s * x` and `v = ty + s * y` (a translation and a zoom). A pair is

- `static` when its mean magnitude is under `STATIC_PIXELS`;
- `Undetermined` when the model explains under `MIN_EXPLAINED` of the flow (the motion is the subject's, or a
  rotation, not a pan, tilt or zoom);
- `zoom_in` / `zoom_out` when the zoom's mean displacement `|s| * mean radius` exceeds the translation's, by the
  sign of `s` (content moving outward is a zoom in);
- otherwise a pan or a tilt by the larger translation axis: content moving left (`tx < 0`) is the camera panning
  right, content moving down (`ty > 0`, image rows grow downward) is the camera tilting up.

The clip takes the class most of its pairs have, and `Undetermined` when no class has at least half of them.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..video.decoding import open_video
from .frames import resized_gray, spread

ANALYSIS_SHORT_SIDE = 256
PAIRS = 8
STATIC_PIXELS = 0.15
MIN_EXPLAINED = 0.5
BORDER = 0.1
FLOW_ALGORITHMS = ("farneback", "dis")


def motion_of(path: str | Path, algorithm: str = "farneback", pairs: int = PAIRS) -> dict[str, Any]:
    """`motion_score` and `camera_motion` of one clip file."""
    if algorithm not in FLOW_ALGORITHMS:
        raise UsageError(f"flow algorithm must be one of {', '.join(FLOW_ALGORITHMS)} (got {algorithm!r})")
    with open_video(path, backend="pyav") as video:
        firsts = spread(video.num_frames - 1, pairs)
        if not firsts:
            return {"motion_score": 0.0, "camera_motion": "static"}
        frames = video.read([index for first in firsts for index in (first, first + 1)]).permute(0, 2, 3, 1).numpy()
    flow = _flow_function(algorithm)
    magnitudes, classes = [], []
    for before, after in zip(frames[0::2], frames[1::2], strict=True):
        field = flow(resized_gray(before, ANALYSIS_SHORT_SIDE), resized_gray(after, ANALYSIS_SHORT_SIDE))
        magnitude, camera = classify(field)
        magnitudes.append(magnitude)
        classes.append(camera)
    camera, votes = Counter(classes).most_common(1)[0]
    return {
        "motion_score": float(np.mean(magnitudes)),
        "camera_motion": camera if votes * 2 >= len(classes) else "Undetermined",
    }


def classify(flow: np.ndarray) -> tuple[float, str]:
    """Mean flow magnitude of one `[H, W, 2]` flow field and the camera class its global motion gives."""
    height, width = flow.shape[:2]
    top, left = int(height * BORDER), int(width * BORDER)
    inner = flow[top : height - top, left : width - left].astype(np.float64)
    u, v = inner[..., 0], inner[..., 1]
    y, x = np.mgrid[top : height - top, left : width - left].astype(np.float64)
    x -= (width - 1) / 2
    y -= (height - 1) / 2
    magnitude = float(np.hypot(u, v).mean())
    if magnitude < STATIC_PIXELS:
        return magnitude, "static"
    # x and y are centred on the frame, so the translation is the mean flow and the zoom separates from it.
    tx, ty = float(u.mean()), float(v.mean())
    s = float(((u - tx) * x + (v - ty) * y).sum() / (x * x + y * y).sum())
    residual = np.hypot(u - tx - s * x, v - ty - s * y).mean()
    if 1 - residual / magnitude < MIN_EXPLAINED:
        return magnitude, "Undetermined"
    zoom = abs(s) * np.hypot(x, y).mean()
    if zoom > np.hypot(tx, ty):
        return magnitude, "zoom_in" if s > 0 else "zoom_out"
    if abs(tx) >= abs(ty):
        return magnitude, "pan_right" if tx < 0 else "pan_left"
    return magnitude, "tilt_up" if ty > 0 else "tilt_down"


def _flow_function(algorithm: str):
    import cv2

    if algorithm == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return lambda before, after: dis.calc(before, after, None)
    return lambda before, after: cv2.calcOpticalFlowFarneback(before, after, None, 0.5, 4, 21, 3, 5, 1.1, 0)
