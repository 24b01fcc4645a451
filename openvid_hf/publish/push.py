"""`openvid-hf push`: a built folder to a Hub dataset repository, then verified there.

The card is rendered for the repository it goes to; `hub.publish_folder` re-sends nothing the repository already
has, so re-running a push that failed midway completes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..cards import CARD_FILE, format_bytes
from ..errors import OpenVidError
from ..hub import check_repo_id, publish_folder, require_token
from .dataset_card import write_dataset_card
from .layout import MANIFEST_FILE
from .manifest import Manifest
from .verify import REPO_TYPE, VerifyReport, verify_dataset

#: Renders a folder's card for a repository: `(out_dir, repo_id, manifest) -> written`.
CardWriter = Callable[..., bool]
#: Remote files a push replaces or removes, so the repository holds exactly the folder's shards and tables.
REPLACED_PATTERNS = ["data/**", "metadata/**"]


@dataclass
class PushSummary:
    """What a push sent; `files` and `bytes` are those listed in the manifest, as `verify` counts them."""

    repo_id: str
    revision: str
    commit: str
    files: int
    bytes: int
    seconds: float
    verify: VerifyReport

    def line(self) -> str:
        return (
            f"pushed the {self.files} files listed in {MANIFEST_FILE} ({format_bytes(self.bytes)}) with {CARD_FILE} "
            f"and {MANIFEST_FILE} to {self.repo_id}@{self.revision} (commit {self.commit[:7]}) "
            f"in {self.seconds:.1f} s; {self.verify.state}"
        )


def push_dataset(
    out_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    write_card: CardWriter = write_dataset_card,
) -> PushSummary:
    """Upload a built folder to the dataset repository `repo_id` (created if needed), then verify it.

    `write_card(out_dir, repo_id, manifest)` renders the card for `repo_id`: the published dataset's by default,
    a derived dataset's (`openvid_hf.latents`) when it pushes through here.
    """
    require_token()
    repo_id = check_repo_id(repo_id, "--repo-id")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise OpenVidError(f"{out_dir}: no {MANIFEST_FILE}; run `openvid-hf build` (to the end) first")
    manifest = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
    commit = publish_folder(
        out_dir,
        repo_id,
        repo_type=REPO_TYPE,
        write_card=partial(write_card, out_dir, manifest=manifest),
        private=private,
        revision=revision,
        commit_message=commit_message or f"Publish OpenVid-1M: {manifest.samples} clips (openvid-hf)",
        delete_patterns=REPLACED_PATTERNS,
    )
    report = verify_dataset(repo_id, revision=commit.oid)
    return PushSummary(
        repo_id,
        revision or "main",
        commit.oid,
        len(manifest.files),
        manifest.bytes,
        time.perf_counter() - started,
        report,
    )
