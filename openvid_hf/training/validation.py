"""Validation videos: the prompts of `--validation_prompts` sampled with the weights being trained.

Videos are written with diffusers' `export_to_video` to `OUTPUT_DIR/validation/{tag}/{index:02d}.mp4` (`tag` is
`step-000500`, or `final` for the weights that are saved) and logged to the trackers: TensorBoard gets the frames as
an image series, Weights & Biases the mp4 itself. Sampling uses its own seeded generator, so validation never
changes the training's random draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..atomic import write_video

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..pipelines import MVDiTPipeline
    from .text_cache import TextEmbeddingCache

VALIDATION_DIR = "validation"


@dataclass
class ValidationSettings:
    prompts: list[str]
    height: int
    width: int
    num_frames: int
    num_inference_steps: int
    guidance_scale: float
    seed: int


def generate_validation_videos(
    pipeline: MVDiTPipeline,
    settings: ValidationSettings,
    output_dir: Path,
    tag: str,
    accelerator: Accelerator,
    step: int,
    text_cache: TextEmbeddingCache | None = None,
) -> list[tuple[str, str]]:
    """Sample every prompt, write and log the videos; returns `(prompt, path relative to output_dir)` pairs."""
    from ..pipelines import DEFAULT_FPS

    folder = output_dir / VALIDATION_DIR / tag
    folder.mkdir(parents=True, exist_ok=True)
    device = accelerator.device
    videos = []
    for index, prompt in enumerate(settings.prompts):
        if text_cache is None:
            text = {"prompt": prompt}
        else:
            hidden_states, mask = text_cache.read([prompt], device, pipeline.transformer.dtype)
            text = {"prompt_embeds": hidden_states, "prompt_attention_mask": mask}
        with torch.no_grad(), accelerator.autocast():
            frames = pipeline(
                **text,
                height=settings.height,
                width=settings.width,
                num_frames=settings.num_frames,
                num_inference_steps=settings.num_inference_steps,
                guidance_scale=settings.guidance_scale,
                generator=torch.Generator(device=device).manual_seed(settings.seed),
                output_type="np",
            ).frames[0]
        path = folder / f"{index:02d}.mp4"
        write_video(path, frames, DEFAULT_FPS)
        _log_video(accelerator, f"validation/{index:02d}", prompt, frames, path, step)
        videos.append((prompt, path.relative_to(output_dir).as_posix()))
    return videos


def _log_video(accelerator: Accelerator, name: str, prompt: str, frames: np.ndarray, path: Path, step: int) -> None:
    for tracker in accelerator.trackers:
        if tracker.name == "tensorboard":
            tracker.writer.add_images(name, frames, global_step=step, dataformats="NHWC")
            tracker.writer.add_text(f"{name}/prompt", prompt, global_step=step)
        elif tracker.name == "wandb":
            import wandb

            tracker.log({name: wandb.Video(str(path), caption=prompt)}, step=step)
