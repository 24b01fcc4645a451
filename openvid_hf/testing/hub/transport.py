"""HTTP plumbing: one threaded server per origin, and the request handler that runs a route and sends its response.

Every request is routed, checked against the armed faults, answered (errors become the Hub's error responses),
drained, and recorded as a `RequestRecord` before its body is written.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .faults import Faults
from .messages import COPY_CHUNK, HubHTTPError, Request, Response
from .routing import Route
from .storage import HubStorageError

logger = logging.getLogger(__name__)


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


class OriginServer(ThreadingHTTPServer):
    """One origin (API or storage); remembers open connections so that `close()` ends keep-alive ones too."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        origin: str,
        router: Callable[[Request], Route],
        faults: Faults,
        record: Callable[[RequestRecord], None],
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.origin = origin
        self.router = router
        self.faults = faults
        self.record = record
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
    server: OriginServer

    def do_GET(self) -> None:
        self._handle()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self) -> None:
        request = Request(self)
        route, action = self.server.router(request)
        try:
            injected = self.server.faults.injected_status(route)
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
        self.server.record(record)
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
        chunk = source.read(min(COPY_CHUNK, length))
        if not chunk:
            return
        sink.write(chunk)
        length -= len(chunk)
