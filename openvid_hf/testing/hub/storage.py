"""Repository storage of the local Hub test double: content-addressed objects and immutable commits.

The bottom layer of `openvid_hf.testing.hub`, free of HTTP, so that the Git-like model can be read on its own:
every file's bytes live once under `objects/` (named by their sha256), every commit is one JSON file holding
the whole tree, and a repository is a small JSON file with its settings, branches and tags. Old revisions
therefore stay readable by commit sha forever, and identical content is stored and uploaded once.
Standard library only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from ...atomic import write_bytes

LFS_POINTER = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
DEFAULT_BRANCH = "main"
REPO_TYPES = ("model", "dataset", "space")

#: File-name patterns a new repository stores with LFS, written to its initial `.gitattributes` as on the Hub.
_DEFAULT_LFS_PATTERNS = """
    *.7z *.arrow *.avi *.bin *.bz2 *.ckpt *.flac *.ftz *.gif *.gz *.h5 *.jpeg *.jpg *.joblib *.lfs.* *.lz4 *.mkv
    *.mlmodel *.model *.mov *.mp3 *.mp4 *.msgpack *.npy *.npz *.ogg *.onnx *.ot *.parquet *.pb *.pickle *.pkl *.png
    *.pt *.pth *.rar *.safetensors saved_model/**/* *.tar *.tar.* *.tflite *.tgz *.wasm *.wav *.webm *.webp *.xz
    *.zip *.zst *tfevents*
"""
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in _DEFAULT_LFS_PATTERNS.split()
)

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_PREFIX = re.compile(r"^[0-9a-f]{7,40}$")


class HubStorageError(Exception):
    """Base of the errors the HTTP layer turns into the Hub's status codes."""


class RepoNotFound(HubStorageError):
    """No such repository (or not visible to the caller)."""


class AlreadyExists(HubStorageError):
    """A repository, branch or tag of that name exists."""


class RevisionNotFound(HubStorageError):
    """Unknown branch, tag or commit."""


class EntryNotFound(HubStorageError):
    """No such file or folder at that revision."""


class StaleParent(HubStorageError):
    """A commit's `parentCommit` is not the head of its branch any more."""


class InvalidRequest(HubStorageError):
    """Malformed input: a bad name or path, an object that was never uploaded, a hash mismatch."""


def now_iso() -> str:
    """The Hub's timestamp format (`2024-07-01T12:00:00.000Z`)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def git_blob_oid(data: bytes) -> str:
    """The git object id of a blob, which the Hub reports as a regular file's `oid` and `ETag`."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return LFS_POINTER.format(oid=oid, size=size).encode()


def is_object_id(oid: str) -> bool:
    """Whether `oid` names an object: a lowercase hex sha256 (never a path)."""
    return bool(_SHA256.match(oid))


def validate_repo_id(repo_id: str) -> str:
    """Accept `namespace/name` only, with the Hub's character rules."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_NAME.match(part) for part in parts) or "--" in repo_id or ".." in repo_id:
        raise InvalidRequest(f"Invalid repo id {repo_id!r}: expected 'namespace/name' of [A-Za-z0-9._-]")
    return repo_id


def validate_path(path: str) -> str:
    """Reject paths that would escape the repository or that git cannot store."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts) or parts[0] == ".git":
        raise InvalidRequest(f"Invalid path in repository: {path!r}")
    return path


@dataclass(frozen=True)
class FileEntry:
    """One file of a tree: its content's sha256 (the object name), size, git blob id and storage kind."""

    sha256: str
    size: int
    blob_id: str
    lfs: bool

    @property
    def pointer_size(self) -> int:
        return len(lfs_pointer(self.sha256, self.size))


@dataclass(frozen=True)
class Folder:
    """A folder of a tree; its `oid` changes whenever anything below it changes."""

    path: str
    oid: str


