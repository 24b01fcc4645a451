"""Publishing to the Hub: repo ids, tokens, and the one upload every publisher goes through.

The dataset push, `openvid-hf convert --push-to-hub`, the training script's export and `MVDiTPipeline.push_to_hub`
(through the `mvdit.publishing` entry point) all call `publish_folder`: create the repository (and branch) if needed,
write the card for the repository's final id, upload the folder as one commit. `upload_folder` re-sends nothing the
repository already has, so re-running a publish that failed midway completes it. A distributed publish has no
folder: its workers store their files with `preupload_file` and the driver commits them with `commit_operations`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .atomic import PARTIAL_SUFFIX
from .errors import OpenVidError, UsageError

if TYPE_CHECKING:
    from huggingface_hub import CommitInfo, CommitOperation, CommitOperationAdd, HfApi

#: Never uploaded: hidden files and folders (an unfinished build's journal) and half-written files.
IGNORED_PATTERNS = (".*", "*/.*", f"*{PARTIAL_SUFFIX}")
#: What to tell the user when an upload fails, unless the publisher knows better.
RESUME_HINT = "run the same command again to resume: files already uploaded are not sent again"


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


def describe(error: BaseException) -> str:
    """The error and its cause: `upload_folder` wraps the HTTP error that says what went wrong."""
    text = f"{type(error).__name__}: {error}"
    return f"{text}: {error.__cause__}" if error.__cause__ is not None else text


def ensure_repo(
    repo_id: str,
    repo_type: str = "model",
    private: bool | None = None,
    token: str | None = None,
    branch: str | None = None,
) -> str:
    """Create the repository (and `branch`) unless it exists; returns its full id `ORG/NAME` (a bare NAME gets the
    token's)."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        repo_id = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True).repo_id
        if branch:
            api.create_branch(repo_id, repo_type=repo_type, branch=branch, exist_ok=True)
        return repo_id
    except Exception as error:
        raise OpenVidError(f"cannot create the {repo_type} repository {repo_id}: {describe(error)}") from error


def publish_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    commit_message: str,
    repo_type: str = "model",
    write_card: Callable[[str], object] | None = None,
    private: bool | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    token: str | None = None,
    ignore_patterns: Sequence[str] | None = None,
    delete_patterns: Sequence[str] | None = None,
    parent_commit: str | None = None,
    failure_hint: str = RESUME_HINT,
) -> CommitInfo:
    """Create `repo_id` if needed, `write_card(full_repo_id)` into `folder`, then upload `folder` as one commit.

    Hidden and half-written files (`IGNORED_PATTERNS`) are never uploaded, nor `ignore_patterns`. With
    `parent_commit`, the commit lands only on top of that commit (see `commit_operations`).

    Any failure of the Hub or the transport is one `OpenVidError` naming the folder, the repository and what to
    do (`failure_hint`); nothing is retried silently.
    """
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        repo_id = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True).repo_id
        if write_card is not None:
            write_card(repo_id)
        if revision:
            api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True)
        return api.upload_folder(
            repo_id=repo_id,
            repo_type=repo_type,
            folder_path=folder,
            revision=revision,
            commit_message=commit_message,
            create_pr=create_pr,
            ignore_patterns=[*IGNORED_PATTERNS, *(ignore_patterns or ())],
            delete_patterns=list(delete_patterns) if delete_patterns else None,
            parent_commit=parent_commit,
        )
    except OpenVidError:
        raise
    except Exception as error:
        raise OpenVidError(
            _commit_failure(error, f"pushing {folder} to {repo_id}", api, revision) + f"; {failure_hint}"
        ) from error


def preupload_file(
    repo_id: str, path_in_repo: str, local_path: Path, *, repo_type: str, revision: str | None = None
) -> CommitOperationAdd:
    """Store one file's bytes in `repo_id` as an LFS (or Xet) object, uncommitted; `commit_operations` commits it.

    A worker of a distributed publish calls this for the shard it wrote, so no machine but the worker ever holds
    the file. The operation it returns pickles small (the path, size and SHA-256; a file the Hub stores as a
    regular one travels as its bytes), so the worker sends it to the driver and deletes the file. An object the
    Hub already stores is not sent again.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    operation = CommitOperationAdd(path_in_repo, str(local_path))
    try:
        api.preupload_lfs_files(repo_id, [operation], repo_type=repo_type, revision=revision)
    except Exception as error:
        raise OpenVidError(
            f"uploading {path_in_repo} to {repo_id} failed ({describe(error)}; Hub at {api.endpoint}); {RESUME_HINT}"
        ) from error
    if isinstance(operation.path_or_fileobj, str):  # a regular file: not uploaded yet, committed with its bytes
        operation.path_or_fileobj = Path(local_path).read_bytes()
    return operation


def commit_operations(
    repo_id: str,
    operations: Sequence[CommitOperation],
    *,
    commit_message: str,
    parent_commit: str,
    repo_type: str,
    revision: str | None = None,
) -> CommitInfo:
    """One commit of `operations` (files `preupload_file` stored, deletions), only on top of `parent_commit`.

    The Hub refuses a commit whose parent is no longer the branch's head, so two publishers racing on one branch
    cannot lose each other's commits: the second fails with a line saying so, and a re-run resumes from the repo.
    """
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        return api.create_commit(
            repo_id,
            operations,
            commit_message=commit_message,
            repo_type=repo_type,
            revision=revision,
            parent_commit=parent_commit,
        )
    except Exception as error:
        failure = _commit_failure(error, f"committing to {repo_id}", api, revision)
        raise OpenVidError(f"{failure}; {RESUME_HINT}") from error


def _commit_failure(error: BaseException, action: str, api: HfApi, revision: str | None) -> str:
    """What failed, and why: a stale parent commit (HTTP 412) means someone else committed meanwhile."""
    response = getattr(error, "response", None)
    if getattr(response, "status_code", None) == 412:
        return (
            f"{action} failed: the branch {revision or 'main'} moved since this run read it (another publisher "
            "committed meanwhile), so nothing was committed over it"
        )
    return f"{action} failed ({describe(error)}; Hub at {api.endpoint})"


@contextmanager
def asking_the_hub(api: HfApi) -> Iterator[None]:
    """Requests to the Hub: a transport failure (no connection, a timeout) becomes one line naming the endpoint.

    The Hub's own answers (`HfHubHTTPError`: no such repository, revision or file) pass through to the caller.
    """
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except (HfHubHTTPError, OpenVidError, OSError):
        raise
    except Exception as error:
        raise OpenVidError(
            f"cannot reach the Hub at {api.endpoint} ({describe(error)}); check the network connection and HF_ENDPOINT"
        ) from error
