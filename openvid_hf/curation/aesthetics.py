"""Aesthetic score: a linear predictor on CLIP image embeddings (LAION's improved aesthetic predictor).

The predictor is a file in a Hub repository, `REPO/FILE` (`.safetensors`, or a `.pth` state dict read with
`weights_only`): a stack of linear layers (LAION's has five and no activations between them, so it is one affine
map) applied to the unit-length CLIP embedding. The clip's score is the mean over its first, middle and last
frames.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..video.decoding import VideoDecodeError
from .clip_embeddings import ClipImageEmbedder
from .frames import read_clip_frames

FRAMES = 3


class AestheticScorer:
    def __init__(self, model_id: str, head: str, device: str = "cpu"):
        self.embedder = ClipImageEmbedder(model_id, device)
        self.layers = load_linear_head(head)

    def __call__(self, paths: list[Path]) -> list[dict[str, Any]]:
        """One row per clip: `aesthetic_score`, or `error` for a clip that cannot be decoded."""
        rows = []
        for path in paths:
            try:
                frames = read_clip_frames(path, count=FRAMES)
            except VideoDecodeError as error:
                rows.append({"clip": path.name, "error": str(error).splitlines()[0]})
                continue
            scores = self.embedder.embed(frames)
            for weight, bias in self.layers:
                scores = scores @ weight.T + bias
            rows.append({"clip": path.name, "aesthetic_score": scores.mean().item()})
        return rows


def load_linear_head(head: str) -> list[tuple[Any, Any]]:
    """The (weight, bias) pairs of `ORG/NAME/FILE` on the Hub, in layer order."""
    import torch
    from huggingface_hub import hf_hub_download

    parts = head.split("/")
    if len(parts) < 3:
        raise UsageError(f"aesthetic head {head!r} must be ORG/NAME/FILE (a file in a Hub model repository)")
    path = hf_hub_download("/".join(parts[:2]), "/".join(parts[2:]))
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    weights = sorted((key for key in state if key.endswith(".weight")), key=_layer_order)
    if not weights:
        raise UsageError(f"aesthetic head {head!r} holds no linear layer (no '.weight' tensor)")
    return [(state[key].float(), state[key.removesuffix("weight") + "bias"].float()) for key in weights]


def _layer_order(key: str) -> list:
    return [int(piece) if piece.isdigit() else piece for piece in re.split(r"(\d+)", key)]
