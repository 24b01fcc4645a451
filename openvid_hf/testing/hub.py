"""A local Hugging Face Hub-compatible HTTP server: a test double of the Hub, not a production server.

The unmodified `huggingface_hub`, `datasets` and `diffusers` clients accept it with
`HF_ENDPOINT=<endpoint>` and `HF_HUB_DISABLE_XET=1`. It speaks the subset of the Hub's HTTP API those clients
use to create repositories, commit (preupload, the Git LFS batch API with basic transfer and verify, the NDJSON
commit), list and download, with the Hub's status codes and `X-Error-Code` headers. LFS files are served like
the Hub serves them: `/resolve` answers with a redirect to a second "storage" origin (signed URLs, no
authorization header), carrying `X-Linked-Etag` / `X-Linked-Size`.

Tests read `HubServer.request_log` (or `recording()`) to prove what crossed the wire, and arm `fault()` to make
a route fail mid-way. Run standalone with `python -m openvid_hf.testing.hub --root DIR [--port PORT]`: the first
line printed is the endpoint URL. See docs/hub_server.md. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from .hub_storage import (
    DEFAULT_GITATTRIBUTES,
    AddFile,
    AlreadyExists,
    Commit,
    CommitOperation,
    DeleteFile,
    DeleteFolder,
    EntryNotFound,
    FileEntry,
    Folder,
    GitAttributes,
    HubStorageError,
    InvalidRequest,
    Repo,
    RepoNotFound,
    RepoStorage,
    RevisionNotFound,
    StaleParent,
    is_object_id,
    matches_pattern,
    validate_path,
)

logger = logging.getLogger(__name__)

#: Files at least this large are stored with LFS whatever their name (the Hub's limit for regular files).
LFS_THRESHOLD = 10 * 1024 * 1024
#: The account every token belongs to; repositories created without a namespace go there.
USER_NAME = "local-user"
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50
_COPY_CHUNK = 1 << 20
_SAMPLE_BYTES = 512
_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_PLURAL_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_STORAGE_ERRORS: dict[type[HubStorageError], tuple[int, str | None]] = {
    RepoNotFound: (HTTPStatus.NOT_FOUND, "RepoNotFound"),
    RevisionNotFound: (HTTPStatus.NOT_FOUND, "RevisionNotFound"),
    EntryNotFound: (HTTPStatus.NOT_FOUND, "EntryNotFound"),
    AlreadyExists: (HTTPStatus.CONFLICT, None),
    StaleParent: (HTTPStatus.PRECONDITION_FAILED, None),
    InvalidRequest: (HTTPStatus.BAD_REQUEST, None),
}


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it, for tests that assert on traffic.

    `route` names the endpoint ("resolve", "lfs-upload", "lfs-download", "commit", "preupload", "tree", ...);
    `body_bytes` is the length of the response body the server sent or began to send (0 for HEAD);
    `received_bytes` is the request body's length.
    """

    origin: str
    method: str
    path: str
    route: str
    status: int
    range: str | None
    body_bytes: int
    received_bytes: int
    authenticated: bool


