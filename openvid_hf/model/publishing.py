"""An `MVDiTPipeline` saved or pushed with what openvid-hf adds to diffusers' own files: its model card and,
optionally, remote code.

`pipeline.save_pretrained` and `pipeline.push_to_hub` stay diffusers' own (the pipeline ships as remote code and
cannot import openvid-hf); these two are the openvid-hf way, and the push goes through `hub.publish_folder` like
every other publisher.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from ..hub import publish_folder
from .model_card import write_model_card
from .remote_code import write_remote_code

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
    """`save_pretrained`, then the model card (`README.md`) and, with `remote_code`, the pipeline's modules.

    Args:
        model_card: Keyword arguments of `openvid_hf.model.model_card.model_card` (`repo_id`, `base_model`,
            `datasets`, `license`, `training`); `repo_id` defaults to the folder's path.
        remote_code: Also write the pipeline's modules into the folder and point `model_index.json` at them, so
            `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` loads it without openvid-hf.
    """
    pipeline.save_pretrained(
        folder, safe_serialization=safe_serialization, variant=variant, max_shard_size=max_shard_size
    )
    if remote_code:
        write_remote_code(pipeline, folder)
    write_model_card(folder, pipeline, **{"remote_code": remote_code, **(model_card or {})})


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
