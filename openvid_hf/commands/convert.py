"""`openvid-hf convert`: an original MVDiT (or PixArt-α) checkpoint to a diffusers folder.

The output is laid out like a pipeline repository (`OUT_DIR/transformer/`), so components can be added next to
the transformer without changing where it lives.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import OpenVidError, UsageError
from . import add_command

VARIANTS = ("16x256x256", "16x512x512")
DTYPES = ("float32", "bfloat16", "float16")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "convert",
        run,
        help="convert an original MVDiT checkpoint (.pt/.pth/.safetensors) to a diffusers transformer folder",
        description=(
            "Convert a checkpoint of the original OpenVid-1M code to MVDiTTransformer3DModel and write it with "
            "save_pretrained to OUT_DIR/transformer. Conversion is strict: every problem of the checkpoint is listed."
        ),
    )
    parser.add_argument("checkpoint", metavar="CHECKPOINT", type=Path, help="original checkpoint file")
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to create (must be empty or absent)")
    config = parser.add_mutually_exclusive_group(required=True)
    config.add_argument("--variant", choices=VARIANTS, help="released MVDiT-XL/2 variant the checkpoint belongs to")
    config.add_argument(
        "--original-config",
        type=Path,
        metavar="JSON",
        help="JSON object of the original MVDiT constructor's arguments (input_size, hidden_size, space_scale, ...)",
    )
    parser.add_argument("--dtype", choices=DTYPES, default="float32", help="dtype of the written weights (float32)")
    parser.add_argument(
        "--pixart-alpha",
        action="store_true",
        help="CHECKPOINT is PixArt-α: load the shared modules, initialise the text branch and temporal modules",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh initialisation with --pixart-alpha (0)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    original_config = _original_config(args)
    if not args.checkpoint.is_file():
        raise UsageError(f"CHECKPOINT {args.checkpoint} is not a file")
    if args.out_dir.exists() and any(args.out_dir.iterdir()) and not args.overwrite:
        raise OpenVidError(f"{args.out_dir} is not empty; choose a new folder or pass --overwrite")

    transformer, report = _convert_transformer(args, original_config)
    write_components(args.out_dir, {"transformer": transformer})
    if report:
        print(report)
    parameters = sum(parameter.numel() for parameter in transformer.parameters())
    print(
        f"wrote MVDiTTransformer3DModel ({parameters / 1e6:.1f}M parameters, {args.dtype}) from {args.checkpoint} "
        f"to {args.out_dir / 'transformer'} ({time.perf_counter() - started:.1f} s)"
    )
    return 0


def _original_config(args: argparse.Namespace) -> str | dict[str, Any]:
    if args.variant:
        return args.variant
    try:
        original_config = json.loads(args.original_config.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise UsageError(f"--original-config {args.original_config}: {error}") from error
    if not isinstance(original_config, dict):
        raise UsageError(f"--original-config {args.original_config} must hold a JSON object")
    return original_config


def _convert_transformer(args: argparse.Namespace, original_config: str | dict[str, Any]) -> tuple[Any, str | None]:
    """The converted transformer and, for PixArt-α, the report of loaded and initialised tensors."""
    import torch

    from ..convert import convert_original_checkpoint, init_from_pixart_alpha

    dtype = getattr(torch, args.dtype)
    try:
        if args.pixart_alpha:
            torch.manual_seed(args.seed)
            initialisation = init_from_pixart_alpha(args.checkpoint, original_config)
            return initialisation.model.to(dtype), initialisation.summary()
        return convert_original_checkpoint(args.checkpoint, original_config, torch_dtype=dtype), None
    except ValueError as error:
        if isinstance(error, OpenVidError):
            raise
        raise UsageError(str(error)) from error


def write_components(out_dir: Path, components: dict[str, Any]) -> None:
    """`save_pretrained` every component into `out_dir/<name>`, atomically: a staging folder renamed at the end."""
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for name, component in components.items():
            component.save_pretrained(staging / name)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)
