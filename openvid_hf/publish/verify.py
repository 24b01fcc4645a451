"""`openvid-hf verify`: a local folder or a Hub repository compared with its `manifest.json`.

Paths, sizes and SHA-256: the LFS pointer's for LFS files, the downloaded bytes' for the few regular ones. Every
read of a repository goes to one commit, so a push landing meanwhile cannot mix two snapshots.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..cards import CARD_FILE, format_bytes
from ..errors import OpenVidError, UsageError
from ..hub import asking_the_hub, check_repo_id
from .layout import MANIFEST_FILE
from .manifest import Manifest, TreeFile, local_tree
from .shards import file_sha256

if TYPE_CHECKING:
    from huggingface_hub import HfApi

REPO_TYPE = "dataset"


def parse_target(target: str | os.PathLike) -> Path | str:
    """A local folder (when one exists at that path) or a Hub dataset id `ORG/NAME`."""
    if Path(target).is_dir():
        return Path(target)
    return check_repo_id(str(target), "ORG/NAME|DIR: no such folder, and")


@dataclass
class VerifyReport:
    target: str
    revision: str
    files: int
    bytes: int
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def state(self) -> str:
        """`verified`, or how many mismatches: the word a push or publish summary ends with."""
        return "verified" if self.ok else f"{len(self.problems)} mismatch(es)"

    def line(self) -> str:
        where = f"{self.target}@{self.revision[:7]}" if self.revision else self.target
        if self.ok:
            return (
                f"verified {where}: the {self.files} files listed in {MANIFEST_FILE} ({format_bytes(self.bytes)}) "
                f"match, {CARD_FILE} and {MANIFEST_FILE} present, in {self.seconds:.1f} s"
            )
        return f"{where}: {len(self.problems)} mismatch(es) with {MANIFEST_FILE} (checked in {self.seconds:.1f} s)"


def verify_dataset(target: str | os.PathLike, revision: str | None = None) -> VerifyReport:
    """Compare a local folder or a Hub dataset repository with its `manifest.json`."""
    started = time.perf_counter()
    location = parse_target(target)
    if isinstance(location, Path):
        if revision:
            raise UsageError("--revision applies to a Hub repository, not to a local folder")
        manifest_path = location / MANIFEST_FILE
        if not manifest_path.is_file():
            raise OpenVidError(f"{location}: no {MANIFEST_FILE}; not a folder written by `openvid-hf build`")
        manifest = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
        tree, revision = local_tree(location), ""
    else:
        from huggingface_hub import HfApi

        api = HfApi()
        revision = commit_sha(api, location, revision)
        manifest_path = download(api, location, MANIFEST_FILE, revision, "; not a dataset pushed by `openvid-hf push`")
        manifest = Manifest.from_json(Path(manifest_path).read_bytes(), f"{location}/{MANIFEST_FILE}")
        tree = remote_tree(api, location, revision)
    problems = manifest.mismatches(tree)
    return VerifyReport(
        str(target), revision, len(manifest.files), manifest.bytes, problems, time.perf_counter() - started
    )


def remote_tree(api: HfApi, repo_id: str, revision: str, repo_type: str = REPO_TYPE) -> dict[str, TreeFile]:
    """Every file of the repository at `revision`: LFS files by their pointer's SHA-256, others hashed on demand."""
    from huggingface_hub.hf_api import RepoFile

    tree = {}
    with asking_the_hub(api):
        for item in api.list_repo_tree(repo_id, repo_type=repo_type, revision=revision, recursive=True):
            if not isinstance(item, RepoFile):
                continue
            if item.lfs is not None:
                tree[item.path] = TreeFile(item.size, partial(str, item.lfs.sha256))
            else:
                hashed = partial(_downloaded_sha256, api, repo_id, item.path, revision, repo_type)
                tree[item.path] = TreeFile(item.size, hashed)
    return tree


def _downloaded_sha256(api: HfApi, repo_id: str, path: str, revision: str, repo_type: str) -> str:
    return file_sha256(download(api, repo_id, path, revision, repo_type=repo_type))


@contextmanager
def _asking_about(api: HfApi, repo_id: str, revision: str | None, repo_type: str) -> Iterator[None]:
    """Requests about one repository: no such repository, or no such revision of it, is one `OpenVidError` line."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        with asking_the_hub(api):
            yield
    except RevisionNotFoundError:
        raise OpenVidError(f"{repo_id}: no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise OpenVidError(
            f"{repo_id}: no such {repo_type} repository on {api.endpoint} (or no access to it)"
        ) from None


def commit_sha(api: HfApi, repo_id: str, revision: str | None, repo_type: str = REPO_TYPE) -> str:
    """The commit `revision` points to now: every later read uses it, so they see one snapshot."""
    with _asking_about(api, repo_id, revision, repo_type):
        return api.repo_info(repo_id, repo_type=repo_type, revision=revision).sha


def download(api: HfApi, repo_id: str, path: str, revision: str, missing: str = "", repo_type: str = REPO_TYPE) -> str:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        with _asking_about(api, repo_id, revision, repo_type):
            return api.hf_hub_download(repo_id, path, repo_type=repo_type, revision=revision)
    except LocalEntryNotFoundError as error:
        raise OpenVidError(f"cannot download {path} of {repo_id} from {api.endpoint} ({error})") from error
    except EntryNotFoundError:
        raise OpenVidError(f"{repo_id}@{revision[:7]}: no {path}{missing}") from None
