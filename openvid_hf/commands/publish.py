"""`openvid-hf publish`: an original release built straight into a Hub dataset repository (build + push at once)."""

from __future__ import annotations

import argparse

from . import add_command, report_published
from .build import add_build_arguments, build_options


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "publish",
        run,
        help="build an original release straight into a Hub dataset repository (resumable), then verify it",
        description=(
            "What `build` then `push` do, in one pass and without a local copy: the driver plans, each worker "
            "(local processes, or Ray tasks on every node of a cluster with --executor ray) writes its shard to "
            "scratch, uploads it to ORG/NAME and deletes it, and the driver commits the uploaded shards in batches, "
            "then the metadata tables, manifest.json and the card, and verifies the result. The repository's files "
            "equal those `build` writes for the same arguments. Re-running the same command after a failure, on "
            "any machine, uploads only what the repository lacks. Needs a token on the driver and on every worker "
            "(`hf auth login` or HF_TOKEN)."
        ),
    )
    parser.add_argument(
        "source", metavar="SOURCE", help="release folder (every worker must see it) or hf://datasets/..."
    )
    parser.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the dataset repository")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default=None, help="branch to publish to, created if needed (main)")
    add_build_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..publish.direct import publish_release

    summary = publish_release(
        args.source, args.repo_id, build_options(args), private=args.private, revision=args.revision
    )
    return report_published(summary)
