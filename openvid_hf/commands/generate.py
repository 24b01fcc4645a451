"""`openvid-hf generate`: one video from a prompt with an MVDiTPipeline folder or Hub repository."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

from ..errors import OpenVidError, UsageError, first_line
from . import DTYPES, add_command

#: Pipeline arguments -> the options that set them, so the pipeline's errors name what the user typed.
OPTIONS = {
    "prompt": "--prompt",
    "negative_prompt": "--negative-prompt",
    "height": "--height",
    "width": "--width",
    "num_frames": "--num-frames",
    "num_inference_steps": "--steps",
    "guidance_scale": "--guidance-scale",
}


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "generate",
        run,
        help="generate a video from a prompt with an MVDiTPipeline (a folder or a Hub repository)",
        description=(
            "Sample one video with MVDiTPipeline.from_pretrained(MODEL) and write it as an mp4. Size and frame count "
            "default to the transformer's (e.g. 16 frames of 512x512 for MVDiT-16x512x512)."
        ),
    )
    parser.add_argument("--model", required=True, metavar="DIR_OR_REPO", help="pipeline folder or Hub repo id")
    parser.add_argument("--prompt", required=True, help="the text to generate from")
    parser.add_argument("--negative-prompt", help="unconditional prompt instead of the learned null caption")
    parser.add_argument("--num-frames", type=positive_int, help="frames (the transformer's num_frames)")
    parser.add_argument("--height", type=positive_int, help="frame height in pixels, a multiple of 16")
    parser.add_argument("--width", type=positive_int, help="frame width in pixels, a multiple of 16")
    parser.add_argument("--steps", type=positive_int, default=100, help="denoising steps (100)")
    parser.add_argument("--guidance-scale", type=float, default=7.0, help="classifier-free guidance scale (7.0)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same video (42)")
    parser.add_argument("--fps", type=positive_int, help="frame rate of the mp4 (8, as the original)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the models (float32)")
    parser.add_argument("--device", help="torch device (cuda when available, else cpu)")
    parser.add_argument("--out", required=True, type=Path, metavar="VIDEO.mp4", help="mp4 file to write")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.out.suffix.lower() != ".mp4":
        raise UsageError(f"--out {args.out} must name an .mp4 file")
    import torch

    from ..atomic import write_video
    from ..pipelines import DEFAULT_FPS
    from ..video.decoding import probe_video

    pipe = _load_pipeline(args.model, getattr(torch, args.dtype))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipe.to(device)
    frames = _generate(pipe, args)
    write_video(args.out, frames, args.fps or DEFAULT_FPS)
    probe = probe_video(args.out)
    print(
        f"wrote {args.out} ({probe.num_frames} frames, {probe.width}x{probe.height}, {probe.fps:g} fps) "
        f"from {args.model}, seed {args.seed}, {args.steps} steps ({time.perf_counter() - started:.1f} s)"
    )
    return 0


def _load_pipeline(model: str, dtype: Any):
    from ..pipelines import MVDiTPipeline
    from ..training.sources import pipeline_problem

    problem = pipeline_problem(model, None)
    if problem is not None:
        raise OpenVidError(f"--model {model}: cannot load an MVDiTPipeline: {problem}")
    try:
        pipe = MVDiTPipeline.from_pretrained(model, dtype=dtype)
    except (OSError, ValueError) as error:
        raise OpenVidError(f"--model {model}: cannot load an MVDiTPipeline ({first_line(error)})") from error
    if pipe.tokenizer is None or pipe.text_encoder is None:
        raise OpenVidError(f"--model {model} has no tokenizer/text_encoder; it cannot encode --prompt")
    return pipe


def _generate(pipe, args: argparse.Namespace):
    """The frames `[T, H, W, 3]` in [0, 1]; the pipeline's argument errors become errors naming the options."""
    import torch

    from ..model.model_card import sampling_defaults

    native = sampling_defaults(pipe)
    try:
        return pipe(
            args.prompt,
            negative_prompt=args.negative_prompt,
            height=args.height or native["height"],
            width=args.width or native["width"],
            num_frames=args.num_frames or native["num_frames"],
            num_inference_steps=args.steps,
            guidance_scale=args.guidance_scale,
            generator=torch.Generator().manual_seed(args.seed),
            max_sequence_length=pipe.transformer.config.max_text_length,
        ).frames[0]
    except ValueError as error:
        raise UsageError(re.sub(r"`(\w+)`", lambda match: OPTIONS.get(match[1], match[0]), str(error))) from error
