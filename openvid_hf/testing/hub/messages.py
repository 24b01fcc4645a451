"""The HTTP messages the endpoints work with: `Request` (lazy body reading), `Response`, and `HubHTTPError`.

`HubHTTPError` carries the Hub's status, `X-Error-Code` and `X-Error-Message`; storage errors map onto it here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .storage import (
    AlreadyExists,
    EntryNotFound,
    HubStorageError,
    InvalidRequest,
    RepoNotFound,
    RevisionNotFound,
    StaleParent,
)

#: Bytes read from a request body or written from a stored file at a time.
COPY_CHUNK = 1 << 20
_STORAGE_ERRORS: dict[type[HubStorageError], tuple[int, str | None]] = {
    RepoNotFound: (HTTPStatus.NOT_FOUND, "RepoNotFound"),
    RevisionNotFound: (HTTPStatus.NOT_FOUND, "RevisionNotFound"),
    EntryNotFound: (HTTPStatus.NOT_FOUND, "EntryNotFound"),
    AlreadyExists: (HTTPStatus.CONFLICT, None),
    StaleParent: (HTTPStatus.PRECONDITION_FAILED, None),
    InvalidRequest: (HTTPStatus.BAD_REQUEST, None),
}


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
            chunk = self._rfile.read(min(COPY_CHUNK, remaining))
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
