"""The `openvid-hf` console script: one parser, one module per subcommand.

Each module in `COMMANDS` defines `add_parser(subparsers)`, which registers its subparser and sets
`func` to a callable taking the parsed namespace. Modules import heavy libraries inside `func` only,
so `openvid-hf --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import OpenVidError, UsageError

COMMANDS = (
    "sample",
    "inspect",
    "curate",
    "convert",
    "build",
    "push",
    "publish",
    "verify",
    "index",
    "encode",
    "generate",
    "train",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openvid-hf",
        description="OpenVid-1M and MVDiT on the Hugging Face Hub: data tooling, conversion, training.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"openvid_hf.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except UsageError as error:
        args.subparser.error(str(error))
    except OpenVidError as error:
        print(f"openvid-hf {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"openvid-hf {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
