"""Clarity: how sharp a clip is, as the variance of the Laplacian of its frames.

Blur removes high frequencies, and the Laplacian is what is left of them: a sharp frame's Laplacian varies a lot,
a blurred frame's little. Frames are compared at one size (shorter side `ANALYSIS_SHORT_SIDE`), so a 4K clip and a
480p clip of the same content score alike; the clip's score is the median over `FRAMES` frames spread over it, so one
motion-blurred frame does not decide it. The paper scores clarity with DOVER's technical branch, a network; this
score needs no weights (docs/curation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .frames import read_clip_frames, resized_gray

ANALYSIS_SHORT_SIDE = 360
FRAMES = 8


def clarity_of(path: str | Path) -> dict[str, Any]:
    """`clarity_score` of one clip file."""
    import cv2

    frames = read_clip_frames(path, count=FRAMES)
    values = [float(cv2.Laplacian(resized_gray(frame, ANALYSIS_SHORT_SIDE), cv2.CV_64F).var()) for frame in frames]
    return {"clarity_score": float(np.median(values))}
