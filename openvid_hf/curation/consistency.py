"""Temporal consistency: how alike adjacent sampled frames look to CLIP.

`FRAMES` frames spread over the clip are embedded with CLIP; the score is the mean cosine similarity of each frame
with the next. Flicker and glitches lower it; a clip that barely changes scores close to 1 (the paper drops both
ends, docs/curation.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..video.decoding import VideoDecodeError
from .clip_embeddings import ClipImageEmbedder
from .frames import read_clip_frames

FRAMES = 8


class TemporalConsistency:
    def __init__(self, model_id: str, device: str = "cpu"):
        self.embedder = ClipImageEmbedder(model_id, device)

    def __call__(self, paths: list[Path]) -> list[dict[str, Any]]:
        """One row per clip: `temporal_consistency_score`, or `error` for a clip that cannot be decoded."""
        import numpy as np

        frames, rows, readable = [], [], []
        for path in paths:
            try:
                frames.append(read_clip_frames(path, count=FRAMES))
                readable.append(path)
            except VideoDecodeError as error:
                rows.append({"clip": path.name, "error": str(error).splitlines()[0]})
        if not readable:
            return rows
        embeds = self.embedder.embed(np.concatenate(frames))
        start = 0
        for path, clip_frames in zip(readable, frames, strict=True):
            clip = embeds[start : start + len(clip_frames)]
            start += len(clip_frames)
            score = (clip[:-1] * clip[1:]).sum(-1).mean().item() if len(clip) > 1 else 1.0
            rows.append({"clip": path.name, "temporal_consistency_score": score})
        return rows
