"""`openvid-hf convert`: an original MVDiT (or PixArt-α) checkpoint to a diffusers folder.

The output is laid out like a pipeline repository (`OUT_DIR/transformer/`). With `--vae` (and usually
`--text-encoder`) it is a complete `MVDiTPipeline` folder with its model card, optionally with the pipeline's code
(`--remote-code`) and uploaded to the Hub (`--push-to-hub`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..atomic import staged_folder
from ..errors import OpenVidError, UsageError, first_line
from . import DTYPES, add_command

VARIANTS = ("16x256x256", "16x512x512")
#: Files that show a folder holds the component (any one of them).
COMPONENT_FILES = {
    "tokenizer": ("tokenizer.json", "spiece.model"),
    "text_encoder": ("config.json",),
    "vae": ("config.json",),
}


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
    pipeline = parser.add_argument_group("pipeline", "assemble a full MVDiTPipeline folder around the transformer")
    pipeline.add_argument(
        "--vae",
        metavar="ID_OR_DIR",
        help="image VAE applied per frame, at the root or in vae/ of a Hub repo or folder (stabilityai/sd-vae-ft-ema)",
    )
    pipeline.add_argument(
        "--text-encoder",
        metavar="ID_OR_DIR",
        help="T5 tokenizer and encoder, at the root or in tokenizer/ and text_encoder/ (DeepFloyd/t5-v1_1-xxl); "
        "without it the pipeline takes precomputed prompt embeddings",
    )
    pipeline.add_argument(
        "--remote-code",
        action="store_true",
        help="also write the pipeline's code, so DiffusionPipeline.from_pretrained(..., trust_remote_code=True) "
        "loads it without openvid-hf",
    )
    pipeline.add_argument("--push-to-hub", metavar="ORG/NAME", help="upload OUT_DIR to this Hub model repository")


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    original_config = _original_config(args)
    _check_pipeline_options(args)
    if not args.checkpoint.is_file():
        raise UsageError(f"CHECKPOINT {args.checkpoint} is not a file")
    if args.out_dir.exists() and any(args.out_dir.iterdir()) and not args.overwrite:
        raise OpenVidError(f"{args.out_dir} is not empty; choose a new folder or pass --overwrite")

    transformer, report = _convert_transformer(args, original_config)
    if report:
        print(report)
    parameters = sum(parameter.numel() for parameter in transformer.parameters())
    converted = f"MVDiTTransformer3DModel ({parameters / 1e6:.1f}M parameters, {args.dtype}) from {args.checkpoint}"
    if args.vae is None:
        with staged_folder(args.out_dir) as staging:
            transformer.save_pretrained(staging / "transformer")
        print(f"wrote {converted} to {args.out_dir / 'transformer'} ({time.perf_counter() - started:.1f} s)")
        return 0

    pipeline = _assemble_pipeline(args, transformer)
    with staged_folder(args.out_dir) as staging:
        pipeline.save_pretrained(
            staging,
            remote_code=args.remote_code,
            model_card={"repo_id": args.push_to_hub or str(args.out_dir)},
        )
    parts = ", ".join(
        [converted, f"VAE from {args.vae}"]
        + ([f"T5 from {args.text_encoder}"] if args.text_encoder else [])
        + (["with remote code"] if args.remote_code else [])
    )
    print(f"wrote MVDiTPipeline ({parts}) to {args.out_dir} ({time.perf_counter() - started:.1f} s)")
    if args.push_to_hub:
        from ..hub import publish_folder

        commit = publish_folder(args.out_dir, args.push_to_hub, commit_message="Upload MVDiTPipeline")
        print(f"pushed {args.out_dir} to {commit.commit_url}")
    return 0


def _check_pipeline_options(args: argparse.Namespace) -> None:
    needs_vae = [
        option
        for option, given in (
            ("--text-encoder", args.text_encoder),
            ("--remote-code", args.remote_code),
            ("--push-to-hub", args.push_to_hub),
        )
        if given
    ]
    if needs_vae and args.vae is None:
        raise UsageError(
            f"{', '.join(needs_vae)} assemble a pipeline, which needs --vae (e.g. stabilityai/sd-vae-ft-ema)"
        )
    if args.push_to_hub:
        from ..hub import check_repo_id

        check_repo_id(args.push_to_hub, "--push-to-hub")


def _assemble_pipeline(args: argparse.Namespace, transformer: Any) -> Any:
    """MVDiTPipeline of the converted transformer, the given VAE and T5, and the original sampler's scheduler."""
    from diffusers import AutoencoderKL
    from transformers import T5EncoderModel, T5TokenizerFast

    from ..pipelines import MVDiTPipeline, default_scheduler

    vae = _load("--vae", args.vae, "vae", AutoencoderKL)
    if vae.config.latent_channels != transformer.config.in_channels:
        raise UsageError(
            f"--vae {args.vae} has {vae.config.latent_channels} latent channels; "
            f"the transformer takes {transformer.config.in_channels}"
        )
    tokenizer = text_encoder = None
    if args.text_encoder:
        tokenizer = _load("--text-encoder", args.text_encoder, "tokenizer", T5TokenizerFast)
        text_encoder = _load("--text-encoder", args.text_encoder, "text_encoder", T5EncoderModel)
        if text_encoder.config.d_model != transformer.config.caption_channels:
            raise UsageError(
                f"--text-encoder {args.text_encoder} gives {text_encoder.config.d_model} channels; "
                f"the transformer takes {transformer.config.caption_channels} (T5-XXL's 4096 for released MVDiT)"
            )
    return MVDiTPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=default_scheduler()
    )


