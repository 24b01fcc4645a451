"""A latent dataset pushed as the published dataset is (`publish.push`: resumable, then verified), with its card."""

from __future__ import annotations

import os

from ..publish.push import PushSummary, push_dataset
from .card import write_latent_card


def push_latents(
    out_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PushSummary:
    """Upload a folder written by `openvid-hf encode` to the dataset repository `repo_id`, then verify it."""
    return push_dataset(
        out_dir,
        repo_id,
        private=private,
        revision=revision,
        commit_message=commit_message or "Publish OpenVid-1M latents (openvid-hf encode)",
        write_card=write_latent_card,
    )
