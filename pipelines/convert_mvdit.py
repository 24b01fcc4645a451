"""Original MVDiT checkpoints to `MVDiTTransformer3DModel`: what its `from_original_checkpoint` runs.

Like diffusers' single-file conversion, this sits beside the model it fills and imports only torch and diffusers.
Conversion is strict: every key of the checkpoint is consumed or deliberately dropped (the sin-cos buffers), every
parameter of the model is filled, every shape matches; otherwise one `CheckpointError` lists all the problems. Files
are read by `original_checkpoint`, so nothing beyond tensors is unpickled.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import logging

from .original_checkpoint import CheckpointError, load_original_state_dict

logger = logging.get_logger(__name__)

ModelT = TypeVar("ModelT", bound=ModelMixin)

# The released MVDiT-XL/2 checkpoints (configs/mvdit/inference/*.py of the original repository): latent sizes
# are those of the SD VAE (8x spatial downsampling), guidance channels the original `cfg_channel`.
MVDIT_XL_2_VARIANTS: dict[str, dict[str, Any]] = {
    "16x256x256": {"num_frames": 16, "sample_size": (32, 32), "space_scale": 0.5, "guidance_channels": 3},
    "16x512x512": {"num_frames": 16, "sample_size": (64, 64), "space_scale": 1.0, "guidance_channels": 4},
}

# Original key → this model's key(s). Several targets mean the tensor is split along dim 0 (fused qkv, kv).
_TOP_LEVEL_MODULES = {
    "x_embedder.proj": "patch_embedding",
    "t_embedder.mlp.0": "time_embedding.linear_1",
    "t_embedder.mlp.2": "time_embedding.linear_2",
    "t_block.1": "adaln",
    "t_block_y.1": "adaln_context",
    "t_block_temp.1": "adaln_temporal",
    "t_block_y_temp.1": "adaln_context_temporal",
    "y_embedder.y_proj.fc1": "caption_projection.linear_1",
    "y_embedder.y_proj.fc2": "caption_projection.linear_2",
    "final_layer.linear": "proj_out",
}
_TOP_LEVEL_TENSORS = {
    "y_embedder.y_embedding": "null_encoder_hidden_states",
    "final_layer.scale_shift_table": "scale_shift_table",
}
_BLOCK_MODULES = {
    "attn.qkv": ("attn1.to_q", "attn1.to_k", "attn1.to_v"),
    "attn.proj": ("attn1.to_out.0",),
    "attn_temp.qkv": ("attn_temporal.to_q", "attn_temporal.to_k", "attn_temporal.to_v"),
    "attn_temp.proj": ("attn_temporal.to_out.0",),
    "cross_attn.q_linear": ("attn2.to_q",),
    "cross_attn.kv_linear": ("attn2.to_k", "attn2.to_v"),
    "cross_attn.proj": ("attn2.to_out.0",),
    "mlp.fc1": ("ff.net.0.proj",),
    "mlp.fc2": ("ff.net.2",),
    "mlp_y.fc1": ("ff_context.net.0.proj",),
    "mlp_y.fc2": ("ff_context.net.2",),
}
_BLOCK_TENSORS = {
    "scale_shift_table": "scale_shift_table",
    "scale_shift_table_y": "scale_shift_table_context",
    "scale_shift_table_temp": "scale_shift_table_temporal",
    "scale_shift_table_y_temp": "scale_shift_table_context_temporal",
}
# Sin-cos buffers: recomputed by the model for every input size, never loaded.
_DROPPED_KEYS = frozenset({"pos_embed", "pos_embed_temporal"})

# The original constructor's arguments (`openvid/models/mvdit/mvdit.py`) and what becomes of them.
_ORIGINAL_ARCHITECTURES = {"MVDiT-XL/2": {"depth": 28, "hidden_size": 1152, "patch_size": [1, 2, 2], "num_heads": 16}}
_ORIGINAL_RENAMES = {
    "in_channels": "in_channels",
    "patch_size": "patch_size",
    "depth": "num_layers",
    "num_heads": "num_attention_heads",
    "mlp_ratio": "mlp_ratio",
    "caption_channels": "caption_channels",
    "model_max_length": "max_text_length",
    "space_scale": "space_scale",
    "time_scale": "time_scale",
    "cfg_channel": "guidance_channels",
}
_ORIGINAL_HANDLED = {"input_size", "hidden_size", "pred_sigma", "type"}
# Training/runtime switches that do not change the weights or the eval-mode forward; `no_temporal_pos_emb` is
# stored but never read by the original model.
_ORIGINAL_IGNORED = {
    "class_dropout_prob",
    "drop_path",
    "no_temporal_pos_emb",
    "dtype",
    "freeze",
    "enable_flashattn",
    "enable_layernorm_kernel",
    "enable_sequence_parallelism",
    "from_pretrained",
    "cfg_scale",
}


def map_original_key(key: str) -> tuple[str, ...] | None:
    """This model's key(s) for an original key (several: split along dim 0); `None` if it maps to nothing."""
    if key in _TOP_LEVEL_TENSORS:
        return (_TOP_LEVEL_TENSORS[key],)
    module, _, parameter = key.rpartition(".")
    if module in _TOP_LEVEL_MODULES and parameter in ("weight", "bias"):
        return (f"{_TOP_LEVEL_MODULES[module]}.{parameter}",)
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if match is None:
        return None
    index, name = match.groups()
    if name in _BLOCK_TENSORS:
        return (f"transformer_blocks.{index}.{_BLOCK_TENSORS[name]}",)
    module, _, parameter = name.rpartition(".")
    if module in _BLOCK_MODULES and parameter in ("weight", "bias"):
        return tuple(f"transformer_blocks.{index}.{target}.{parameter}" for target in _BLOCK_MODULES[module])
    return None


