"""A built folder on the Hub: `push_dataset` uploads it, `verify_dataset` checks a copy, `load_metadata` reads it.

- `push_dataset`: renders the card for the repository, then `create_repo` and `upload_folder`, which re-sends
  nothing the repository already has: re-running a push that failed midway completes it. Then it verifies.
- `verify_dataset`: a local folder or a Hub repository compared with its `manifest.json` (paths, sizes,
  SHA-256: the LFS pointer's for LFS files, the downloaded bytes' for the few regular ones).
- `load_metadata`: the metadata table of a split as a `datasets.Dataset`, to filter by score without videos.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import PARTIAL_SUFFIX
from .cards import format_bytes, write_dataset_card
from .errors import OpenVidError, UsageError
from .layout import MANIFEST_FILE, METADATA_DIR, metadata_path
from .manifest import Manifest, TreeFile, local_tree
from .schema import metadata_table_features
from .shards import file_sha256

if TYPE_CHECKING:
    import datasets
    from huggingface_hub import HfApi

REPO_TYPE = "dataset"
#: Never uploaded: hidden files and folders (an unfinished build's journal) and half-written files.
IGNORED_PATTERNS = [".*", "*/.*", f"*{PARTIAL_SUFFIX}"]
#: Remote files a push replaces or removes, so the repository holds exactly the folder's shards and tables.
REPLACED_PATTERNS = ["data/**", "metadata/**"]


def parse_target(target: str | os.PathLike) -> Path | str:
    """A local folder (when one exists at that path) or a Hub dataset id `ORG/NAME`."""
    if Path(target).is_dir():
        return Path(target)
    return check_repo_id(str(target), "ORG/NAME|DIR: no such folder, and")


def check_repo_id(repo_id: str, argument: str, namespaced: bool = True) -> str:
    """`repo_id` when it is a valid Hub repo id (`ORG/NAME` when `namespaced`), else a `UsageError` naming `argument`.

    `create_repo` also takes a bare NAME (in the token's own namespace): the training script allows it.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise UsageError(f"{argument} {repo_id!r} is not a Hub repo id ({error})") from None
    if namespaced and repo_id.count("/") != 1:
        raise UsageError(f"{argument} {repo_id!r} is not a Hub repo id ORG/NAME")
    return repo_id


def require_token() -> None:
    """Fail before any work when no token is configured (the token itself is never printed)."""
    from huggingface_hub import get_token

    if not get_token():
        raise OpenVidError(
            "no Hugging Face token found: run `hf auth login` or set HF_TOKEN to a token that can write the repository"
        )


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

    def line(self) -> str:
        where = f"{self.target}@{self.revision[:7]}" if self.revision else self.target
        if self.ok:
            return (
                f"verified {where}: {self.files} files ({format_bytes(self.bytes)}) match {MANIFEST_FILE} "
                f"in {self.seconds:.1f} s"
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
        revision = _commit_sha(api, location, revision)
        manifest_path = _download(
            api, location, MANIFEST_FILE, revision, "; not a dataset pushed by `openvid-hf push`"
        )
        manifest = Manifest.from_json(Path(manifest_path).read_bytes(), f"{location}/{MANIFEST_FILE}")
        tree = remote_tree(api, location, revision)
    problems = manifest.mismatches(tree)
    return VerifyReport(
        str(target), revision, len(manifest.files), manifest.bytes, problems, time.perf_counter() - started
    )


def remote_tree(api: HfApi, repo_id: str, revision: str) -> dict[str, TreeFile]:
    """Every file of the repository at `revision`: LFS files by their pointer's SHA-256, others hashed on demand."""
    from huggingface_hub.hf_api import RepoFile

    tree = {}
    for item in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=revision, recursive=True):
        if not isinstance(item, RepoFile):
            continue
        if item.lfs is not None:
            tree[item.path] = TreeFile(item.size, partial(str, item.lfs.sha256))
        else:
            tree[item.path] = TreeFile(item.size, partial(_downloaded_sha256, api, repo_id, item.path, revision))
    return tree


def _downloaded_sha256(api: HfApi, repo_id: str, path: str, revision: str) -> str:
    return file_sha256(_download(api, repo_id, path, revision))


def _commit_sha(api: HfApi, repo_id: str, revision: str | None) -> str:
    """The commit `revision` points to now: every later read uses it, so they see one snapshot."""
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return api.dataset_info(repo_id, revision=revision).sha
    except RevisionNotFoundError:
        raise OpenVidError(f"{repo_id}: no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise OpenVidError(f"{repo_id}: no such dataset repository on {api.endpoint} (or no access to it)") from None


def _download(api: HfApi, repo_id: str, path: str, revision: str, missing: str = "") -> str:
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return api.hf_hub_download(repo_id, path, repo_type=REPO_TYPE, revision=revision)
    except EntryNotFoundError:
        raise OpenVidError(f"{repo_id}@{revision[:7]}: no {path}{missing}") from None


@dataclass
class PushSummary:
    repo_id: str
    revision: str
    commit: str
    files: int
    bytes: int
    seconds: float
    verify: VerifyReport

    def line(self) -> str:
        state = "verified" if self.verify.ok else f"{len(self.verify.problems)} mismatch(es)"
        return (
            f"pushed {self.files} files ({format_bytes(self.bytes)}) to {self.repo_id}@{self.revision} "
            f"(commit {self.commit[:7]}) in {self.seconds:.1f} s; {state}"
        )


def push_dataset(
    out_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
) -> PushSummary:
    """Upload a built folder to the dataset repository `repo_id` (created if needed), then verify it."""
    from huggingface_hub import HfApi

    require_token()
    repo_id = check_repo_id(repo_id, "--repo-id")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    manifest_path = out_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise OpenVidError(f"{out_dir}: no {MANIFEST_FILE}; run `openvid-hf build` (to the end) first")
    manifest = Manifest.from_json(manifest_path.read_bytes(), str(manifest_path))
    write_dataset_card(out_dir, repo_id, manifest)
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, repo_type=REPO_TYPE, branch=revision, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type=REPO_TYPE,
            folder_path=out_dir,
            revision=revision,
            commit_message=commit_message or f"Publish OpenVid-1M: {manifest.samples} clips (openvid-hf)",
            ignore_patterns=list(IGNORED_PATTERNS),
            delete_patterns=list(REPLACED_PATTERNS),
        )
    except Exception as error:  # noqa: BLE001 (HTTP, transport or storage: the push is incomplete either way)
        raise OpenVidError(
            f"pushing {out_dir} to {repo_id} failed ({_describe(error)}); run the same command again to resume: "
            "files already uploaded are not sent again"
        ) from error
    report = verify_dataset(repo_id, revision=commit.oid)
    files = len(local_tree(out_dir))
    return PushSummary(
        repo_id, revision or "main", commit.oid, files, manifest.bytes, time.perf_counter() - started, report
    )


def _describe(error: BaseException) -> str:
    """The error and its cause: `upload_folder` wraps the HTTP error that says what went wrong."""
    text = f"{type(error).__name__}: {error}"
    return f"{text}: {error.__cause__}" if error.__cause__ is not None else text


def load_metadata(
    repo_or_dir: str | os.PathLike, split: str = "train", revision: str | None = None
) -> datasets.Dataset:
    """The metadata table of `split` (every clip field, its shard and member) from a built folder or a Hub repo."""
    from datasets import Dataset

    location = parse_target(repo_or_dir)
    relative = metadata_path(split)
    if isinstance(location, Path):
        path = location / relative
        if not path.is_file():
            splits = sorted(found.stem for found in (location / METADATA_DIR).glob("*.parquet"))
            raise OpenVidError(f"{location}: no {relative} (splits: {', '.join(splits) or 'none'})")
    else:
        from huggingface_hub import HfApi

        api = HfApi()
        path = _download(api, location, relative, _commit_sha(api, location, revision))
    return Dataset.from_parquet(str(path), features=metadata_table_features())