class HubHTTPError(Exception):
    """An error response with the Hub's status, `X-Error-Code` and message."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    @classmethod
    def from_storage(cls, error: HubStorageError, headers: dict[str, str] | None = None) -> HubHTTPError:
        status, code = _STORAGE_ERRORS[type(error)]
        return cls(status, str(error), code=code, headers=headers)

    def response(self) -> Response:
        summary = self.message.splitlines()[0].encode("ascii", "backslashreplace").decode()  # headers are latin-1
        headers = {**self.headers, "X-Error-Message": summary}
        if self.code:
            headers["X-Error-Code"] = self.code
        return json_response({"error": self.message}, status=self.status, headers=headers)


@dataclass
class Response:
    """A response body held in memory, or a byte range of a stored file."""

    status: int = HTTPStatus.OK
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    file: Path | None = None
    offset: int = 0
    length: int = 0

    @property
    def body_length(self) -> int:
        return self.length if self.file is not None else len(self.body)


def json_response(data: Any, *, status: int = HTTPStatus.OK, headers: dict[str, str] | None = None) -> Response:
    content_type = {"Content-Type": "application/json; charset=utf-8"}
    return Response(status, {**content_type, **(headers or {})}, json.dumps(data).encode())


class Request:
    """The parts of an HTTP request the routes need; the body is read lazily and always drained."""

    def __init__(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        self.method = handler.command
        self.target = handler.path
        self.url_path = url.path
        self.segments = [unquote(segment) for segment in url.path.split("/")[1:]]
        while self.segments and not self.segments[-1]:
            self.segments.pop()
        self.query = parse_qs(url.query, keep_blank_values=True)
        self.headers = handler.headers
        authorization = handler.headers.get("Authorization", "")
        token = authorization[len("Bearer ") :].strip() if authorization.startswith("Bearer ") else ""
        self.token = token or None
        self.received_bytes = 0
        self._rfile = handler.rfile
        self._chunks = self._read_body()

    def flag(self, name: str) -> bool:
        return self.query.get(name, [""])[-1].lower() in ("1", "true", "yes")

    def body_chunks(self) -> Iterator[bytes]:
        """The request body's chunks; whatever a consumer leaves unread, `drain()` reads later."""
        return self._chunks

    def _read_body(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while size := int(self._rfile.readline().split(b";")[0].strip() or b"0", 16):
                yield from self._read_exactly(size)
                self._rfile.readline()
            while self._rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
        else:
            yield from self._read_exactly(int(self.headers.get("Content-Length") or 0))

    def _read_exactly(self, remaining: int) -> Iterator[bytes]:
        while remaining > 0:
            chunk = self._rfile.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            remaining -= len(chunk)
            self.received_bytes += len(chunk)
            yield chunk

    def body(self) -> bytes:
        return b"".join(self.body_chunks())

    def drain(self) -> None:
        for _ in self.body_chunks():
            pass

    def json(self) -> Any:
        try:
            return json.loads(self.body() or b"{}")
        except ValueError as error:
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, f"Request body is not valid JSON: {error}") from error

    def form(self) -> dict[str, list[str]]:
        """A form-encoded body (as httpx sends `data=`), or a JSON object whose values become lists."""
        if "json" in self.headers.get("Content-Type", ""):
            data = self.json()
            return {key: value if isinstance(value, list) else [value] for key, value in data.items()}
        return parse_qs(self.body().decode(), keep_blank_values=True)


