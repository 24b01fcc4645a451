"""`openvid-hf verify`: check a published copy (Hub repository or local folder) against its manifest.json."""

from __future__ import annotations

import argparse

from . import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "verify",
        run,
        help="compare a Hub dataset repository or a built folder with its manifest.json",
        description=(
            "Check every file listed in manifest.json (path, size, SHA-256; for LFS files on the Hub, the SHA-256 "
            "of the LFS pointer), that README.md is present and that no other file sits under data/ or "
            "metadata/. Prints each mismatch and exits 1 when there is any."
        ),
    )
    parser.add_argument("target", metavar="ORG/NAME|DIR", help="Hub dataset id, or a folder written by build")
    parser.add_argument("--revision", default=None, help="branch, tag or commit of the repository (main)")


def run(args: argparse.Namespace) -> int:
    from ..publish.verify import verify_dataset

    report = verify_dataset(args.target, revision=args.revision)
    for problem in report.problems:
        print(f"  {problem}")
    print(report.line())
    return 0 if report.ok else 1
