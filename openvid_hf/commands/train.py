"""`openvid-hf train`: fine-tune an MVDiTPipeline on a published OpenVid-1M dataset (also `-m openvid_hf.train`)."""

from __future__ import annotations

import argparse

from . import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..training.args import add_training_arguments

    parser = add_command(
        subparsers,
        "train",
        run,
        help="fine-tune MVDiT on a published OpenVid-1M dataset with accelerate",
        description=(
            "Fine-tune the transformer of an MVDiTPipeline (Hub repo or folder) on a published OpenVid-1M dataset "
            "with the original hybrid IDDPM loss, then save the whole pipeline with a model card into OUTPUT_DIR "
            "(and push it with --push_to_hub). Run it in several processes with `accelerate launch -m "
            "openvid_hf.train ARGS` (configs/accelerate/*.yaml); checkpoints resume exactly."
        ),
    )
    add_training_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..training.trainer import configure_logging, train

    configure_logging()
    result = train(args)
    if result.summary:
        print(result.line())
    return 0
