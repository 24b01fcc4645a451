"""CLIP image embeddings of video frames, the input of the temporal-consistency and aesthetic stages."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


class ClipImageEmbedder:
    """A CLIP vision tower with its projection (`CLIPVisionModelWithProjection`) and image processor from the Hub.

    A full CLIP checkpoint (e.g. `openai/clip-vit-large-patch14`) loads too: its text tower is left out.
    """

    def __init__(self, model_id: str, device: str = "cpu"):
        from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

        self.device = device
        self.processor = AutoImageProcessor.from_pretrained(model_id)
        self.model = CLIPVisionModelWithProjection.from_pretrained(model_id).to(device).eval()

    def embed(self, frames: np.ndarray) -> torch.Tensor:
        """Unit-length embeddings `[N, D]` of RGB uint8 frames `[N, H, W, 3]`."""
        import torch

        inputs = self.processor(images=list(frames), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            embeds = self.model(**inputs).image_embeds.float()
        return torch.nn.functional.normalize(embeds, dim=-1).cpu()
