"""The Hub's read-side and repository endpoints: account, repositories, refs, tree/listing, resolve/download.

Also what every group of endpoints shares: `HubContext` (what they need from the server) and access control.
"""

from __future__ import annotations

import hashlib
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlencode

from .messages import HubHTTPError, Request, Response, json_response
from .storage import AlreadyExists, Commit, EntryNotFound, FileEntry, Folder, Repo, RepoNotFound, RepoStorage

#: The account every token belongs to; repositories created without a namespace go there.
USER_NAME = "local-user"
TREE_PAGE_SIZE = 1000
TREE_PAGE_SIZE_EXPANDED = 50


class HubContext(Protocol):
    """What the endpoints need from the server (`HubServer` provides it): storage, settings, URLs, signatures."""

    storage: RepoStorage
    lfs_threshold: int

    @property
    def endpoint(self) -> str: ...

    def repo_url(self, repo_type: str, repo_id: str) -> str: ...

    def upload_url(self, oid: str, size: int) -> str: ...

    def download_url(self, oid: str) -> str: ...

    def check_signature(self, signature: str, *parts: str) -> None: ...


class Handlers:
    """A group of endpoints: the server, its storage, and access control."""

    def __init__(self, hub: HubContext) -> None:
        self.hub = hub
        self.storage = hub.storage

    # -- access control --------------------------------------------------------------------------------------

    def _readable(self, request: Request, repo_type: str, repo_id: str) -> Repo:
        repo = self.storage.repo(repo_type, repo_id)
        if repo.private and request.token is None:
            raise RepoNotFound(f"Repository {repo_type}s/{repo_id} not found")
        return repo

    def _writable(self, request: Request, repo_type: str, repo_id: str) -> Repo:
        require_token(request)
        return self._readable(request, repo_type, repo_id)


class RepoHandlers(Handlers):
    """Account, repositories and refs, listings, and file downloads."""

    # -- account and repositories ----------------------------------------------------------------------------

    def whoami(self, request: Request) -> Response:
        require_token(request)
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
        require_token(request)
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
        require_token(request)
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


def require_token(request: Request) -> None:
    if request.token is None:
        message = "Invalid username or password: this endpoint needs 'Authorization: Bearer <token>'"
        raise HubHTTPError(HTTPStatus.UNAUTHORIZED, message)


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