class HubServer:
    """A Hub-compatible server on 127.0.0.1 (a free port unless given), repositories stored under `root`.

    Use as a context manager or call `start()`/`stop()`. Any non-empty bearer token may write and may read
    private repositories; without a token, private repositories do not exist (404 `RepoNotFound`).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        lfs_threshold: int = LFS_THRESHOLD,
    ) -> None:
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="openvid-hub-")) if root is None else Path(root)
        self.storage = RepoStorage(self.root)
        self.host = host
        self.port = port
        self.lfs_threshold = lfs_threshold
        self._secret = secrets.token_bytes(32)
        self._servers: list[_HTTPServer] = []
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._recorders: list[list[RequestRecord]] = []
        self._faults: dict[str, list[int]] = {}
        self._api = _HubApi(self)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> HubServer:
        if self._servers:
            return self
        api = _HTTPServer((self.host, self.port), self, "api", self._api.route)
        storage = _HTTPServer((self.host, 0), self, "storage", self._api.route_storage)
        self._servers = [api, storage]
        for server in self._servers:
            name = f"openvid-hub-{server.origin}"
            threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True
            ).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.close()
        self._servers = []
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """The URL to use as `HF_ENDPOINT`."""
        return self._url(0)

    @property
    def storage_endpoint(self) -> str:
        """The origin LFS objects are uploaded to and downloaded from (the Hub's CDN/S3 role)."""
        return self._url(1)

    def _url(self, index: int) -> str:
        if not self._servers:
            raise RuntimeError("HubServer is not running: call start() or use it as a context manager")
        host, port = self._servers[index].server_address[:2]
        return f"http://{host}:{port}"

    # -- accounting and faults -------------------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every request since the server started, oldest first."""
        with self._lock:
            return list(self._log)

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[RequestRecord]]:
        """Collect the requests made while the block runs (a live list, complete when the block exits)."""
        records: list[RequestRecord] = []
        with self._lock:
            self._recorders.append(records)
        try:
            yield records
        finally:
            with self._lock:
                self._recorders.remove(records)

    @contextlib.contextmanager
    def fault(self, route: str, *, after: int = 0, status: int = HTTPStatus.INSUFFICIENT_STORAGE) -> Iterator[None]:
        """Answer `status` to every `route` request after the first `after` ones, until the block exits.

        The default status (507) is one the clients do not retry, so the failure surfaces at once, as when an
        upload is killed mid-way; the failed requests' bodies are read and discarded, nothing is stored.
        """
        with self._lock:
            self._faults[route] = [after, status]
        try:
            yield
        finally:
            with self._lock:
                self._faults.pop(route, None)

    def _injected_status(self, route: str) -> int | None:
        with self._lock:
            fault = self._faults.get(route)
            if fault is None:
                return None
            if fault[0] > 0:
                fault[0] -= 1
                return None
            return fault[1]

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self._log.append(record)
            for records in self._recorders:
                records.append(record)

    # -- signed storage URLs ---------------------------------------------------------------------------------

    def _signature(self, *parts: str) -> str:
        return hmac.new(self._secret, ":".join(parts).encode(), hashlib.sha256).hexdigest()

    def upload_url(self, oid: str, size: int) -> str:
        query = urlencode({"size": size, "sig": self._signature("PUT", oid, str(size))})
        return f"{self.storage_endpoint}/objects/{oid}?{query}"

    def download_url(self, oid: str) -> str:
        return f"{self.storage_endpoint}/objects/{oid}?{urlencode({'sig': self._signature('GET', oid)})}"

    def check_signature(self, signature: str, *parts: str) -> None:
        if not hmac.compare_digest(signature, self._signature(*parts)):
            raise HubHTTPError(HTTPStatus.FORBIDDEN, "Invalid or missing signature on a storage URL")

    def repo_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.endpoint}/{_URL_PREFIXES[repo_type]}{repo_id}"


Route = tuple[str, Callable[[], Response]]


