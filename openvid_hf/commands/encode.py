"""`openvid-hf encode`: a published dataset's clips encoded once (VAE posteriors, T5 embeddings) as latents."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from . import add_command, add_executor_arguments, report_published

if TYPE_CHECKING:
    from ..latents.encode import EncodeOptions

ACCELERATE_HELP = "one process per GPU, run under `accelerate launch -m openvid_hf encode ...`"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..latents.encode import DEFAULT_MAX_TEXT_LENGTH, DEFAULT_SAMPLES_PER_SHARD
    from ..latents.layout import STORAGE_DTYPES
    from ..publish.layout import CONFIG_SUBSETS, DEFAULT_CONFIG
    from ..video.decoding import DEFAULT_BACKEND, VIDEO_BACKENDS

    parser = add_command(
        subparsers,
        "encode",
        run,
        help="encode a published dataset's clips once into a latent dataset that `train --latents_dataset` reads",
        description=(
            "Sample each selected clip's window as training does, run the frozen VAE and T5 on it, and write a "
            "latent dataset to OUT_DIR in the published layout: WebDataset shards (the VAE posterior per frame, "
            "the caption's T5 embeddings and the clip's record), manifest.json and a card recording the encoders, "
            "the sampling settings and the source's revision. `openvid-hf push` publishes it, `verify` checks "
            "it. With --repo-id instead of OUT_DIR, encode straight into that dataset repository, as `publish` "
            "does for a release: each worker uploads its shards, the driver commits them in batches, then the "
            "manifest and the card, and verifies the result. Re-running the same command skips the shards already "
            "written (or committed)."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="published dataset: Hub dataset repo id or built folder")
    parser.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, nargs="?", help="output folder, new or an earlier encode"
    )
    parser.add_argument(
        "--repo-id", default=None, metavar="ORG/NAME", help="encode straight into this dataset repository, not OUT_DIR"
    )
    parser.add_argument("--private", action="store_true", help="with --repo-id: create the repository private")
    parser.add_argument(
        "--repo-revision", default=None, metavar="BRANCH", help="with --repo-id: branch to publish to (main)"
    )
    parser.add_argument(
        "--vae", required=True, metavar="REPO_OR_FOLDER", help="AutoencoderKL: a pipeline (its vae/) or a VAE repo"
    )
    parser.add_argument(
        "--text-encoder",
        required=True,
        metavar="REPO_OR_FOLDER",
        help="T5 encoder and tokenizer: a pipeline (its text_encoder/, tokenizer/) or a T5 repo",
    )
    parser.add_argument("--num-frames", type=int, default=16, help="frames of a clip (16)")
    parser.add_argument("--frame-interval", type=int, default=3, help="source frames between sampled frames (3)")
    parser.add_argument("--resolution", default="256", help="square size, 256 or 256x256 (256)")
    parser.add_argument("--seed", type=int, default=42, help="seed of each clip's window, as training's --seed (42)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, choices=tuple(CONFIG_SUBSETS), help="all clips or HD")
    parser.add_argument("--split", default="train", help="split of the source (train)")
    parser.add_argument("--revision", default=None, help="branch, tag or commit of the source repository")
    parser.add_argument("--where", default=None, metavar="EXPR", help='metadata filter, e.g. "aesthetic_score >= 6"')
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=STORAGE_DTYPES,
        help="storage dtype of latents and embeddings (float32: the posterior bit for bit; float16: half the size)",
    )
    parser.add_argument(
        "--max-text-length", type=int, default=DEFAULT_MAX_TEXT_LENGTH, help="T5 tokens a caption (120, MVDiT's)"
    )
    parser.add_argument("--samples-per-shard", type=int, default=DEFAULT_SAMPLES_PER_SHARD, help="clips a shard (256)")
    parser.add_argument("--batch-size", type=int, default=8, help="clips an encoder call (8)")
    parser.add_argument("--device", default="cpu", help="device of the encoders: cpu, cuda, cuda:1 (cpu)")
    parser.add_argument("--video-backend", default=DEFAULT_BACKEND, choices=VIDEO_BACKENDS, help="decoder")
    add_executor_arguments(parser, {"accelerate": ACCELERATE_HELP})


def run(args: argparse.Namespace) -> int:
    check_destination(args)
    options = encode_options(args)
    if args.repo_id is None:
        from ..latents.encode import encode_dataset

        print(encode_dataset(args.source, args.out_dir, options).line())
        return 0
    from ..latents.direct import encode_to_hub

    summary = encode_to_hub(args.source, args.repo_id, options, private=args.private, revision=args.repo_revision)
    return report_published(summary)


def check_destination(args: argparse.Namespace) -> None:
    """One destination: the folder OUT_DIR, or the repository of --repo-id with its own options."""
    from ..errors import UsageError

    if (args.out_dir is None) == (args.repo_id is None):
        raise UsageError("give OUT_DIR (a folder) or --repo-id ORG/NAME (a dataset repository), one of the two")
    if args.out_dir is not None and (args.private or args.repo_revision):
        raise UsageError("--private and --repo-revision apply to --repo-id")


def parse_resolution(text: str) -> int:
    """`256` or `256x256`: training's clips are square."""
    from ..errors import UsageError

    height, _, width = text.lower().partition("x")
    try:
        sides = {int(height), int(width or height)}
    except ValueError:
        raise UsageError(f"--resolution {text}: expected a size such as 256 or 256x256") from None
    if len(sides) != 1:
        raise UsageError(f"--resolution {text}: training clips are square; give one size such as 256x256")
    return sides.pop()


def encode_options(args: argparse.Namespace) -> EncodeOptions:
    from ..latents.encode import EncodeOptions

    return EncodeOptions(
        vae=args.vae,
        text_encoder=args.text_encoder,
        num_frames=args.num_frames,
        frame_interval=args.frame_interval,
        resolution=parse_resolution(args.resolution),
        seed=args.seed,
        config=args.config,
        split=args.split,
        revision=args.revision,
        where=args.where,
        dtype=args.dtype,
        max_text_length=args.max_text_length,
        samples_per_shard=args.samples_per_shard,
        batch_size=args.batch_size,
        device=args.device,
        video_backend=args.video_backend,
        executor=args.executor,
        num_proc=args.num_proc,
        ray_address=args.ray_address,
    )
