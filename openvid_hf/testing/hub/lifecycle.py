"""`HubServer`: the two origins' start/stop, their URLs, the request log, fault arming and signed storage URLs."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlencode

from .faults import Faults
from .messages import HubHTTPError
from .routing import Router
from .storage import RepoStorage
from .transport import OriginServer, RequestRecord

#: Files at least this large are stored with LFS whatever their name (the Hub's limit for regular files).
LFS_THRESHOLD = 10 * 1024 * 1024
_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}


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
        self._servers: list[OriginServer] = []
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._recorders: list[list[RequestRecord]] = []
        self._faults = Faults()
        self._router = Router(self)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> HubServer:
        if self._servers:
            return self
        api = OriginServer((self.host, self.port), "api", self._router.route, self._faults, self._record)
        storage = OriginServer((self.host, 0), "storage", self._router.route_storage, self._faults, self._record)
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
        with self._faults.arm(route, after=after, status=status):
            yield

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
