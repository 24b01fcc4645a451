"""Training clips as the original OpenVid-1M loader made them, decoding only the frames it keeps.

The original (`openvid/datasets`: `TemporalRandomCrop`, `np.linspace`, `UCFCenterCropVideo`) decoded a
whole clip, drew a random window of `num_frames * frame_interval` frames, kept `num_frames` evenly spaced
frames of it, scaled the short side to the target size (bilinear, no antialias), center-cropped, flipped
at random and mapped pixels to [-1, 1]. `ClipLoader` draws from the same distribution, but decodes only
the kept frames and resizes them as uint8 before converting to float. Every random draw comes from one
`random.Random` per sample (`sample_rng`), so a run is reproducible and resumable. Decisions and their
reasons: `docs/video.md`.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import OpenVidError, UsageError
from .decoding import DEFAULT_BACKEND, VideoSource, check_backend, open_video


class ClipTooShortError(OpenVidError):
    """A video with fewer frames than a training clip needs."""


def sample_rng(seed: int, epoch: int, key: str) -> random.Random:
    """The random stream of one sample: the same for the same (seed, epoch, key) in any process."""
    digest = hashlib.sha256(f"{seed}:{epoch}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


@dataclass(frozen=True)
class FrameSampler:
    """The original temporal sampling: a random window, `num_frames` indices evenly spaced in it.

    The window is `num_frames * frame_interval` frames long and starts uniformly in
    `[0, total_frames - window - 1]` (the original's bound: the last frame is never in a window of a
    longer clip); a clip no longer than the window is used whole. Indices are `np.linspace` over the
    window, truncated to integers as the original did.
    """

    num_frames: int = 16
    frame_interval: int = 1

    def __post_init__(self) -> None:
        for argument in ("num_frames", "frame_interval"):
            value = getattr(self, argument)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"{argument} must be a positive integer (got {value!r})")

    @property
    def window_size(self) -> int:
        return self.num_frames * self.frame_interval

    def __call__(self, total_frames: int, rng: random.Random, name: str = "video") -> list[int]:
        """Indices of the frames to keep from a clip of `total_frames`; raises `ClipTooShortError`."""
        if total_frames < self.num_frames:
            raise ClipTooShortError(f"{name}: {total_frames} frames, fewer than the {self.num_frames} a clip needs")
        start = rng.randint(0, max(0, total_frames - self.window_size - 1))
        stop = min(start + self.window_size, total_frames)
        return np.linspace(start, stop - 1, self.num_frames, dtype=int).tolist()


@dataclass(frozen=True)
class ClipTransform:
    """The original spatial transform, on uint8 frames: cover-resize, center crop, flip, scale to [-1, 1].

    `size` is the output `(height, width)` (an int means square). Frames are scaled so that they cover
    the output (for a square output: the short side to `size`, exactly the original's scale factor),
    with `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`, antialias off like the
    original unless `antialias`. The crop is centred with the original's rounding. Output:
    float32 `[C, T, H, W]` in [-1, 1].
    """

    size: int | tuple[int, int] = 256
    flip_probability: float = 0.5
    antialias: bool = False

    def __post_init__(self) -> None:
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        if len(size) != 2 or not all(isinstance(side, int) and side > 0 for side in size):
            raise UsageError(f"size must be a positive integer or a (height, width) pair (got {self.size!r})")
        object.__setattr__(self, "size", size)
        if not 0.0 <= self.flip_probability <= 1.0:
            raise UsageError(f"flip_probability must be within [0, 1] (got {self.flip_probability!r})")

    def __call__(self, frames: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """uint8 RGB `[T, C, H, W]` frames to the float32 `[C, T, height, width]` training tensor."""
        if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"expected uint8 RGB frames [T, 3, H, W], got {frames.dtype} {tuple(frames.shape)}")
        target_height, target_width = self.size
        scale = cover_scale(frames.shape[-2:], self.size)
        resized = F.interpolate(
            frames, scale_factor=scale, mode="bilinear", align_corners=False, antialias=self.antialias
        )
        top = round((resized.shape[-2] - target_height) / 2)
        left = round((resized.shape[-1] - target_width) / 2)
        clip = resized[..., top : top + target_height, left : left + target_width]
        if rng.random() < self.flip_probability:
            clip = clip.flip(-1)
        clip = clip.permute(1, 0, 2, 3).to(torch.float32, memory_format=torch.contiguous_format)
        return clip.div_(127.5).sub_(1.0)


def cover_scale(frame_size: tuple[int, int], target_size: tuple[int, int]) -> float:
    """The smallest scale at which `interpolate(scale_factor=...)` output covers `target_size`.

    It is the original's `target / short side` for a square target. Where floating point would make the
    output one pixel short (short sides such as 322 or 347 for 256: `floor(322 * (256 / 322)) == 255`,
    which made the original squash the whole frame), the scale is raised by the smallest float step.
    """
    scale = max(target / side for target, side in zip(target_size, frame_size, strict=True))
    while any(math.floor(side * scale) < target for target, side in zip(target_size, frame_size, strict=True)):
        scale = math.nextafter(scale, math.inf)
    return scale


@dataclass(frozen=True)
class ClipLoader:
    """One training clip from one mp4: sample the indices, decode only those frames, transform.

    Draws from `rng` in the original's order (window start, then flip). Raises `VideoDecodeError` for
    an undecodable video and `ClipTooShortError` for one shorter than `sampler.num_frames`.
    """

    sampler: FrameSampler = field(default_factory=FrameSampler)
    transform: ClipTransform = field(default_factory=ClipTransform)
    backend: str = DEFAULT_BACKEND

    def __post_init__(self) -> None:
        check_backend(self.backend)

    def __call__(self, source: VideoSource, rng: random.Random, name: str | None = None) -> torch.Tensor:
        with open_video(source, self.backend, name) as video:
            indices = self.sampler(video.num_frames, rng, name=video.name)
            frames = video.read(indices)
        return self.transform(frames, rng)
