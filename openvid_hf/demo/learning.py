"""The demo's learning measure: does the generated video look like the clips it was trained on? (docs/demo.md)

Two numbers a reader can check by eye in the generated contact sheet:

- **Nearest training frame.** For each generated frame, the RMS distance (in pixel levels of 255) to the closest frame
  of the training clips after the VAE round trip (encode, decode: the best the frozen VAE lets any model do), and
  whether that closest frame belongs to the clip whose caption was the prompt. The same is computed for the untrained
  pipeline and for frames of uniform random pixels.
- **Bar motion.** The sample's clips carry a bar that moves right one step a frame (`testing.sample_release`); the
  bar's column is found in each frame (away from the outermost columns, where the VAE leaves artefacts) and the steps
  between frames are counted as right or left, their median is the speed, for the generated video and for the prompt's
  training clip.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from diffusers import AutoencoderKL
    from transformers import PreTrainedTokenizerBase

#: Rows of a frame searched for the bar: below the frame-index cells, which take at most the top third.
BAR_TOP_FRACTION = 0.4
#: A column is the bar when its colour departs from the field's linear gradient by at least this (levels of 255).
BAR_MIN_CONTRAST = 20.0
#: Columns at each side where no bar is looked for: one latent cell of the factor-4 VAE, whose decoder leaves its
#: artefacts at the frame's edge.
EDGE_COLUMNS = 4
#: Columns a step needs to count as motion (a column's shift is rounding of the bar's middle, not motion).
MIN_STEP_COLUMNS = 2
#: Steps one way a motion needs before it counts (a single jump of a noisy column is not a moving bar).
MIN_BAR_STEPS = 2
NOISE_SEED = 0


@dataclass(frozen=True)
class NearestFrames:
    """Per generated frame: the distance to its nearest training frame and which clip that frame is from."""

    distances: list[float]
    frame_indices: list[int]
    own_clip: list[bool]

    @property
    def mean_distance(self) -> float:
        return float(np.mean(self.distances))

    def summary(self) -> dict[str, Any]:
        return {
            "mean_distance": round(self.mean_distance, 2),
            "distances": [round(distance, 2) for distance in self.distances],
            "frames_nearest_to_prompt_clip": int(sum(self.own_clip)),
        }


@dataclass(frozen=True)
class BarMotion:
    """The bar's column in each frame (None where no bar stands out), the steps right and left between frames, and
    their median in columns a frame (None without a step; the median, so a bar wrapping round is not a speed)."""

    positions: list[int | None]
    right: int
    left: int
    speed: float | None

    @property
    def direction(self) -> str:
        """ "right" or "left" when at least `MIN_BAR_STEPS` steps go that way and twice as many as the other way."""
        for direction, steps, other in (("right", self.right, self.left), ("left", self.left, self.right)):
            if steps >= MIN_BAR_STEPS and steps >= 2 * other:
                return direction
        return "none"

    def phrase(self) -> str:
        speed = "" if self.speed is None else f", {self.speed:+.1f} columns a frame"
        return f"{self.direction} ({self.right} steps right, {self.left} left{speed})"


def nearest_frames(generated: np.ndarray, references: np.ndarray, prompt_frames: np.ndarray) -> NearestFrames:
    """Nearest of `references` (`[N, H, W, 3]` uint8) to each of `generated` (`[T, H, W, 3]`) by RMS distance.

    `prompt_frames` (`[N]` bool) marks the reference frames of the prompt's own clip.
    """
    flat_references = references.reshape(len(references), -1).astype(np.float32)
    distances, indices = [], []
    for frame in generated.reshape(len(generated), -1).astype(np.float32):
        rms = np.sqrt(((flat_references - frame) ** 2).mean(axis=1))
        index = int(rms.argmin())
        distances.append(float(rms[index]))
        indices.append(index)
    return NearestFrames(distances, indices, [bool(prompt_frames[index]) for index in indices])


def noise_frames(like: np.ndarray, seed: int = NOISE_SEED) -> np.ndarray:
    """Frames of uniform random pixels, the shape of `like`: the measure's floor."""
    return np.random.default_rng(seed).integers(0, 256, size=like.shape, dtype=np.uint8)


def bar_column(frame: np.ndarray) -> int | None:
    """The bar's column in an `[H, W, 3]` uint8 frame: the middle of where the lower rows' colour departs most from a
    linear ramp, looked for `EDGE_COLUMNS` in from either side; None where nothing departs by `BAR_MIN_CONTRAST`."""
    height, width = frame.shape[:2]
    rows = frame[int(BAR_TOP_FRACTION * height) :, EDGE_COLUMNS : width - EDGE_COLUMNS]
    profile = rows.astype(np.float64).mean(axis=0)  # [W - 2 * EDGE_COLUMNS, 3]
    contrast = _ramp_residual(profile, np.ones(len(profile), dtype=bool))
    # A bar several columns wide pulls the ramp towards itself: fit it again without the bar's columns.
    contrast = _ramp_residual(profile, contrast <= contrast.max() / 2)
    if contrast.max() < BAR_MIN_CONTRAST:
        return None
    # The middle of the columns at half the peak or more: a bar several columns wide has no single argmax.
    return round(float(np.flatnonzero(contrast >= contrast.max() / 2).mean())) + EDGE_COLUMNS


