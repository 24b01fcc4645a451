"""`openvid-hf index`: add per-member byte ranges to the metadata of a published WebDataset repository or folder."""

from __future__ import annotations

import argparse

from . import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "index",
        run,
        help="add each member's byte offset and size to metadata/{split}.parquet (for load_subset)",
        description=(
            "Read the tar headers of every shard (range reads of 512 bytes; member bodies are skipped) and write "
            "metadata/{split}.parquet with each sample's members' byte offsets and sizes: a repository built by "
            "openvid-hf keeps its table and gains the columns, any other WebDataset repository (one sample per "
            "key) gets a table of key, shard and ranges. A Hub repository gets one commit; a folder is updated "
            "in place."
        ),
    )
    parser.add_argument("target", metavar="ORG/NAME|DIR", help="Hub dataset id, or a local WebDataset folder")
    parser.add_argument("--revision", default=None, help="branch of the repository to read and commit to (main)")


def run(args: argparse.Namespace) -> int:
    from ..publish.index import index_dataset

    print(index_dataset(args.target, revision=args.revision).line())
    return 0
