"""The `openvid-hf` CLI (`cli`) and its subcommands, one module each: parse, call the library, print."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..executors import EXECUTORS

if TYPE_CHECKING:
    from ..publish.direct import PublishSummary
    from ..publish.push import PushSummary

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


def add_executor_arguments(parser: argparse.ArgumentParser, extra: dict[str, str] | None = None) -> None:
    """Where the bulk work runs: local processes (`--num-proc`) or a Ray cluster (the optional extra).

    `extra` adds executors of one command, by name with their help.
    """
    extra = extra or {}
    parser.add_argument("--num-proc", type=int, default=1, help="processes of the local executor; same output (1)")
    parser.add_argument(
        "--executor",
        choices=(*EXECUTORS, *extra),
        default="local",
        help="local: --num-proc processes on this machine; ray: a Ray cluster's workers, pip install "
        "'openvid-hf[ray]'" + "".join(f"; {name}: {text}" for name, text in extra.items()) + " (local)",
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        metavar="HOST:PORT",
        help="the Ray cluster's head node, as `ray start --head` prints it (RAY_ADDRESS, else a local Ray)",
    )


def report_published(summary: PushSummary | PublishSummary) -> int:
    """Print what `verify` found wrong on the Hub, then the summary line; the exit status: 0 when verified."""
    for problem in summary.verify.problems:
        print(f"  {problem}")
    print(summary.line())
    return 0 if summary.verify.ok else 1
