"""The end of a run: the whole pipeline with the trained transformer, its model card, and the upload.

The saved pipeline is the base pipeline as published (tokenizer, T5, VAE and scheduler untouched, in their stored
dtypes: training cast its copies to the compute dtype) with the trained transformer in float32. A LoRA run saves the
transformer with the adapters merged, and the adapters alone under `lora/` (`load_lora_adapter(..., subfolder="lora",
prefix=None)` on the base transformer).
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..hub import ensure_repo, publish_folder
from ..model.model_card import TrainingSummary, ValidationVideo
from ..release.filters import ClipFilter
from .checkpoints import CHECKPOINT_PREFIX
from .sources import MODEL_INDEX_FILE, is_hub_id, load_pipeline

LORA_DIR = "lora"
STAGING_DIR = ".pipeline.partial"
#: Not uploaded with the trained pipeline: the checkpoints (the training state).
UPLOAD_IGNORE_PATTERNS = [f"{CHECKPOINT_PREFIX}*"]
#: The arguments the model card lists as hyper-parameters.
CARD_HYPERPARAMETERS = (
    "learning_rate",
    "adam_beta1",
    "adam_beta2",
    "adam_weight_decay",
    "adam_epsilon",
    "max_grad_norm",
    "train_batch_size",
    "gradient_accumulation_steps",
    "max_train_steps",
    "num_frames",
    "frame_interval",
    "resolution",
    "flip_probability",
    "dataset_config",
    "caption_dropout",
    "mixed_precision",
    "gradient_checkpointing",
    "use_ema",
    "ema_decay",
    "use_lora",
    "lora_rank",
    "seed",
)


def state_dict_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over names and bytes of every tensor, in name order: equal weights, equal digest."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{list(tensor.shape)}:".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def card_hyperparameters(args: argparse.Namespace, num_processes: int, mixed_precision: str) -> dict[str, Any]:
    values = {name: getattr(args, name) for name in CARD_HYPERPARAMETERS}
    values["mixed_precision"] = mixed_precision
    values["num_processes"] = num_processes
    values["total_batch_size"] = args.train_batch_size * args.gradient_accumulation_steps * num_processes
    if not args.use_ema:
        del values["ema_decay"]
    if not args.use_lora:
        del values["lora_rank"]
    if not is_hub_id(args.pretrained_model_name_or_path):
        values["pretrained_model_name_or_path"] = args.pretrained_model_name_or_path
    for source in ("dataset_name", "latents_dataset"):
        if getattr(args, source) is not None and not is_hub_id(getattr(args, source)):
            values[source] = getattr(args, source)
    values.update({name: getattr(args, name) for name in ClipFilter.names() if getattr(args, name) is not None})
    return values


def training_summary(
    args: argparse.Namespace,
    steps: int,
    final_loss: float | None,
    hyperparameters: dict[str, Any],
    validation_videos: list[tuple[str, str]],
) -> TrainingSummary:
    """What the model card reports (Hub ids are linked; local paths appear among the hyper-parameters)."""
    return TrainingSummary(
        base_model=args.pretrained_model_name_or_path if is_hub_id(args.pretrained_model_name_or_path) else None,
        dataset=next((name for name in (args.dataset_name, args.latents_dataset) if name and is_hub_id(name)), None),
        steps=steps,
        final_loss=final_loss,
        hyperparameters=hyperparameters,
        validation_videos=[ValidationVideo(prompt, path) for prompt, path in validation_videos],
    )


def save_trained_pipeline(
    args: argparse.Namespace,
    transformer_state: Mapping[str, torch.Tensor],
    lora_config: Any | None,
    repo_id: str,
    summary: TrainingSummary,
) -> Path:
    """Write the pipeline and its card into `args.output_dir` (staged, then moved in; `model_index.json` last)."""
    output_dir = args.output_dir
    pipeline = load_pipeline(args.pretrained_model_name_or_path, args.revision)
    transformer = pipeline.transformer
    if lora_config is not None:
        transformer.add_adapter(lora_config)
    transformer.load_state_dict(dict(transformer_state))
    staging = output_dir / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)
    if lora_config is not None:
        transformer.save_lora_adapter(staging / LORA_DIR)
        transformer.fuse_lora()
        transformer.unload_lora()
    pipeline.save_pretrained(staging, model_card={"repo_id": repo_id, "training": summary})
    for entry in sorted(staging.iterdir(), key=lambda path: path.name == MODEL_INDEX_FILE):
        target = output_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        entry.replace(target)
    staging.rmdir()
    return output_dir


def create_model_repo(repo_id: str) -> str:
    """Create (or find) the model repository before training; returns its full id `ORG/NAME`."""
    return ensure_repo(repo_id)


def push_trained_pipeline(output_dir: Path, repo_id: str, steps: int) -> str:
    """Upload the saved pipeline, card and validation videos (not the checkpoints); returns the commit URL."""
    return publish_folder(
        output_dir,
        repo_id,
        commit_message=f"Fine-tuned MVDiT ({steps} steps, openvid-hf train)",
        ignore_patterns=UPLOAD_IGNORE_PATTERNS,
        failure_hint=(
            f"the trained pipeline is saved there: upload it with "
            f"`hf upload {repo_id} {output_dir} --exclude '{CHECKPOINT_PREFIX}*'`"
        ),
    ).commit_url
