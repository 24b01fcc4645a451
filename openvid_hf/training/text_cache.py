"""T5 embeddings of captions, computed once and kept on disk (`--precompute_text_embeddings`).

T5-XXL is a third of the memory a fine-tune needs and its embedding of a caption never changes, so a run can
encode every training caption up front, free the encoder, and read the embeddings back each step; later runs over
the same captions reuse them.

Layout: `CACHE_DIR/{encoder fingerprint}/{sha[:2]}/{sha}.safetensors`, `sha` being the SHA-256 of the caption as
stored in the dataset. The fingerprint is a hash of what the encoder computes: the tokenizer and T5 run through the
pipeline's `encode_prompt` (caption cleaning included) on a fixed probe sentence, with the token count and dtype.
Another encoder, another dtype or another cleaning gives another folder, never a stale embedding. A file holds the
real tokens' hidden states only (`[tokens, channels]`, in T5's dtype); padding is restored as zeros with a zero mask,
which the transformer never attends to.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..atomic import replacing
from ..errors import OpenVidError
from ..latents.encoders import encode_captions

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ..pipelines import MVDiTPipeline

logger = logging.getLogger(__name__)

#: Encoded by every encoder to tell encoders apart.
PROBE_TEXT = "A red fox runs across a snowy field at dawn, the camera slowly panning left."
HIDDEN_STATES = "hidden_states"


def default_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HOME) / "openvid_hf" / "text_embeddings"


def caption_sha256(caption: str) -> str:
    return hashlib.sha256(caption.encode("utf-8")).hexdigest()


def encoder_fingerprint(pipeline: MVDiTPipeline, device: torch.device, max_length: int) -> str:
    """16 hex digits naming what `encode_captions` computes with this tokenizer, encoder, dtype and length."""
    hidden_states, mask = encode_captions(pipeline, [PROBE_TEXT], device, max_length)
    digest = hashlib.sha256(f"{max_length}:{hidden_states.dtype}:{mask.sum().item()}:".encode())
    digest.update(hidden_states.float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class TextEmbeddingCache:
    """The embeddings of one encoder (`folder` = cache dir / fingerprint), `max_length` tokens each."""

    def __init__(self, folder: Path, max_length: int) -> None:
        self.folder = folder
        self.max_length = max_length

    def path(self, caption: str) -> Path:
        sha = caption_sha256(caption)
        return self.folder / sha[:2] / f"{sha}.safetensors"

    def __contains__(self, caption: str) -> bool:
        return self.path(caption).is_file()

    def write(self, caption: str, hidden_states: torch.Tensor, mask: torch.Tensor) -> None:
        """Store the real tokens of one caption (`hidden_states [max_length, C]`, right-padded `mask [max_length]`)."""
        from safetensors.torch import save_file

        length = int(mask.sum())
        if not bool(mask[:length].all()):
            raise ValueError("the attention mask must be right-padded (T5's tokenizer pads on the right)")
        with replacing(self.path(caption)) as temporary:
            save_file({HIDDEN_STATES: hidden_states[:length].contiguous().cpu()}, str(temporary))

    def read(
        self, captions: Sequence[str], device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states `[B, max_length, C]` and masks `[B, max_length]` of `captions`, padded with zeros."""
        from safetensors.torch import load_file

        states = []
        for caption in captions:
            path = self.path(caption)
            if not path.is_file():
                raise OpenVidError(
                    f"no cached text embedding for caption {caption[:80]!r} in {self.folder} (expected {path.name}); "
                    "the dataset changed since the embeddings were computed: run again to compute the missing ones"
                )
            states.append(load_file(str(path))[HIDDEN_STATES])
        channels = states[0].shape[-1]
        hidden_states = torch.zeros(len(states), self.max_length, channels, dtype=dtype)
        mask = torch.zeros(len(states), self.max_length, dtype=torch.long)
        for index, state in enumerate(states):
            hidden_states[index, : len(state)] = state.to(dtype)
            mask[index, : len(state)] = 1
        return hidden_states.to(device), mask.to(device)


@dataclass
class PrecomputeSummary:
    captions: int
    computed: int
    folder: Path

    def line(self) -> str:
        reused = self.captions - self.computed
        return (
            f"text embeddings: {self.captions} captions, {self.computed} computed, {reused} reused from {self.folder}"
        )


def precompute_text_embeddings(
    pipeline: MVDiTPipeline,
    captions: Sequence[str],
    cache_dir: Path,
    accelerator: Accelerator,
    max_length: int,
    batch_size: int,
) -> tuple[TextEmbeddingCache, PrecomputeSummary]:
    """Encode the captions missing from the cache, each process a share of them; returns the cache when all are in.

    The fingerprint and the list of missing captions are made on the main process and shared, so every process
    reads and writes the same folder and takes its share of the same list (a process that looked for itself could
    already see files another one has written, and skip captions nobody then encodes).
    """
    from accelerate.utils import broadcast_object_list

    from ..progress import progress_bar

    device = accelerator.device
    fingerprint = [encoder_fingerprint(pipeline, device, max_length) if accelerator.is_main_process else None]
    broadcast_object_list(fingerprint)
    cache = TextEmbeddingCache(cache_dir / fingerprint[0], max_length)
    shared = [[caption for caption in captions if caption not in cache] if accelerator.is_main_process else None]
    broadcast_object_list(shared)
    missing = shared[0]
    mine = missing[accelerator.process_index :: accelerator.num_processes]
    progress = progress_bar(
        total=len(missing), desc="T5 embeddings", unit="caption", disable=not accelerator.is_local_main_process
    )
    for start in range(0, len(mine), batch_size):
        batch = mine[start : start + batch_size]
        hidden_states, mask = encode_captions(pipeline, batch, device, max_length)
        for caption, states, caption_mask in zip(batch, hidden_states, mask, strict=True):
            cache.write(caption, states, caption_mask)
        progress.update(len(batch) * accelerator.num_processes)
    progress.close()
    accelerator.wait_for_everyone()
    summary = PrecomputeSummary(len(captions), len(missing), cache.folder)
    logger.info(summary.line())
    return cache, summary