class _HubApi:
    """The Hub's endpoints: pick a route for a request, then build its response."""

    def __init__(self, hub: HubServer) -> None:
        self.hub = hub
        self.storage = hub.storage

    # -- routing ---------------------------------------------------------------------------------------------

    def route(self, request: Request) -> Route:
        method, segments = request.method, request.segments
        if segments[:1] == ["api"]:
            return self._route_api(request, method, segments[1:])
        repo_type = "model"
        if segments[:1] and segments[0] in ("datasets", "spaces"):
            repo_type, segments = _PLURAL_TYPES[segments[0]], segments[1:]
        match method, segments:
            case "POST", [namespace, name, "info", "lfs", "objects", "batch"] if name.endswith(".git"):
                return "lfs-batch", partial(self.lfs_batch, request, repo_type, f"{namespace}/{name[:-4]}")
            case "POST", [namespace, name, "info", "lfs", "objects", "verify"] if name.endswith(".git"):
                return "lfs-verify", partial(self.lfs_verify, request, repo_type, f"{namespace}/{name[:-4]}")
            case "GET" | "HEAD", [namespace, name, "resolve", revision, *path] if path:
                return "resolve", partial(self.resolve, request, repo_type, f"{namespace}/{name}", revision, path)
        return _unknown(request)

    def _route_api(self, request: Request, method: str, segments: list[str]) -> Route:
        match method, segments:
            case "GET", ["whoami-v2"]:
                return "whoami", partial(self.whoami, request)
            case "POST", ["repos", "create"]:
                return "create-repo", partial(self.create_repo, request)
            case "DELETE", ["repos", "delete"]:
                return "delete-repo", partial(self.delete_repo, request)
            case "POST", ["validate-yaml"]:
                return "validate-yaml", lambda: json_response({"errors": [], "warnings": []})
            case "GET", ["agent-harnesses"]:
                return "agent-harnesses", lambda: json_response({"standardEnvVars": [], "harnesses": {}})
            case _, [plural, namespace, name, *action] if plural in _PLURAL_TYPES:
                repo = (_PLURAL_TYPES[plural], f"{namespace}/{name}")
                return self._route_repo(request, method, repo, action)
        return _unknown(request)

    def _route_repo(self, request: Request, method: str, repo: tuple[str, str], action: list[str]) -> Route:
        match method, action:
            case "GET", []:
                return "repo-info", partial(self.repo_info, request, *repo, None)
            case "GET", ["revision", revision]:
                return "repo-info", partial(self.repo_info, request, *repo, revision)
            case "GET", ["tree", revision, *path]:
                return "tree", partial(self.tree, request, *repo, revision, "/".join(path))
            case "POST", ["paths-info", revision]:
                return "paths-info", partial(self.paths_info, request, *repo, revision)
            case "GET", ["refs"]:
                return "refs", partial(self.refs, request, *repo)
            case "GET", ["commits", revision]:
                return "commits", partial(self.commits, request, *repo, revision)
            case "POST", ["preupload", revision]:
                return "preupload", partial(self.preupload, request, *repo, revision)
            case "POST", ["commit", revision]:
                return "commit", partial(self.commit, request, *repo, revision)
            case "PUT", ["settings"]:
                return "settings", partial(self.settings, request, *repo)
            case "POST", ["branch", branch]:
                return "branch", partial(self.create_branch, request, *repo, branch)
            case "POST", ["tag", revision]:
                return "tag", partial(self.create_tag, request, *repo, revision)
        return _unknown(request)

    def route_storage(self, request: Request) -> Route:
        match request.method, request.segments:
            case "PUT", ["objects", oid]:
                return "lfs-upload", partial(self.put_object, request, oid)
            case "GET" | "HEAD", ["objects", oid]:
                return "lfs-download", partial(self.get_object, request, oid)
        return _unknown(request)

    # -- access control --------------------------------------------------------------------------------------

    def _readable(self, request: Request, repo_type: str, repo_id: str) -> Repo:
        repo = self.storage.repo(repo_type, repo_id)
        if repo.private and request.token is None:
            raise RepoNotFound(f"Repository {repo_type}s/{repo_id} not found")
        return repo

    def _writable(self, request: Request, repo_type: str, repo_id: str) -> Repo:
        _require_token(request)
        return self._readable(request, repo_type, repo_id)

    # -- account and repositories ----------------------------------------------------------------------------

    def whoami(self, request: Request) -> Response:
        _require_token(request)
        token_info = {"displayName": "local", "role": "write"}
        return json_response(
            {
                "type": "user",
                "id": USER_NAME,
                "name": USER_NAME,
                "fullname": USER_NAME,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": token_info},
            }
        )

    def create_repo(self, request: Request) -> Response:
        _require_token(request)
        payload = request.json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or USER_NAME}/{payload.get('name')}"
        private = payload.get("visibility") == "private" or payload.get("private") is True
        try:
            self.storage.create_repo(repo_type, repo_id, private=private)
        except AlreadyExists as error:
            url = self.hub.repo_url(repo_type, repo_id)
            return json_response({"error": str(error), "url": url}, status=HTTPStatus.CONFLICT)
        return json_response({"url": self.hub.repo_url(repo_type, repo_id), "name": repo_id, "id": repo_id})

    def delete_repo(self, request: Request) -> Response:
        _require_token(request)
        payload = request.json()
        repo_id = f"{payload.get('organization') or USER_NAME}/{payload.get('name')}"
        self.storage.delete_repo(payload.get("type") or "model", repo_id)
        return json_response({})

    def settings(self, request: Request, repo_type: str, repo_id: str) -> Response:
        repo = self._writable(request, repo_type, repo_id)
        payload = request.json()
        private = {"private": True, "public": False}.get(payload.get("visibility"), payload.get("private"))
        gated = payload.get("gated")
        if gated not in (None, False, "auto", "manual"):
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, f"Invalid gated value {gated!r}")
        self.storage.update_settings(repo, private=private, gated=gated)
        return json_response({})

    def repo_info(self, request: Request, repo_type: str, repo_id: str, revision: str | None) -> Response:
        repo = self._readable(request, repo_type, repo_id)
        commit = self.storage.resolve(repo, revision)
        blobs = request.flag("blobs")
        siblings = [_sibling(path, entry, blobs) for path, entry in sorted(commit.files.items())]
        return json_response(
            {
                "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": commit.oid,
                "lastModified": commit.date,
                "createdAt": repo.created_at,
                "private": repo.private,
                "gated": repo.gated,
                "disabled": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
                "usedStorage": sum(entry.size for entry in commit.files.values()),
            }
        )

    def refs(self, request: Request, repo_type: str, repo_id: str) -> Response:
        repo = self._readable(request, repo_type, repo_id)

        def refs_of(kind: str, names: dict[str, str]) -> list[dict[str, str]]:
            return [{"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid} for name, oid in names.items()]

        return json_response(
            {
                "branches": refs_of("heads", repo.branches),
                "tags": refs_of("tags", repo.tags),
                "converts": [],
                "pullRequests": [],
            }
        )

    def create_branch(self, request: Request, repo_type: str, repo_id: str, branch: str) -> Response:
        repo = self._writable(request, repo_type, repo_id)
        self.storage.create_ref(repo, "branches", branch, request.json().get("startingPoint"))
        return json_response({})

    def create_tag(self, request: Request, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._writable(request, repo_type, repo_id)
        self.storage.create_ref(repo, "tags", request.json().get("tag", ""), revision)
        return json_response({})

    # -- listing ---------------------------------------------------------------------------------------------

    def tree(self, request: Request, repo_type: str, repo_id: str, revision: str, path: str) -> Response:
        repo = self._readable(request, repo_type, repo_id)
        commit = self.storage.resolve(repo, revision)
        expand = request.flag("expand")
        items = commit.listing(path, recursive=request.flag("recursive"))
        page_size = TREE_PAGE_SIZE_EXPANDED if expand else TREE_PAGE_SIZE
        page, link = self._page(request, items, page_size)
        return json_response(self._describe(repo, commit, page, expand), headers=link)

    def paths_info(self, request: Request, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._readable(request, repo_type, repo_id)
        commit = self.storage.resolve(repo, revision)
        form = request.form()
        expand = str(form.get("expand", ["false"])[-1]).lower() in ("1", "true")
        found = []
        for path in dict.fromkeys(str(path).strip("/") for path in form.get("paths", [])):
            try:
                found.append((path, commit.entry(path)))
            except EntryNotFound:
                continue
        return json_response(self._describe(repo, commit, found, expand))

    def commits(self, request: Request, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._readable(request, repo_type, repo_id)
        history = list(self.storage.history(repo, self.storage.resolve(repo, revision)))
        page, link = self._page(request, history, TREE_PAGE_SIZE_EXPANDED)
        return json_response(
            [
                {"id": c.oid, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": USER_NAME}]}
                for c in page
            ],
            headers=link,
        )

    def _describe(
        self, repo: Repo, commit: Commit, items: list[tuple[str, FileEntry | Folder]], expand: bool
    ) -> list[dict]:
        last = self.storage.last_changes(repo, commit, [path for path, _ in items]) if expand else {}
        return [_tree_item(path, item, last.get(path)) for path, item in items]

    def _page(self, request: Request, items: list, page_size: int) -> tuple[list, dict[str, str]]:
        """One page of `items` and, when more follow, a GitHub-style `Link: <...>; rel="next"` header."""
        try:
            start = int(request.query.get("cursor", ["0"])[-1])
        except ValueError as error:
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, "Invalid pagination cursor") from error
        end = start + page_size
        if end >= len(items):
            return items[start:], {}
        query = {key: values[-1] for key, values in request.query.items()}
        next_url = f"{self.hub.endpoint}{request.url_path}?{urlencode({**query, 'cursor': end})}"
        return items[start:end], {"Link": f'<{next_url}>; rel="next"'}

    # -- uploads ---------------------------------------------------------------------------------------------

    def preupload(self, request: Request, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._writable(request, repo_type, repo_id)
        commit = self.storage.resolve(repo, revision)
        payload = request.json()
        attributes = GitAttributes(self._text(commit, ".gitattributes") or DEFAULT_GITATTRIBUTES)
        ignore_rules = payload.get("gitIgnore") or self._text(commit, ".gitignore") or ""
        answers = []
        for file in payload.get("files", []):
            path = validate_path(str(file.get("path", "")))
            sample = _decode_base64(file.get("sample", ""))[:_SAMPLE_BYTES]
            lfs = int(file.get("size", 0)) >= self.hub.lfs_threshold or attributes.is_lfs(path) or b"\0" in sample
            mode = "lfs" if lfs else "regular"
            answer = {"path": path, "uploadMode": mode, "shouldIgnore": _is_ignored(path, ignore_rules)}
            existing = commit.files.get(path)
            if existing is not None:
                answer["oid"] = existing.sha256 if existing.lfs else existing.blob_id
            answers.append(answer)
        return json_response({"files": answers, "commitOid": commit.oid})

    def _text(self, commit: Commit, path: str) -> str | None:
        entry = commit.files.get(path)
        if entry is None:
            return None
        return self.storage.object_path(entry.sha256).read_text(errors="replace")

    def lfs_batch(self, request: Request, repo_type: str, repo_id: str) -> Response:
        self._writable(request, repo_type, repo_id)
        payload = request.json()
        if payload.get("operation") != "upload":
            message = f"Unsupported LFS operation {payload.get('operation')!r}: this test double only takes uploads"
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, message)
        verify_url = f"{self.hub.repo_url(repo_type, repo_id)}.git/info/lfs/objects/verify"
        objects = []
        for item in payload.get("objects", []):
            oid, size = str(item.get("oid", "")), item.get("size")
            stored = self.storage.object_size(oid)
            described = {"oid": oid, "size": size}
            if not is_object_id(oid) or not isinstance(size, int) or size < 0:
                objects.append({**described, "error": {"code": 422, "message": "Invalid oid or size"}})
            elif stored == size:
                objects.append(described)
            else:
                actions = {"upload": {"href": self.hub.upload_url(oid, size)}, "verify": {"href": verify_url}}
                objects.append({**described, "authenticated": True, "actions": actions})
        body = {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}
        return json_response(body, headers={"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_verify(self, request: Request, repo_type: str, repo_id: str) -> Response:
        self._writable(request, repo_type, repo_id)
        payload = request.json()
        oid, size = str(payload.get("oid", "")), payload.get("size")
        stored = self.storage.object_size(oid)
        if stored is None or stored != size:
            message = f"LFS object {oid} of {size} bytes was not received"
            raise HubHTTPError(HTTPStatus.UNPROCESSABLE_ENTITY, message)
        return json_response({"success": True})

    def put_object(self, request: Request, oid: str) -> Response:
        size = request.query.get("size", [""])[-1]
        self.hub.check_signature(request.query.get("sig", [""])[-1], "PUT", oid, size)
        if self.storage.object_size(oid) == int(size):
            request.drain()
        else:
            self.storage.receive_object(request.body_chunks(), oid=oid, size=int(size))
        return Response(headers={"ETag": f'"{oid}"'})

    def commit(self, request: Request, repo_type: str, repo_id: str, branch: str) -> Response:
        repo = self._writable(request, repo_type, repo_id)
        if request.flag("create_pr"):
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, "Pull requests are not supported by the local Hub test double")
        header, operations = self._parse_commit(request.body())
        commit = self.storage.commit(
            repo,
            branch,
            operations,
            title=header.get("summary") or "",
            message=header.get("description") or "",
            parent=header.get("parentCommit"),
        )
        return json_response(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self.hub.repo_url(repo_type, repo_id)}/commit/{commit.oid}",
                "hookOutput": "",
                "pullRequestUrl": None,
            }
        )

    def _parse_commit(self, body: bytes) -> tuple[dict, list[CommitOperation]]:
        """The NDJSON commit payload: a `header` line, then one operation per line."""
        header: dict | None = None
        operations: list[CommitOperation] = []
        for number, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if item["key"] == "header":
                    header = dict(item["value"])
                else:
                    operations.append(self._commit_operation(item["key"], item["value"]))
            except (ValueError, KeyError, TypeError) as error:
                message = f"Commit payload line {number} is malformed: {type(error).__name__}: {error}"
                raise HubHTTPError(HTTPStatus.BAD_REQUEST, message) from error
        if header is None or not header.get("summary"):
            raise HubHTTPError(HTTPStatus.BAD_REQUEST, "Commit payload needs a header line with a summary")
        return header, operations

    def _commit_operation(self, key: str, value: dict) -> CommitOperation:
        if key == "file":
            if value.get("encoding", "base64") != "base64":
                raise ValueError(f"unsupported encoding {value['encoding']!r}")
            content = _decode_base64(value["content"])
            entry = self.storage.file_entry(self.storage.put_bytes(content), lfs=False, content=content)
            return AddFile(value["path"], entry)
        if key == "lfsFile":
            entry = self.storage.file_entry(value["oid"], lfs=True)
            if value.get("size") not in (None, entry.size):
                raise InvalidRequest(f"LFS object {value['oid']} has {entry.size} bytes, not {value['size']}")
            return AddFile(value["path"], entry)
        if key == "deletedFile":
            return DeleteFile(value["path"])
        if key == "deletedFolder":
            return DeleteFolder(value["path"])
        raise ValueError(f"unknown operation {key!r}")

    # -- downloads -------------------------------------------------------------------------------------------

    def resolve(self, request: Request, repo_type: str, repo_id: str, revision: str, path: list[str]) -> Response:
        repo = self._readable(request, repo_type, repo_id)
        if repo.gated and request.token is None:
            message = f"Access to {repo_type} {repo_id} is restricted. You must be authenticated to access it."
            raise HubHTTPError(HTTPStatus.UNAUTHORIZED, message, code="GatedRepo")
        commit = self.storage.resolve(repo, revision)
        headers = {"X-Repo-Commit": commit.oid, "Accept-Ranges": "bytes"}
        entry = commit.files.get("/".join(path))
        if entry is None:
            raise HubHTTPError.from_storage(EntryNotFound(f"Entry not found: {'/'.join(path)}"), headers)
        if entry.lfs:
            linked = {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
            location = {"Location": self.hub.download_url(entry.sha256), "ETag": f'"{entry.sha256}"'}
            return Response(HTTPStatus.FOUND, {**headers, **linked, **location})
        return self._file(request, entry.sha256, entry.size, {**headers, "ETag": f'"{entry.blob_id}"'})

    def get_object(self, request: Request, oid: str) -> Response:
        self.hub.check_signature(request.query.get("sig", [""])[-1], "GET", oid)
        size = self.storage.object_size(oid)
        if size is None:
            raise HubHTTPError(HTTPStatus.NOT_FOUND, f"No object {oid}")
        return self._file(request, oid, size, {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"})

    def _file(self, request: Request, oid: str, size: int, headers: dict[str, str]) -> Response:
        """The object's bytes, honouring a single `Range: bytes=...` (206, or 416 when unsatisfiable)."""
        headers = {**headers, "Content-Type": "application/octet-stream"}
        byte_range = _parse_range(request.headers.get("Range"), size)
        path = self.storage.object_path(oid)
        if byte_range is None:
            return Response(HTTPStatus.OK, headers, file=path, length=size)
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(HTTPStatus.PARTIAL_CONTENT, headers, file=path, offset=start, length=end - start + 1)


def _unknown(request: Request) -> Route:
    def not_implemented() -> Response:
        message = f"{request.method} {request.url_path} is not implemented by the local Hub test double"
        raise HubHTTPError(HTTPStatus.NOT_IMPLEMENTED, message)

    return "unknown", not_implemented


def _require_token(request: Request) -> None:
    if request.token is None:
        message = "Invalid username or password: this endpoint needs 'Authorization: Bearer <token>'"
        raise HubHTTPError(HTTPStatus.UNAUTHORIZED, message)


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise HubHTTPError(HTTPStatus.BAD_REQUEST, "Invalid base64 content") from error


def _is_ignored(path: str, gitignore: str) -> bool:
    ignored = False
    for line in gitignore.splitlines():
        pattern = line.strip()
        if pattern and not pattern.startswith("#"):
            negated = pattern.startswith("!")
            if matches_pattern(path, pattern.removeprefix("!")):
                ignored = not negated
    return ignored


def _sibling(path: str, entry: FileEntry, blobs: bool) -> dict:
    if not blobs:
        return {"rfilename": path}
    lfs = {"size": entry.size, "sha256": entry.sha256, "pointerSize": entry.pointer_size} if entry.lfs else None
    return {"rfilename": path, "size": entry.size, "blobId": entry.blob_id, "lfs": lfs}


def _tree_item(path: str, item: FileEntry | Folder, last_commit: Commit | None) -> dict:
    if isinstance(item, Folder):
        described: dict[str, Any] = {"type": "directory", "oid": item.oid, "size": 0, "path": path}
    else:
        described = {"type": "file", "oid": item.blob_id, "size": item.size, "path": path}
        if item.lfs:
            described["lfs"] = {"oid": item.sha256, "size": item.size, "pointerSize": item.pointer_size}
    if last_commit is not None:
        described["lastCommit"] = {"id": last_commit.oid, "title": last_commit.title, "date": last_commit.date}
    return described


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for one `bytes=` range; None (whole file) when absent or not a single range."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, dash, last = header[len("bytes=") :].strip().partition("-")
    if not dash or not (first or last) or not all(part.isdigit() for part in (first, last) if part):
        return None
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:
        start, end = max(size - int(last), 0), size - 1
    if start > end:
        raise HubHTTPError(
            HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
            f"Range {header} not satisfiable for {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


class _HTTPServer(ThreadingHTTPServer):
    """One origin (API or storage); remembers open connections so that `close()` ends keep-alive ones too."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], hub: HubServer, origin: str, router: Callable[[Request], Route]
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.hub = hub
        self.origin = origin
        self.router = router
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its keep-alive connection (a process exiting) is normal: no traceback for it."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 120
    server: _HTTPServer

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        request = Request(self)
        route, action = self.server.router(request)
        try:
            injected = self.server.hub._injected_status(route)
            if injected is not None:
                request.drain()
                raise HubHTTPError(injected, f"Fault injected on route {route!r} by the test")
            response = action()
            request.drain()
        except HubHTTPError as error:
            response = error.response()
        except HubStorageError as error:
            response = HubHTTPError.from_storage(error).response()
        except ConnectionError:
            self.close_connection = True
            return
        except Exception as error:
            logger.exception("local Hub: %s %s failed", request.method, request.target)
            response = HubHTTPError(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(error).__name__}: {error}").response()
        try:
            request.drain()
        except ConnectionError:
            self.close_connection = True
            return
        self._send(request, route, response)

    def _send(self, request: Request, route: str, response: Response) -> None:
        head_only = request.method == "HEAD"
        self.send_response(response.status)
        request_id = self.headers.get("X-Amzn-Trace-Id") or self.headers.get("X-Request-Id")
        if request_id:
            self.send_header("X-Request-Id", request_id)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(response.body_length))
        self.end_headers()
        record = RequestRecord(
            origin=self.server.origin,
            method=request.method,
            path=request.target,
            route=route,
            status=int(response.status),
            range=self.headers.get("Range"),
            body_bytes=0 if head_only else response.body_length,
            received_bytes=request.received_bytes,
            authenticated=request.token is not None,
        )
        self.server.hub._record(record)
        if head_only:
            return
        try:
            if response.file is None:
                self.wfile.write(response.body)
            else:
                with response.file.open("rb") as source:
                    source.seek(response.offset)
                    _copy(source, self.wfile, response.length)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("local Hub %s: " + format, self.server.origin, *args)


def _copy(source: Any, sink: Any, length: int) -> None:
    while length > 0:
        chunk = source.read(min(_COPY_CHUNK, length))
        if not chunk:
            return
        sink.write(chunk)
        length -= len(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openvid_hf.testing.hub",
        description="Serve a local Hugging Face Hub-compatible test double (not a production server).",
    )
    parser.add_argument(
        "--root", type=Path, required=True, help="folder holding the repositories (created if missing)"
    )
    parser.add_argument("--port", type=int, default=0, help="port of the endpoint (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        args.root.mkdir(parents=True, exist_ok=True)
        server = HubServer(args.root, host=args.host, port=args.port).start()
    except OSError as error:
        parser.error(f"cannot serve from {args.root} on {args.host}:{args.port}: {error}")
    stopped = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopped.set())
    print(server.endpoint, flush=True)
    print(f"repositories in {args.root}; LFS storage at {server.storage_endpoint}; Ctrl-C stops", file=sys.stderr)
    try:
        while not stopped.wait(timeout=1):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
