"""Where a saved or pushed `MVDiTPipeline` gets its model card and its upload: an installed package, else diffusers.

These modules never import openvid_hf, so they can ship as remote code. openvid-hf instead offers its model card and
its one upload helper under the `mvdit.publishing` entry-point group (its `pyproject.toml`), and the pipeline looks
them up when it saves or pushes, not at import. Where no package offers them (remote code without openvid-hf), saving
writes no card and pushing is diffusers' own: its generic card, `huggingface_hub.upload_folder`.

The two entry points and what they are called with:
- `model_card(pipeline, repo_id, *, remote_code, **fields) -> ModelCard`: the card of `pipeline` published as
  `repo_id`; `fields` are the keys of a `model_card={...}` dict.
- `publish_folder(folder, repo_id, *, commit_message, private, token, create_pr) -> CommitInfo`: create the
  repository if needed and upload `folder` as one commit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from diffusers.utils.hub_utils import load_or_create_model_card, populate_model_card
from huggingface_hub import ModelCard, create_repo, upload_folder

ENTRY_POINT_GROUP = "mvdit.publishing"
DEFAULT_COMMIT_MESSAGE = "Upload MVDiTPipeline"
#: What `model_card=` takes: a rendered card, its text, or the fields of the installed package's card.
ModelCardArgument = ModelCard | str | Mapping[str, Any] | None


def installed_entry_point(name: str) -> Callable[..., Any] | None:
    """The `name` entry point of the group, loaded; `None` when no installed package offers it or it is uninstalled."""
    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            return entry_point.load()
        except ModuleNotFoundError as error:
            # Metadata of a package whose code is gone (or hidden): the same as not installed. Any other missing
            # module is a real error inside the package, and is raised.
            if (error.name or "").split(".")[0] != entry_point.module.split(".")[0]:
                raise
    return None


def resolve_model_card(
    pipeline: Any, model_card: ModelCardArgument, *, repo_id: str, remote_code: bool
) -> ModelCard | str | None:
    """The card to write as `README.md`: `model_card` itself when rendered, else the installed package's from fields.

    `None` when nothing renders one (no fields and no package): the caller then writes diffusers' card or none.
    """
    if model_card is not None and not isinstance(model_card, Mapping):
        return model_card
    render = installed_entry_point("model_card")
    if render is None:
        if model_card:
            raise ValueError(
                "model_card={...} holds fields of openvid-hf's card, which is not installed here; "
                "pass a rendered card instead (model_card=ModelCard or str)"
            )
        return None
    fields = {"repo_id": repo_id, "remote_code": remote_code, **(model_card or {})}
    return render(pipeline, fields.pop("repo_id"), **fields)


def publish(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    commit_message: str | None,
    private: bool | None,
    token: str | None,
    create_pr: bool,
) -> str:
    """Upload a saved pipeline as one commit with the installed package's helper, else as diffusers does.

    Without a package, `folder` gets diffusers' generic card unless it holds one. Returns the commit URL.
    """
    commit_message = commit_message or DEFAULT_COMMIT_MESSAGE
    publish_folder = installed_entry_point("publish_folder")
    if publish_folder is not None:
        return publish_folder(
            folder, repo_id, commit_message=commit_message, private=private, token=token, create_pr=create_pr
        ).commit_url
    repo_id = create_repo(repo_id, private=private, token=token, exist_ok=True).repo_id
    card_path = os.path.join(folder, "README.md")
    if not os.path.exists(card_path):
        populate_model_card(load_or_create_model_card(repo_id, token=token)).save(card_path)
    return upload_folder(
        repo_id=repo_id, folder_path=folder, token=token, commit_message=commit_message, create_pr=create_pr
    ).commit_url
