"""`openvid-hf demo`: the whole story end to end on an embedded sample, offline (`openvid_hf.demo.stages`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..demo.stages import DEFAULT_NUM_VIDEOS, DEFAULT_TRAIN_STEPS, DEFAULT_VAE_STEPS

    parser = add_command(
        subparsers,
        "demo",
        run,
        help="run the whole story end to end on an embedded sample, offline, on CPU (about a minute)",
        description=(
            "Write a sample release and report what the loading script skips; build, push and verify the published "
            "dataset on a local Hub started for the demo; stream it back with datasets into a contact sheet; fit a "
            "tiny VAE to the training frames and push an untrained tiny MVDiT pipeline, train it from the Hub with "
            "`openvid-hf train` and push it; generate a video with MVDiTPipeline.from_pretrained and measure how "
            "close it is to the training clips; print the same steps for the real release, "
            "Hub and weights. Everything, summary.json included, goes into WORKDIR."
        ),
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path("demo-output"), help="folder of every output (demo-output)"
    )
    parser.add_argument(
        "--num-videos",
        type=int,
        default=DEFAULT_NUM_VIDEOS,
        help=f"videos of the sample release, defects included ({DEFAULT_NUM_VIDEOS})",
    )
    parser.add_argument(
        "--train-steps", type=int, default=DEFAULT_TRAIN_STEPS, help=f"fine-tuning steps ({DEFAULT_TRAIN_STEPS})"
    )
    parser.add_argument(
        "--vae-steps", type=int, default=DEFAULT_VAE_STEPS, help=f"steps fitting the VAE ({DEFAULT_VAE_STEPS})"
    )
    reuse = parser.add_mutually_exclusive_group()
    reuse.add_argument(
        "--reuse",
        dest="clean",
        action="store_false",
        help="keep the sample release, the build and the local Hub of an earlier run with the same settings "
        "(default); the other stages run again",
    )
    reuse.add_argument("--clean", dest="clean", action="store_true", help="delete WORKDIR's earlier demo first")
    parser.set_defaults(clean=False)


def run(args: argparse.Namespace) -> int:
    from ..demo.stages import DemoSettings, run_demo

    run_demo(args.workdir, DemoSettings(args.num_videos, args.train_steps, args.vae_steps), clean=args.clean)
    return 0
