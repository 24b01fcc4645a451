"""Training latents streamed from a latent dataset (`openvid-hf encode`), for a (stateful) torch DataLoader.

The rows are read with plain `datasets` streaming and split by node and DataLoader worker as the clips of a
published dataset are (`row_stream`); each becomes the VAE posterior (`latent_mean`, `latent_logvar`, float32) from
which a training step draws its latents, and the caption's T5 embeddings padded with zeros to `max_text_length`
tokens with their mask, as `TextEmbeddingCache.read` restores them. Score filters apply to the record as for videos.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
import torch

from ..latents.layout import LATENT_LOGVAR, LATENT_MEAN, PROMPT_EMBEDS, PROMPT_LENGTH
from ..publish.layout import DEFAULT_CONFIG
from ..release.filters import ClipFilter
from ..schema import RECORD_COLUMN
from .row_stream import RowStreamDataset, record_fields, stream_rows

MEMBERS = (RECORD_COLUMN, LATENT_MEAN, LATENT_LOGVAR, PROMPT_EMBEDS)


class OpenVidLatentDataset(RowStreamDataset):
    """Samples `{"latent_mean", "latent_logvar": [C, T, h, w], "prompt_embeds": [L, D], "prompt_attention_mask":
    [L], "key", "caption", ...}` of a latent dataset (a Hub dataset repository or a folder written by `encode`).

    `max_text_length` is `L`, the transformer's caption length. The other arguments are `OpenVidClipDataset`'s.
    """

    state_type: ClassVar[str] = "OpenVidLatentDataset"

    def __init__(
        self,
        source: str | os.PathLike,
        config: str = DEFAULT_CONFIG,
        split: str = "train",
        *,
        max_text_length: int,
        filters: ClipFilter | None = None,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        revision: str | None = None,
    ):
        rows = stream_rows(os.fspath(source), config, split, revision, MEMBERS, "a latent dataset")
        self.max_text_length = max_text_length
        self.filters = filters or ClipFilter()
        super().__init__(rows, seed=seed, rank=rank, world_size=world_size)

    def _sample(self, row: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        absent = [member for member in MEMBERS if row[member] is None]
        if absent:
            self._skip("missing", f"{row['__key__']} in {row['__url__']}: the sample has no {', '.join(absent)}")
            return None
        record = row[RECORD_COLUMN]
        if not self.filters.accepts_record(record):
            self.counts.filtered += 1
            return None
        prompt = torch.from_numpy(np.asarray(row[PROMPT_EMBEDS], dtype=np.float32))
        length = record[PROMPT_LENGTH]
        prompt_embeds = torch.zeros(self.max_text_length, prompt.shape[-1])
        prompt_embeds[:length] = prompt[: self.max_text_length]
        mask = torch.zeros(self.max_text_length, dtype=torch.long)
        mask[:length] = 1
        return {
            "latent_mean": torch.from_numpy(np.asarray(row[LATENT_MEAN], dtype=np.float32)),
            "latent_logvar": torch.from_numpy(np.asarray(row[LATENT_LOGVAR], dtype=np.float32)),
            "prompt_embeds": prompt_embeds,
            "prompt_attention_mask": mask,
            **record_fields(record),
        }
