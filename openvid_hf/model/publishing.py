"""An `MVDiTPipeline` saved or pushed with openvid-hf's model card, rendered from fields, and optionally remote code.

The pipeline's own `save_pretrained`/`push_to_hub(..., remote_code=, model_card=)` write the files; these two render
the card first (its template is openvid-hf's, which the pipeline module, shipped as remote code, cannot import), and
the push goes through `hub.publish_folder` like every other publisher.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..hub import publish_folder
from .model_card import model_card as render_model_card

if TYPE_CHECKING:
    from ..pipelines import MVDiTPipeline


def save_pipeline(
    pipeline: MVDiTPipeline,
    folder: str | os.PathLike,
    *,
    model_card: dict[str, Any] | None = None,
    remote_code: bool = False,
    safe_serialization: bool = True,
    variant: str | None = None,
    max_shard_size: int | str | None = None,
) -> None:
    """`pipeline.save_pretrained` with the model card (`README.md`) rendered from `model_card` and `remote_code`.

    Args:
        model_card: Keyword arguments of `openvid_hf.model.model_card.model_card` (`repo_id`, `base_model`,
            `datasets`, `license`, `training`); `repo_id` defaults to the folder's path.
        remote_code: Also write the pipeline's modules into the folder and point `model_index.json` at them, so
            `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` loads it without openvid-hf.
    """
    fields = {"remote_code": remote_code, **(model_card or {})}
    card = render_model_card(pipeline, fields.pop("repo_id", None) or str(Path(folder)), **fields)
    pipeline.save_pretrained(
        folder,
        safe_serialization=safe_serialization,
        variant=variant,
        max_shard_size=max_shard_size,
        remote_code=remote_code,
        model_card=card,
    )


def push_pipeline(
    pipeline: MVDiTPipeline,
    repo_id: str,
    *,
    commit_message: str | None = None,
    private: bool | None = None,
    token: str | None = None,
    create_pr: bool = False,
    model_card: dict[str, Any] | None = None,
    remote_code: bool = False,
    safe_serialization: bool = True,
    variant: str | None = None,
) -> str:
    """Upload the pipeline as `save_pipeline` writes it, its card naming `repo_id`; returns the commit URL."""
    with tempfile.TemporaryDirectory() as folder:
        save_pipeline(
            pipeline,
            folder,
            model_card={"repo_id": repo_id, **(model_card or {})},
            remote_code=remote_code,
            safe_serialization=safe_serialization,
            variant=variant,
        )
        commit = publish_folder(
            folder,
            repo_id,
            commit_message=commit_message or "Upload MVDiTPipeline",
            private=private,
            token=token,
            create_pr=create_pr,
        )
    return commit.commit_url
