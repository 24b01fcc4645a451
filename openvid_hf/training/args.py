"""The arguments of `openvid-hf train` / `accelerate launch -m openvid_hf.train`, and their checks.

Names follow the diffusers training examples. `check_arguments` runs before anything heavy (no model is loaded, no
video decoded): values out of range, a resolution the VAE and patch cannot divide, a model or dataset that does not
exist, a checkpoint to resume that is not there, `--push_to_hub` without a token. A bad argument raises `UsageError`
(exit 2); a missing token raises `OpenVidError` (exit 1), as `openvid-hf push` does.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..publish.layout import CONFIG_SUBSETS, DEFAULT_CONFIG
from ..release.filters import ClipFilter, add_filter_arguments
from ..video.decoding import DEFAULT_BACKEND, VIDEO_BACKENDS
from .checkpoints import LATEST

if TYPE_CHECKING:
    from ..latents.layout import LatentSettings

#: Pixels per latent patch side: the SD VAE's 8x downsampling times MVDiT's 2x2 patch.
PIXELS_PER_PATCH = 16
REPORT_TO = ("tensorboard", "wandb", "all", "none")
MIXED_PRECISION = ("no", "fp16", "bf16")
#: The original's probability of mirroring a clip.
DEFAULT_FLIP_PROBABILITY = 0.5


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Register every training argument on `parser`."""
    model = parser.add_argument_group("model")
    model.add_argument(
        "--pretrained_model_name_or_path",
        required=True,
        metavar="REPO_OR_FOLDER",
        help="MVDiTPipeline to fine-tune: a Hub model repo id or a folder written by save_pretrained",
    )
    model.add_argument("--revision", default=None, help="branch, tag or commit of the model repository")

    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset_name",
        default=None,
        metavar="REPO_OR_FOLDER",
        help="published OpenVid-1M dataset: a Hub dataset repo id or a folder written by `openvid-hf build`",
    )
    data.add_argument(
        "--latents_dataset",
        default=None,
        metavar="REPO_OR_FOLDER",
        help="instead of --dataset_name: a latent dataset written by `openvid-hf encode`; no VAE encoder and no "
        "text encoder are loaded",
    )
    data.add_argument(
        "--dataset_config", default=DEFAULT_CONFIG, choices=tuple(CONFIG_SUBSETS), help="all clips or HD only"
    )
    data.add_argument("--dataset_revision", default=None, help="branch, tag or commit of the dataset repository")
    add_filter_arguments(data, option_name=lambda name: f"--{name}")
    data.add_argument(
        "--filter",
        default=None,
        metavar="EXPR",
        help='metadata filter expression, e.g. "aesthetic_score >= 6 and hd": only those clips are downloaded',
    )
    data.add_argument("--num_frames", type=int, default=16, help="frames of a training clip (16)")
    data.add_argument("--frame_interval", type=int, default=3, help="source frames between sampled frames (3)")
    data.add_argument(
        "--resolution", type=int, default=256, help=f"square clip size, a multiple of {PIXELS_PER_PATCH}"
    )
    data.add_argument(
        "--flip_probability",
        type=float,
        default=None,
        help="probability of mirroring a clip left-right (0.5, as the original; 0 keeps motion directions; "
        "latents are encoded unflipped: 0)",
    )
    data.add_argument("--video_backend", default=DEFAULT_BACKEND, choices=VIDEO_BACKENDS, help="decoder of the clips")
    data.add_argument("--dataloader_num_workers", type=int, default=0, help="DataLoader worker processes per rank")

    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--train_batch_size", type=int, default=4, help="clips per process and step")
    optimisation.add_argument("--gradient_accumulation_steps", type=int, default=1)
    optimisation.add_argument("--max_train_steps", type=int, required=True, help="optimizer steps to train for")
    optimisation.add_argument("--learning_rate", type=float, default=2e-5)
    optimisation.add_argument("--adam_beta1", type=float, default=0.9)
    optimisation.add_argument("--adam_beta2", type=float, default=0.999)
    optimisation.add_argument("--adam_weight_decay", type=float, default=0.0)
    optimisation.add_argument("--adam_epsilon", type=float, default=1e-8)
    optimisation.add_argument("--max_grad_norm", type=float, default=1.0, help="gradient clipping; 0 disables it")
    optimisation.add_argument(
        "--mixed_precision",
        default=None,
        choices=MIXED_PRECISION,
        help="compute dtype of the forward pass and of the frozen T5 and VAE (default: accelerate's config)",
    )
    optimisation.add_argument("--gradient_checkpointing", action="store_true", help="recompute blocks in backward")
    optimisation.add_argument("--allow_tf32", action="store_true", help="TF32 matmuls on Ampere and newer GPUs")
    optimisation.add_argument(
        "--caption_dropout",
        type=float,
        default=0.1,
        help="probability of replacing a caption by the learned null caption (0.1, as the original)",
    )
    optimisation.add_argument("--use_ema", action="store_true", help="keep an fp32 EMA of the trained weights")
    optimisation.add_argument("--ema_decay", type=float, default=0.9999)
    optimisation.add_argument("--use_lora", action="store_true", help="train LoRA adapters on the attentions only")
    optimisation.add_argument("--lora_rank", type=int, default=16)
    optimisation.add_argument("--seed", type=int, default=42, help="seeds clips, noise, timesteps and dropout")

    text = parser.add_argument_group("text embeddings")
    text.add_argument(
        "--precompute_text_embeddings",
        action="store_true",
        help="run T5 once over the dataset's captions before training, cache the results on disk, then free T5",
    )
    text.add_argument(
        "--text_embeddings_cache_dir",
        type=Path,
        default=None,
        help="cache of T5 embeddings, reused across runs (HF_HOME/openvid_hf/text_embeddings)",
    )
    text.add_argument("--text_encoder_batch_size", type=int, default=32, help="captions a T5 call when precomputing")

    checkpoints = parser.add_argument_group("checkpoints")
    checkpoints.add_argument("--checkpointing_steps", type=int, default=500, help="save the training state every N")
    checkpoints.add_argument("--checkpoints_total_limit", type=int, default=None, help="keep only the last N")
    checkpoints.add_argument(
        "--resume_from_checkpoint", default=None, metavar=f"{LATEST}|PATH", help="continue from a saved state"
    )

    validation = parser.add_argument_group("validation")
    validation.add_argument("--validation_prompts", nargs="+", default=None, metavar="PROMPT")
    validation.add_argument("--validation_steps", type=int, default=500, help="generate the prompts every N steps")
    validation.add_argument("--validation_num_inference_steps", type=int, default=100)
    validation.add_argument("--validation_guidance_scale", type=float, default=7.0)

    output = parser.add_argument_group("output")
    output.add_argument("--output_dir", type=Path, default=Path("mvdit-fine-tuned"))
    output.add_argument("--report_to", default="tensorboard", choices=REPORT_TO, help="experiment tracker")
    output.add_argument("--push_to_hub", action="store_true", help="upload the trained pipeline and its card")
    output.add_argument("--hub_model_id", default=None, metavar="ORG/NAME", help="(the output folder's name)")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