@dataclass
class RenamedStateDict:
    """Original tensors under this model's keys, with the problems found while mapping them."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # Targets of a tensor that could not be split: already reported, so not "missing" as well.
    reported_targets: set[str] = field(default_factory=set)


def rename_state_dict(original: Mapping[str, torch.Tensor]) -> RenamedStateDict:
    """Map every original key (splitting fused qkv/kv); unconsumed keys and bad splits become problems."""
    renamed = RenamedStateDict()
    for key, tensor in original.items():
        if key in _DROPPED_KEYS:
            continue
        targets = map_original_key(key)
        if targets is None:
            renamed.problems.append(
                f"unconsumed key {key} {list(tensor.shape)}: no counterpart in MVDiTTransformer3DModel"
            )
        elif tensor.ndim == 0 or tensor.shape[0] % len(targets):
            renamed.problems.append(
                f"shape mismatch for {key}: {list(tensor.shape)} does not split into {len(targets)} parts"
            )
            renamed.reported_targets.update(targets)
        else:
            for target, part in zip(targets, tensor.chunk(len(targets), dim=0), strict=True):
                renamed.tensors[target] = part.contiguous()
    return renamed


def _infer_config(state_dict: Mapping[str, torch.Tensor]) -> tuple[dict[str, Any], int | None]:
    """What the converted tensors' shapes tell: config values and the model width (None when not present)."""
    inferred: dict[str, Any] = {}
    width = None
    patch = state_dict.get("patch_embedding.weight")
    if patch is not None and patch.ndim == 5:
        width = patch.shape[0]
        inferred["in_channels"] = patch.shape[1]
        inferred["patch_size"] = list(patch.shape[2:])
    proj_out = state_dict.get("proj_out.weight")
    if (
        proj_out is not None
        and "patch_size" in inferred
        and proj_out.shape[0] % math.prod(inferred["patch_size"]) == 0
    ):
        inferred["out_channels"] = proj_out.shape[0] // math.prod(inferred["patch_size"])
    blocks = {int(match.group(1)) for key in state_dict if (match := re.match(r"transformer_blocks\.(\d+)\.", key))}
    if blocks:
        inferred["num_layers"] = max(blocks) + 1
    fc1 = state_dict.get("transformer_blocks.0.ff.net.0.proj.weight")
    if fc1 is not None and width:
        inferred["mlp_ratio"] = fc1.shape[0] / width
    null_caption = state_dict.get("null_encoder_hidden_states")
    if null_caption is not None and null_caption.ndim == 2:
        inferred["max_text_length"], inferred["caption_channels"] = null_caption.shape
    return inferred, width


def read_original_config(path: str | Path) -> dict[str, Any]:
    """The original constructor's arguments from a JSON file; raises ValueError naming the file."""
    try:
        original_config = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read it ({error})") from error
    if not isinstance(original_config, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return original_config


def resolve_original_config(original_config: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], int | None]:
    """A preset name, a JSON file or a dict of the original constructor's arguments → (config values, width)."""
    preset: dict[str, Any] = {}
    if isinstance(original_config, str) and original_config in MVDIT_XL_2_VARIANTS:
        preset = MVDIT_XL_2_VARIANTS[original_config]
        original_config = {"type": "MVDiT-XL/2"}
    elif isinstance(original_config, (str, Path)):
        path = Path(original_config)
        if path.suffix != ".json":
            raise ValueError(
                f"original_config {original_config!r} is neither a preset ({', '.join(MVDIT_XL_2_VARIANTS)}) "
                "nor a .json file"
            )
        original_config = read_original_config(path)
    original = dict(original_config)
    architecture = original.pop("type", None)
    if architecture is not None:
        if architecture not in _ORIGINAL_ARCHITECTURES:
            raise ValueError(
                f"unknown original model type {architecture!r}; known: {', '.join(_ORIGINAL_ARCHITECTURES)}"
            )
        original = {**_ORIGINAL_ARCHITECTURES[architecture], **original}
    unknown = sorted(set(original) - set(_ORIGINAL_RENAMES) - _ORIGINAL_HANDLED - _ORIGINAL_IGNORED)
    if unknown:
        logger.warning("original_config: ignoring arguments the original MVDiT constructor does not have: %s", unknown)
    return _translate_original_config(original) | preset, original.get("hidden_size")


