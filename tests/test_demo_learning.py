"""The demo's learning measure on frames whose answer is known: the sample release's own clips."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from openvid_hf.demo.learning import (
    EDGE_COLUMNS,
    bar_column,
    bar_motion,
    measure_learning,
    nearest_frames,
    noise_frames,
)
from openvid_hf.demo.model_world import RESOLUTION
from openvid_hf.testing.sample_release import SampleClip, bar_left, bar_width, clip_frames
from openvid_hf.video.clips import ClipTransform


def sample_clip(width: int, height: int, num_frames: int = 12) -> SampleClip:
    return SampleClip(
        video=f"clip_{width}x{height}.mp4",
        caption="a test clip",
        width=width,
        height=height,
        fps=24,
        num_frames=num_frames,
        aesthetic_score=5.0,
        motion_score=1.0,
        temporal_consistency_score=1.0,
        camera_motion="static",
        hd=False,
    )


def training_view(clip: SampleClip, flip: bool = False) -> np.ndarray:
    """The clip's frames as the demo trains on them (`[T, H, W, 3]` uint8 at `RESOLUTION`), mirrored if `flip`."""
    frames = torch.from_numpy(np.stack(list(clip_frames(clip)))).permute(0, 3, 1, 2)
    tensor = ClipTransform(RESOLUTION, flip_probability=float(flip))(frames, random.Random(0))
    return ((tensor.permute(1, 2, 3, 0) + 1) * 127.5).round().byte().numpy()


@pytest.mark.parametrize(("width", "height"), [(512, 512), (360, 640)])
def test_the_bar_is_found_where_the_sample_draws_it_and_moves_right(width, height):
    clip = sample_clip(width, height)
    frames = training_view(clip)
    scale = RESOLUTION / width
    inside = []  # frames whose whole bar lies in the searched columns
    for index, frame in enumerate(frames):
        left, right = bar_left(index, width) * scale, (bar_left(index, width) + bar_width(width)) * scale
        if left >= EDGE_COLUMNS and right <= RESOLUTION - EDGE_COLUMNS:
            assert left - 1 <= bar_column(frame) <= right, index
            inside.append(index)
    assert len(inside) >= 6
    motion = bar_motion(frames[inside])
    assert (motion.direction, motion.left) == ("right", 0)
    assert motion.speed == pytest.approx(width // 24 * scale, abs=1)
    assert bar_motion(training_view(clip, flip=True)).direction == "left"


def test_a_flat_frame_has_no_bar():
    frame = np.full((RESOLUTION, RESOLUTION, 3), 120, dtype=np.uint8)
    assert bar_column(frame) is None
    assert bar_motion(np.stack([frame, frame])).direction == "none"


def test_nearest_frames_finds_copies_and_their_clip():
    references = np.concatenate([training_view(sample_clip(512, 512)), training_view(sample_clip(360, 640))])
    prompt_frames = np.arange(len(references)) < 12
    found = nearest_frames(references[[3, 15]], references, prompt_frames)
    assert (found.distances, found.frame_indices, found.own_clip) == ([0.0, 0.0], [3, 15], [True, False])


def test_the_measure_ranks_a_copy_above_noise():
    references = training_view(sample_clip(512, 512))
    copy, noise = references[:4], noise_frames(references[:4])
    measure = measure_learning(copy, noise, references, np.ones(len(references), dtype=bool))
    assert measure.trained.mean_distance == 0.0
    assert measure.untrained.mean_distance > 60 and measure.noise.mean_distance > 60
    assert measure.summary()["bar_motion"]["same_direction"] is True