def check_values(args: argparse.Namespace) -> None:
    """Ranges and combinations; no file or network access. Sets the defaults that depend on the data source."""
    _require(
        (args.dataset_name is None) != (args.latents_dataset is None),
        "give one of --dataset_name (videos) and --latents_dataset (latents written by `openvid-hf encode`)",
    )
    if args.flip_probability is None:
        args.flip_probability = 0.0 if args.latents_dataset else DEFAULT_FLIP_PROBABILITY
    if args.latents_dataset is not None:
        for given, why in (
            (args.flip_probability, "--flip_probability: latents are encoded unflipped"),
            (args.precompute_text_embeddings, "--precompute_text_embeddings: latents hold their T5 embeddings"),
            (args.validation_prompts, "--validation_prompts: no text encoder or VAE decoder is loaded"),
            (args.filter, "--filter: a latent dataset has no metadata table; use the score filters"),
        ):
            _require(not given, f"{why} (with --latents_dataset)")
    _require(
        args.resolution > 0 and args.resolution % PIXELS_PER_PATCH == 0,
        f"--resolution {args.resolution} must be a positive multiple of {PIXELS_PER_PATCH} "
        "(the VAE's 8x downsampling times the 2x2 patch)",
    )
    for name in (
        "num_frames",
        "frame_interval",
        "train_batch_size",
        "gradient_accumulation_steps",
        "max_train_steps",
        "checkpointing_steps",
        "validation_steps",
        "validation_num_inference_steps",
        "lora_rank",
        "text_encoder_batch_size",
    ):
        value = getattr(args, name)
        _require(value >= 1, f"--{name} must be a positive integer (got {value})")
    _require(args.dataloader_num_workers >= 0, "--dataloader_num_workers must not be negative")
    _require(
        args.checkpoints_total_limit is None or args.checkpoints_total_limit >= 1,
        "--checkpoints_total_limit must be a positive integer",
    )
    _require(math.isfinite(args.learning_rate) and args.learning_rate > 0, "--learning_rate must be positive")
    _require(args.max_grad_norm >= 0, "--max_grad_norm must not be negative (0 disables clipping)")
    _require(args.adam_weight_decay >= 0 and args.adam_epsilon > 0, "--adam_weight_decay/--adam_epsilon out of range")
    for name in ("adam_beta1", "adam_beta2", "caption_dropout", "ema_decay", "flip_probability"):
        value = getattr(args, name)
        _require(0.0 <= value <= 1.0, f"--{name} must be within [0, 1] (got {value})")
    ClipFilter.from_object(args)  # raises UsageError naming a bad bound
    if args.filter is not None:
        from ..publish.selection import parse_expression
        from ..schema import metadata_table_features

        parse_expression(args.filter, list(metadata_table_features()))  # a UsageError naming what is wrong
    if args.output_dir.exists():
        _require(args.output_dir.is_dir(), f"--output_dir {args.output_dir} is a file")