def _load(option: str, source: str, component: str, component_class: type) -> Any:
    """`component_class.from_pretrained` from the `component` subfolder of `source` if it has one, else its root.

    The component's files must be there: a transformers tokenizer would otherwise load from nothing as a
    vocabulary of special tokens.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        if Path(source).is_dir():
            files = {path.relative_to(source).as_posix() for path in Path(source).rglob("*") if path.is_file()}
        else:
            files = set(HfApi().list_repo_files(source))
        prefix = f"{component}/" if any(name.startswith(f"{component}/") for name in files) else ""
        if not any(f"{prefix}{name}" in files for name in COMPONENT_FILES[component]):
            raise UsageError(
                f"{option} {source}: no {component} ({' or '.join(COMPONENT_FILES[component])}) at its root "
                f"or in {component}/"
            )
        return component_class.from_pretrained(source, **({"subfolder": component} if prefix else {}))
    except (OSError, ValueError, HfHubHTTPError) as error:
        raise UsageError(
            f"{option} {source}: cannot load a {component_class.__name__} ({first_line(error)})"
        ) from error


def _original_config(args: argparse.Namespace) -> str | dict[str, Any]:
    if args.variant:
        return args.variant
    from ..pipelines.convert_mvdit import read_original_config

    try:
        return read_original_config(args.original_config)
    except ValueError as error:
        raise UsageError(f"--original-config {error}") from error


def _convert_transformer(args: argparse.Namespace, original_config: str | dict[str, Any]) -> tuple[Any, str | None]:
    """The converted transformer and, for PixArt-α, the report of loaded and initialised tensors."""
    import torch

    from ..model.convert import convert_original_checkpoint, init_from_pixart_alpha
    from ..pipelines.original_checkpoint import CheckpointError

    dtype = getattr(torch, args.dtype)
    try:
        if args.pixart_alpha:
            torch.manual_seed(args.seed)
            initialisation = init_from_pixart_alpha(args.checkpoint, original_config)
            return initialisation.model.to(dtype), initialisation.summary()
        return convert_original_checkpoint(args.checkpoint, original_config, torch_dtype=dtype), None
    except CheckpointError as error:  # the checkpoint is bad (exit 1), not the arguments
        raise OpenVidError(str(error)) from error
    except ValueError as error:
        raise UsageError(str(error)) from error