@dataclass(frozen=True)
class Commit:
    """An immutable revision: the full tree plus who came before."""

    oid: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, FileEntry]

    @cached_property
    def folders(self) -> dict[str, Folder]:
        children: dict[str, list[str]] = {}
        for path, entry in self.files.items():
            parts = path.split("/")
            for depth in range(1, len(parts)):
                children.setdefault("/".join(parts[:depth]), []).append(f"{path}:{entry.blob_id}")
        return {
            folder: Folder(folder, hashlib.sha1("\n".join(sorted(items)).encode()).hexdigest())
            for folder, items in children.items()
        }

    def entry(self, path: str) -> FileEntry | Folder:
        path = path.strip("/")
        if path in self.files:
            return self.files[path]
        if path in self.folders:
            return self.folders[path]
        raise EntryNotFound(f"{path!r} does not exist at revision {self.oid}")

    def listing(self, folder: str, *, recursive: bool) -> list[tuple[str, FileEntry | Folder]]:
        """Folders then files below `folder` ("" for the root): direct children, or everything if recursive."""
        folder = folder.strip("/")
        if folder and folder not in self.folders:
            raise EntryNotFound(f"Folder {folder!r} does not exist at revision {self.oid}")
        prefix = f"{folder}/" if folder else ""

        def wanted(path: str) -> bool:
            return path.startswith(prefix) and (recursive or "/" not in path[len(prefix) :])

        folders = [(path, item) for path, item in sorted(self.folders.items()) if wanted(path)]
        files = [(path, item) for path, item in sorted(self.files.items()) if wanted(path)]
        return [*folders, *files]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Commit:
        files = {path: FileEntry(**entry) for path, entry in data["files"].items()}
        return cls(**{**data, "files": files})