def check_arguments(args: argparse.Namespace) -> LatentSettings | None:
    """Everything that can be checked before loading a model or reading a clip (see the module docstring).

    Returns the latent dataset's settings when training from one: read here once, for the checks and the trainer.
    """
    from ..hub import check_repo_id, require_token
    from .checkpoints import check_resumable, checkpoint_to_resume, find_checkpoints
    from .sources import check_dataset_exists, check_latents_fit, check_pipeline_exists

    check_values(args)
    if args.report_to in ("tensorboard", "all"):
        _require_module("tensorboard", "--report_to tensorboard")
    if args.report_to in ("wandb", "all"):
        _require_module("wandb", "--report_to wandb")
    if args.resume_from_checkpoint not in (None, LATEST):
        _require(
            Path(args.resume_from_checkpoint).is_dir(),
            f"--resume_from_checkpoint {args.resume_from_checkpoint}: no such checkpoint folder",
        )
    elif args.resume_from_checkpoint is None and find_checkpoints(args.output_dir):
        raise UsageError(
            f"--output_dir {args.output_dir} holds checkpoints of an earlier run: pass --resume_from_checkpoint "
            "latest to continue it, or choose another folder"
        )
    checkpoint = checkpoint_to_resume(args)
    if checkpoint is not None:
        check_resumable(checkpoint, args)
    if args.push_to_hub:
        require_token()
        if args.hub_model_id is not None:
            check_repo_id(args.hub_model_id, "--hub_model_id", namespaced=False)
    check_pipeline_exists(args.pretrained_model_name_or_path, args.revision)
    if args.latents_dataset is not None:
        return check_latents_fit(args)
    check_dataset_exists(args.dataset_name, args.dataset_revision)
    return None


def _require_module(module: str, argument: str) -> None:
    import importlib.util

    _require(
        importlib.util.find_spec(module) is not None,
        f"{argument} needs the {module} package (pip install {module}), or pass --report_to none",
    )


def parse_training_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The arguments as `openvid-hf train` parses them (for scripts that call `train` directly)."""
    parser = argparse.ArgumentParser(prog="openvid-hf train")
    add_training_arguments(parser)
    return parser.parse_args(argv)
