"""The Hub's upload endpoints: preupload, the Git LFS batch API and verify, LFS storage PUT, and the NDJSON commit."""

from __future__ import annotations

import base64
import binascii
import json
from http import HTTPStatus

from .handlers_repo import Handlers
from .messages import HubHTTPError, Request, Response, json_response
from .storage import (
    DEFAULT_GITATTRIBUTES,
    AddFile,
    Commit,
    CommitOperation,
    DeleteFile,
    DeleteFolder,
    GitAttributes,
    InvalidRequest,
    is_object_id,
    matches_pattern,
    validate_path,
)

_SAMPLE_BYTES = 512


class UploadHandlers(Handlers):
    """Preupload, LFS transfer (batch, storage PUT, verify) and commits."""

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
