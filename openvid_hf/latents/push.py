"""A latent dataset pushed as the published dataset is (`publish.push`: resumable, then verified), with its card."""

from __future__ import annotations

import os
from pathlib import Path

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
    refuse_repository_of_clips(repo_id, revision)
    return push_dataset(
        out_dir,
        repo_id,
        private=private,
        revision=revision,
        commit_message=commit_message or "Publish OpenVid-1M latents (openvid-hf encode)",
        write_card=write_latent_card,
    )


def refuse_repository_of_clips(repo_id: str, revision: str | None = None) -> None:
    """An `OpenVidError` when `repo_id` already holds a published dataset of clips: latents replace a repository's
    shards, so they go to a repository of their own (a new one, or one of latents)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    from ..errors import OpenVidError
    from ..hub import asking_the_hub
    from ..publish.layout import MANIFEST_FILE
    from .layout import is_latent_folder

    api = HfApi()
    try:
        with asking_the_hub(api):
            path = api.hf_hub_download(repo_id, MANIFEST_FILE, repo_type="dataset", revision=revision)
    except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError):
        return
    if not is_latent_folder(Path(path).parent):
        raise OpenVidError(
            f"{repo_id} holds a published dataset of clips; push the latents to a repository of their own"
        )
