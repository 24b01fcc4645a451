"""The `openvid-hf` CLI (`cli`) and its subcommands, one module each: parse, call the library, print."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

#: Weight dtypes the commands that load or write models accept.
DTYPES = ("float32", "bfloat16", "float16")


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int | None],
    help: str,
    description: str | None = None,
) -> argparse.ArgumentParser:
    """Register a subcommand whose errors the CLI reports through this subparser."""
    parser = subparsers.add_parser(name, help=help, description=description or help)
    parser.set_defaults(func=func, subparser=parser)
    return parser


def add_index_cache_argument(parser: argparse.ArgumentParser) -> None:
    """Where the zip listings of a release are cached (shared by the loading script, inspect and build)."""
    parser.add_argument(
        "--index-cache",
        type=Path,
        default=None,
        help="folder caching the zip listings (default: the datasets cache, shared with the loading script)",
    )