def _ramp_residual(profile: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """How far each column's colour (`[W, 3]`) is from the linear ramp fitted to the `fitted` columns (`[W]` bool)."""
    columns = np.arange(len(profile), dtype=np.float64)
    design = np.stack([columns, np.ones(len(profile))], axis=1)
    fit, *_ = np.linalg.lstsq(design[fitted], profile[fitted], rcond=None)
    return np.linalg.norm(profile - design @ fit, axis=1)


def bar_motion(frames: np.ndarray) -> BarMotion:
    """The bar in each of `frames` (`[T, H, W, 3]` uint8) and how it moves between consecutive frames."""
    positions = [bar_column(frame) for frame in frames]
    steps = [
        after - before for before, after in itertools.pairwise(positions) if before is not None and after is not None
    ]
    speed = float(np.median(steps)) if steps else None
    right = sum(step >= MIN_STEP_COLUMNS for step in steps)
    left = sum(step <= -MIN_STEP_COLUMNS for step in steps)
    return BarMotion(positions, right, left, speed)


@dataclass(frozen=True)
class LearningMeasure:
    """The measure of one generated video against the untrained pipeline's and noise (see the module docstring)."""

    trained: NearestFrames
    untrained: NearestFrames
    noise: NearestFrames
    trained_bar: BarMotion
    untrained_bar: BarMotion
    clip_bar: BarMotion

    @property
    def margin(self) -> float:
        """How many times closer the trained model's frames are to the training frames than the untrained model's."""
        return self.untrained.mean_distance / max(self.trained.mean_distance, 1e-6)

    def line(self) -> str:
        return (
            f"nearest training frame {self.trained.mean_distance:.1f} levels away on average (untrained "
            f"{self.untrained.mean_distance:.1f}, noise {self.noise.mean_distance:.1f}: {self.margin:.1f}x closer); "
            f"{sum(self.trained.own_clip)} of {len(self.trained.own_clip)} nearest frames from the prompt's clip; bar "
            f"moves {self.trained_bar.phrase()} (training clip: {self.clip_bar.phrase()})"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "nearest_training_frame": {
                "trained": self.trained.summary(),
                "untrained": self.untrained.summary(),
                "noise": self.noise.summary(),
                "margin_vs_untrained": round(self.margin, 2),
            },
            "bar_motion": {
                "trained": asdict(self.trained_bar) | {"direction": self.trained_bar.direction},
                "untrained": asdict(self.untrained_bar) | {"direction": self.untrained_bar.direction},
                "training_clip": asdict(self.clip_bar) | {"direction": self.clip_bar.direction},
                "same_direction": self.trained_bar.direction == self.clip_bar.direction,
            },
        }


def round_trip(vae: AutoencoderKL, frames: torch.Tensor) -> np.ndarray:
    """`frames` (`[N, 3, H, W]` in [-1, 1]) encoded and decoded by `vae`, as `[N, H, W, 3]` uint8: the reference."""
    from ..training.vae_fit import vae_round_trip

    _, decoded = vae_round_trip(vae, frames)
    return ((decoded.permute(0, 2, 3, 1) + 1) * 127.5).round().byte().numpy()


def prompt_clip(
    tokenizer: PreTrainedTokenizerBase, captions: Sequence[str], references: np.ndarray, clip_of_frame: np.ndarray
) -> int:
    """The training clip whose caption the demo generates from: one the model can tell apart, with a visible bar.

    Its caption's tokens must be its own (no other clip's caption reads the same to the tokenizer); of those, the
    clip whose bar is found in the largest share of its frames (the square crop of a wide frame hides the bar part of
    the time), the first one on a tie. Falls back to the first clip.
    """
    tokens = [tuple(tokenizer(caption).input_ids) for caption in captions]
    distinct = [index for index, ids in enumerate(tokens) if tokens.count(ids) == 1] or [0]

    def bar_seen(index: int) -> float:
        frames = references[clip_of_frame == index]
        return sum(bar_column(frame) is not None for frame in frames) / max(1, len(frames))

    return max(distinct, key=lambda index: (bar_seen(index), -index))


def measure_learning(
    trained: np.ndarray,
    untrained: np.ndarray,
    references: np.ndarray,
    prompt_frames: np.ndarray,
    frame_interval: int = 1,
) -> LearningMeasure:
    """The measure of a trained pipeline's video against the untrained one's and noise (`[T, H, W, 3]` uint8 each).

    `references` are the training frames after the VAE round trip; `prompt_frames` marks those of the prompt's clip,
    whose bar, in every `frame_interval`-th frame as training samples them, gives the reference motion.
    """
    return LearningMeasure(
        trained=nearest_frames(trained, references, prompt_frames),
        untrained=nearest_frames(untrained, references, prompt_frames),
        noise=nearest_frames(noise_frames(trained), references, prompt_frames),
        trained_bar=bar_motion(trained),
        untrained_bar=bar_motion(untrained),
        clip_bar=bar_motion(references[prompt_frames][::frame_interval]),
    )