@dataclass
class Repo:
    """A repository's mutable state: settings and refs (branch/tag name -> commit oid)."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    gated: str | bool = False
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AddFile:
    path: str
    entry: FileEntry


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


CommitOperation = AddFile | DeleteFile | DeleteFolder


class GitAttributes:
    """Which paths a `.gitattributes` file sends to LFS (last matching line wins, like git)."""

    def __init__(self, text: str) -> None:
        self._rules: list[tuple[str, bool]] = []
        for line in text.splitlines():
            fields = line.split()
            if fields and not fields[0].startswith("#"):
                self._rules.append((fields[0].lstrip("/"), "filter=lfs" in fields[1:]))

    def is_lfs(self, path: str) -> bool:
        verdict = False
        for pattern, lfs in self._rules:
            if matches_pattern(path, pattern):
                verdict = lfs
        return verdict


def matches_pattern(path: str, pattern: str) -> bool:
    """gitattributes/gitignore matching: a pattern without a slash matches the file name at any depth."""
    if "/" in pattern.rstrip("/"):
        return fnmatch.fnmatchcase(path, pattern.lstrip("/"))
    name = pattern.rstrip("/")
    return any(fnmatch.fnmatchcase(part, name) for part in path.split("/"))


class RepoStorage:
    """All repositories of one server, persisted under `root` (safe to reopen after a restart)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._objects = self.root / "objects"
        self._repos = self.root / "repos"
        self._incoming = self.root / "incoming"
        for folder in (self._objects, self._repos, self._incoming):
            folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._commits: dict[str, Commit] = {}

    # -- objects ---------------------------------------------------------------------------------------------

    def object_path(self, oid: str) -> Path:
        return self._objects / oid[:2] / oid

    def object_size(self, oid: str) -> int | None:
        """Size of a stored object, or None when it was never (completely) uploaded."""
        if not is_object_id(oid):
            return None
        path = self.object_path(oid)
        return path.stat().st_size if path.is_file() else None

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        if self.object_size(oid) is None:
            self.receive_object(iter([data]), oid=oid, size=len(data))
        return oid

    def receive_object(self, chunks: Iterable[bytes], *, oid: str, size: int) -> None:
        """Store an upload under its sha256, only once its bytes are complete and hash to `oid`."""
        if not is_object_id(oid):
            raise InvalidRequest(f"Invalid object id {oid!r}: expected a lowercase hex sha256")
        digest = hashlib.sha256()
        received = 0
        handle, temp_name = tempfile.mkstemp(dir=self._incoming)
        try:
            with os.fdopen(handle, "wb") as temp:
                for chunk in chunks:
                    digest.update(chunk)
                    received += len(chunk)
                    temp.write(chunk)
            if received != size or digest.hexdigest() != oid:
                raise InvalidRequest(
                    f"Upload does not match its LFS object: expected sha256 {oid} and {size} bytes,"
                    f" got sha256 {digest.hexdigest()} and {received} bytes"
                )
            self.object_path(oid).parent.mkdir(exist_ok=True)
            os.replace(temp_name, self.object_path(oid))
        finally:
            Path(temp_name).unlink(missing_ok=True)

    def file_entry(self, oid: str, *, lfs: bool, content: bytes | None = None) -> FileEntry:
        """The tree entry for a stored object (`content` is needed for regular files' git blob id)."""
        size = self.object_size(oid)
        if size is None:
            raise InvalidRequest(f"LFS object {oid} was never uploaded: upload it through the LFS batch API first")
        if lfs:
            return FileEntry(oid, size, git_blob_oid(lfs_pointer(oid, size)), lfs=True)
        if content is None:
            content = self.object_path(oid).read_bytes()
        return FileEntry(oid, size, git_blob_oid(content), lfs=False)

    # -- repositories ----------------------------------------------------------------------------------------

    def _repo_dir(self, repo_type: str, repo_id: str) -> Path:
        return self._repos / repo_type / repo_id

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool) -> Repo:
        """A new repository with the Hub's "initial commit" (a `.gitattributes` of LFS patterns)."""
        if repo_type not in REPO_TYPES:
            raise InvalidRequest(f"Invalid repo type {repo_type!r}: expected one of {REPO_TYPES}")
        validate_repo_id(repo_id)
        with self._lock:
            folder = self._repo_dir(repo_type, repo_id)
            if (folder / "repo.json").exists():
                raise AlreadyExists(f"You already created this {repo_type} repo: {repo_id}")
            (folder / "commits").mkdir(parents=True, exist_ok=True)
            repo = Repo(repo_type, repo_id, private=private, created_at=now_iso())
            content = DEFAULT_GITATTRIBUTES.encode()
            gitattributes = self.file_entry(self.put_bytes(content), lfs=False, content=content)
            initial = self._write_commit(repo, None, {".gitattributes": gitattributes}, "initial commit", "")
            repo.branches[DEFAULT_BRANCH] = initial.oid
            self._save(repo)
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self._lock:
            self.repo(repo_type, repo_id)
            shutil.rmtree(self._repo_dir(repo_type, repo_id))

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        try:
            if repo_type not in REPO_TYPES:
                raise InvalidRequest(f"Invalid repo type {repo_type!r}")
            path = self._repo_dir(repo_type, validate_repo_id(repo_id)) / "repo.json"
        except InvalidRequest as error:
            raise RepoNotFound(f"Repository {repo_type}s/{repo_id} not found") from error
        with self._lock:
            if not path.is_file():
                raise RepoNotFound(f"Repository {repo_type}s/{repo_id} not found")
            return Repo(**json.loads(path.read_text()))

    def update_settings(self, repo: Repo, *, private: bool | None = None, gated: str | bool | None = None) -> Repo:
        with self._lock:
            current = self.repo(repo.repo_type, repo.repo_id)
            if private is not None:
                current.private = private
            if gated is not None:
                current.gated = gated
            self._save(current)
            return current

    def _save(self, repo: Repo) -> None:
        path = self._repo_dir(repo.repo_type, repo.repo_id) / "repo.json"
        write_bytes(path, json.dumps(asdict(repo), indent=1).encode())

    # -- revisions -------------------------------------------------------------------------------------------

    def resolve(self, repo: Repo, revision: str | None) -> Commit:
        """A branch, a tag (also as `refs/heads/x`, `refs/tags/x`), a commit sha or a unique sha prefix."""
        revision = revision or DEFAULT_BRANCH
        name = revision.removeprefix("refs/heads/").removeprefix("refs/tags/")
        oid = repo.branches.get(name) or repo.tags.get(name)
        if oid is None and _COMMIT_PREFIX.match(revision):
            candidates = [c for c in self._commit_oids(repo) if c.startswith(revision)]
            oid = candidates[0] if len(candidates) == 1 else None
        if oid is None:
            raise RevisionNotFound(f"Invalid rev id: {revision}")
        return self.commit_by_oid(repo, oid)

    def commit_by_oid(self, repo: Repo, oid: str) -> Commit:
        commit = self._commits.get(oid)
        if commit is None:
            path = self._repo_dir(repo.repo_type, repo.repo_id) / "commits" / f"{oid}.json"
            if not path.is_file():
                raise RevisionNotFound(f"Invalid rev id: {oid}")
            commit = self._commits.setdefault(oid, Commit.from_json(json.loads(path.read_text())))
        return commit

    def _commit_oids(self, repo: Repo) -> list[str]:
        return [path.stem for path in (self._repo_dir(repo.repo_type, repo.repo_id) / "commits").glob("*.json")]

    def history(self, repo: Repo, commit: Commit) -> Iterator[Commit]:
        """`commit` and its ancestors, newest first."""
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.commit_by_oid(repo, current.parent) if current.parent else None

    def last_changes(self, repo: Repo, commit: Commit, paths: Iterable[str]) -> dict[str, Commit]:
        """For each path (file or folder), the newest commit in `commit`'s history that changed it."""
        pending = set(paths)
        found: dict[str, Commit] = {}
        for current in self.history(repo, commit):
            if not pending:
                break
            parent_files = self.commit_by_oid(repo, current.parent).files if current.parent else {}
            changed = {
                path
                for path in current.files.keys() | parent_files.keys()
                if current.files.get(path) != parent_files.get(path)
            }
            for path in list(pending):
                if path in changed or any(changed_path.startswith(f"{path}/") for changed_path in changed):
                    found[path] = current
                    pending.discard(path)
        return found

    def create_ref(self, repo: Repo, kind: str, name: str, revision: str | None) -> Commit:
        """Create a branch or tag (`kind` is "branches" or "tags") pointing at `revision`."""
        if not name or name.startswith(("refs/", "/")) or ".." in name or name.endswith("/"):
            raise InvalidRequest(f"Invalid reference name {name!r}")
        with self._lock:
            current = self.repo(repo.repo_type, repo.repo_id)
            if name in current.branches or name in current.tags:
                raise AlreadyExists(f"Reference already exists: {name}")
            target = self.resolve(current, revision)
            getattr(current, kind)[name] = target.oid
            self._save(current)
            return target

    def commit(
        self,
        repo: Repo,
        branch: str,
        operations: Iterable[CommitOperation],
        *,
        title: str,
        message: str,
        parent: str | None,
    ) -> Commit:
        """Apply operations on top of the branch head and move the branch, atomically per server."""
        with self._lock:
            current = self.repo(repo.repo_type, repo.repo_id)
            head_oid = current.branches.get(branch)
            if head_oid is None:
                raise RevisionNotFound(f"Invalid rev id: {branch} (commits go to an existing branch)")
            if parent is not None and parent != head_oid:
                raise StaleParent("A commit has happened since. Please refresh and try again.")
            files = dict(self.commit_by_oid(current, head_oid).files)
            for operation in operations:
                _apply(files, operation)
            new = self._write_commit(current, head_oid, files, title, message)
            current.branches[branch] = new.oid
            self._save(current)
            return new

    def _write_commit(
        self, repo: Repo, parent: str | None, files: dict[str, FileEntry], title: str, message: str
    ) -> Commit:
        date = now_iso()
        fingerprint = json.dumps([parent, title, message, date, sorted(files), uuid.uuid4().hex])
        commit = Commit(hashlib.sha1(fingerprint.encode()).hexdigest(), parent, title, message, date, files)
        path = self._repo_dir(repo.repo_type, repo.repo_id) / "commits" / f"{commit.oid}.json"
        write_bytes(path, json.dumps(commit.to_json()).encode())
        self._commits[commit.oid] = commit
        return commit


def _apply(files: dict[str, FileEntry], operation: CommitOperation) -> None:
    if isinstance(operation, AddFile):
        path = validate_path(operation.path)
        parents = {"/".join(path.split("/")[:depth]) for depth in range(1, path.count("/") + 1)}
        if parents & files.keys() or any(existing.startswith(f"{path}/") for existing in files):
            raise InvalidRequest(f"Cannot add {path!r}: a file and a folder would share a name")
        files[path] = operation.entry
    elif isinstance(operation, DeleteFile):
        if files.pop(operation.path, None) is None:
            raise EntryNotFound(f"A file with this name doesn't exist: {operation.path}")
    else:
        prefix = operation.path.strip("/") + "/"
        doomed = [path for path in files if path.startswith(prefix)]
        if not doomed:
            raise EntryNotFound(f"A folder with this name doesn't exist: {operation.path}")
        for path in doomed:
            del files[path]
