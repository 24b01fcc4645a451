"""Subcommands of the `openvid-hf` CLI, one module each (see `openvid_hf.cli`)."""

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


def kebab_case(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_filter_arguments(group: argparse._ActionsContainer, option_name: Callable[[str], str] = kebab_case) -> None:
    """The clip filters of `openvid_hf.release.ClipFilter` as options (bounds inclusive).

    `option_name` spells each option: kebab-case for our commands, snake_case for the training script, whose
    arguments follow the diffusers examples. Either way the parsed attribute is the filter's own name.
    """
    from ..filters import ClipFilter

    for name in ClipFilter.names():
        option = option_name(name)
        if name == "camera_motion":
            group.add_argument(option, dest=name, nargs="+", default=None, metavar="CLASS", help="keep these classes")
        elif name == "min_height":
            help_text = "keep videos at least this tall (probed from the header)"
            group.add_argument(option, dest=name, type=int, default=None, metavar="PIXELS", help=help_text)
        else:
            bound = "lowest" if name.startswith("min_") else "highest"
            help_text = f"{bound} {name[4:].replace('_', ' ')} kept"
            group.add_argument(option, dest=name, type=float, default=None, metavar="X", help=help_text)


def add_index_cache_argument(parser: argparse.ArgumentParser) -> None:
    """Where the zip listings of a release are cached (shared by the loading script, inspect and build)."""
    parser.add_argument(
        "--index-cache",
        type=Path,
        default=None,
        help="folder caching the zip listings (default: the datasets cache, shared with the loading script)",
    )
