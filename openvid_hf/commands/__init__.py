"""Subcommands of the `openvid-hf` CLI, one module each (see `openvid_hf.cli`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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
