"""`openvid-hf push`: upload a built folder to a Hub dataset repository, then verify it."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_command, report_published


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "push",
        run,
        help="upload a built folder to a Hub dataset repository (resumable), then verify it",
        description=(
            "Render the dataset card for ORG/NAME, create the dataset repository if needed and upload OUT_DIR "
            "with huggingface_hub's upload_folder: after a failure, the same command uploads only what is "
            "missing. Remote shards and tables that are not in OUT_DIR are removed. Then every file is checked "
            "against manifest.json, as `openvid-hf verify` does. Needs a token (`hf auth login` or HF_TOKEN)."
        ),
    )
    parser.add_argument(
        "out_dir", metavar="OUT_DIR", type=Path, help="folder written by `openvid-hf build` or `encode`"
    )
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the dataset repository")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default=None, help="branch to push to, created if needed (main)")
    parser.add_argument("--commit-message", default=None, help="message of the upload commit")


def run(args: argparse.Namespace) -> int:
    from ..latents.layout import is_latent_folder
    from ..latents.push import push_latents
    from ..publish.push import push_dataset

    push = push_latents if is_latent_folder(args.out_dir) else push_dataset
    summary = push(
        args.out_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
    )
    return report_published(summary)