def _translate_original_config(original: Mapping[str, Any]) -> dict[str, Any]:
    config = {ours: original[theirs] for theirs, ours in _ORIGINAL_RENAMES.items() if theirs in original}
    if "patch_size" in config:
        config["patch_size"] = list(config["patch_size"])
    if "input_size" in original:
        frames, height, width = original["input_size"]
        config["num_frames"], config["sample_size"] = frames, [height, width]
    if "pred_sigma" in original:
        config["out_channels"] = original.get("in_channels", 4) * (2 if original["pred_sigma"] else 1)
    if config.get("guidance_channels") is None:
        config.pop("guidance_channels", None)
    return config


def _build_config(
    state_dict: Mapping[str, torch.Tensor],
    original_config: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any],
) -> tuple[dict[str, Any], list[str]]:
    """Explicit values (preset/original config, then overrides) over what the shapes tell; conflicts are problems."""
    explicit, explicit_width = resolve_original_config(original_config)
    explicit.update(overrides)
    inferred, width = _infer_config(state_dict)
    problems = [
        f"configuration says {name}={explicit[name]!r} but the checkpoint's shapes say {value!r}"
        for name, value in inferred.items()
        if name in explicit and _normalised(explicit[name]) != _normalised(value)
    ]
    config = {**inferred, **explicit}
    heads = config.get("num_attention_heads", 16)
    if explicit_width is not None and width is not None and explicit_width != width:
        problems.append(f"configuration says hidden_size={explicit_width} but the checkpoint's shapes say {width}")
    width = width or explicit_width
    if "attention_head_dim" not in config and width is not None:
        if width % heads:
            problems.append(f"model width {width} is not divisible by num_attention_heads={heads}")
        else:
            config["attention_head_dim"] = width // heads
    if "guidance_channels" not in config and "out_channels" in config:
        config["guidance_channels"] = config["out_channels"] // 2 or config["out_channels"]
    return config, problems


def resolve_config(
    source: str,
    converted: Mapping[str, torch.Tensor],
    original_config: str | Path | Mapping[str, Any],
    overrides: Mapping[str, Any],
    problems: list[str],
) -> dict[str, Any]:
    """The model config; raises when it contradicts the weights (key-level checks would only echo that)."""
    config, config_problems = _build_config(converted, original_config, overrides)
    if config_problems:
        raise CheckpointError(source, config_problems + problems)
    return config


def _normalised(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def check_against_model(
    renamed: RenamedStateDict, expected: Mapping[str, torch.Tensor], required: set[str] | None = None
) -> list[str]:
    """Keys the model lacks, required keys the checkpoint lacks, and shape mismatches."""
    converted = renamed.tensors
    required = set(expected) if required is None else required
    problems = [
        f"unconsumed key: the model has no {key} {list(tensor.shape)}"
        for key, tensor in converted.items()
        if key not in expected
    ]
    missing = required - set(converted) - renamed.reported_targets
    problems += [f"missing key {key} {list(expected[key].shape)}" for key in sorted(missing)]
    problems += [
        f"shape mismatch for {key}: checkpoint {list(tensor.shape)}, model {list(expected[key].shape)}"
        for key, tensor in converted.items()
        if key in expected and tensor.shape != expected[key].shape
    ]
    return problems


def source_name(source: str | Path | Mapping[str, Any]) -> str:
    return "state dict" if isinstance(source, Mapping) else str(source)


def convert_checkpoint(
    model_class: type[ModelT],
    checkpoint: str | os.PathLike | Mapping[str, Any],
    original_config: str | os.PathLike | Mapping[str, Any] | None = None,
    torch_dtype: torch.dtype | None = None,
    **overrides: Any,
) -> ModelT:
    """Convert a checkpoint of the original implementation (NJU-PCALab/OpenVid-1M) to a `model_class`.

    The arguments are `MVDiTTransformer3DModel.from_original_checkpoint`'s. `original_config` as a dict or `.json`
    file holds the original constructor's arguments (`input_size`, `hidden_size`, `num_heads`, `space_scale`, ...).
    The model is built on the meta device and the checkpoint's tensors assigned, so no second copy is made. Raises
    one `CheckpointError` listing every unconsumed key, missing key and shape mismatch.
    """
    if original_config is None:
        raise ValueError(
            "original_config is required: a preset (16x256x256 or 16x512x512) or the original constructor's "
            "arguments (a dict or a .json file); space_scale cannot be read from the weights"
        )
    source = source_name(checkpoint)
    renamed = rename_state_dict(load_original_state_dict(checkpoint))
    converted, problems = renamed.tensors, renamed.problems
    config = resolve_config(source, converted, original_config, overrides, problems)
    with torch.device("meta"):
        model = model_class(**config)
    problems += check_against_model(renamed, model.state_dict())
    if problems:
        raise CheckpointError(source, problems)
    dtypes = {tensor.dtype for tensor in converted.values()}
    dtype = torch_dtype or (dtypes.pop() if len(dtypes) == 1 else torch.float32)
    model.load_state_dict({key: tensor.to(dtype) for key, tensor in converted.items()}, strict=True, assign=True)
    return model.eval()
