"""Conversion as openvid-hf offers it: `convert_original_checkpoint`, the function form of
`MVDiTTransformer3DModel.from_original_checkpoint`, and `init_from_pixart_alpha`, training's start from PixArt-α.

The strict key and config mapping lives beside the model in `pipelines/convert_mvdit.py`; this module adds the
default class and the PixArt-α initialisation, which is a training tool, not a way to load MVDiT.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..pipelines.convert_mvdit import check_against_model, rename_state_dict, resolve_config, source_name
from ..pipelines.original_checkpoint import CheckpointError, load_original_state_dict
from ..pipelines.transformer_mvdit import MVDiTTransformer3DModel

if TYPE_CHECKING:
    import torch

# What MVDiT adds to PixArt-α: the text branch and the temporal modules (fresh when initialising from PixArt).
_MVDIT_ONLY = re.compile(
    r"(^|\.)(adaln_context|adaln_temporal|adaln_context_temporal|attn_temporal|ff_context|"
    r"scale_shift_table_context|scale_shift_table_temporal|scale_shift_table_context_temporal)(\.|$)"
)


@dataclass
class PixArtInitialisation:
    """An MVDiT initialised from PixArt-α, and which of its tensors came from where."""

    model: MVDiTTransformer3DModel
    loaded: list[str] = field(default_factory=list)
    initialised: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Both key lists with block indices collapsed to `*`, for logs and the CLI."""
        return (
            f"loaded from PixArt-α ({len(self.loaded)} tensors): {', '.join(_collapse_block_keys(self.loaded))}\n"
            f"freshly initialised ({len(self.initialised)} tensors): "
            f"{', '.join(_collapse_block_keys(self.initialised))}"
        )


def _collapse_block_keys(keys: list[str]) -> list[str]:
    return list(dict.fromkeys(re.sub(r"^transformer_blocks\.\d+\.", "transformer_blocks.*.", key) for key in keys))


def convert_original_checkpoint(
    checkpoint: str | os.PathLike | Mapping[str, Any],
    original_config: str | os.PathLike | Mapping[str, Any] | None = None,
    *,
    model_class: type[MVDiTTransformer3DModel] = MVDiTTransformer3DModel,
    torch_dtype: torch.dtype | None = None,
    **overrides: Any,
) -> MVDiTTransformer3DModel:
    """`model_class.from_original_checkpoint(...)`: `model_class` may be a subclass or a remote-code copy."""
    return model_class.from_original_checkpoint(checkpoint, original_config, torch_dtype=torch_dtype, **overrides)


def init_from_pixart_alpha(
    checkpoint: str | os.PathLike | Mapping[str, Any],
    original_config: str | os.PathLike | Mapping[str, Any] = "16x256x256",
    *,
    model_class: type[MVDiTTransformer3DModel] = MVDiTTransformer3DModel,
    **overrides: Any,
) -> PixArtInitialisation:
    """Initialise MVDiT from a PixArt-α checkpoint the way the original training did.

    The modules MVDiT shares with PixArt-α load from the checkpoint (its 2-D patch convolution becomes a Conv3d
    with one frame); the text branch and the temporal modules keep the fresh initialisation, with the original's
    zero-initialised temporal-attention outputs. Seed torch beforehand for a reproducible fresh part.
    """
    source = source_name(checkpoint)
    pixart = dict(load_original_state_dict(checkpoint))
    patch = pixart.get("x_embedder.proj.weight")
    if patch is not None and patch.ndim == 4:
        pixart["x_embedder.proj.weight"] = patch.unsqueeze(2)
    renamed = rename_state_dict(pixart)
    converted, problems = renamed.tensors, renamed.problems
    # A fresh start for what PixArt-α lacks: the original's training initialisation (zero temporal outputs).
    model = model_class(**resolve_config(source, converted, original_config, overrides, problems))
    model.initialize_weights()
    expected = model.state_dict()
    shared = {key for key in expected if not _MVDIT_ONLY.search(key)}
    problems += [f"{key} is MVDiT-only and cannot come from PixArt-α" for key in converted if _MVDIT_ONLY.search(key)]
    problems += check_against_model(renamed, expected, required=shared)
    if problems:
        raise CheckpointError(source, problems)
    model.load_state_dict(converted, strict=False)
    loaded = [key for key in expected if key in converted]
    initialised = [key for key in expected if key not in converted]
    return PixArtInitialisation(model=model, loaded=loaded, initialised=initialised)
