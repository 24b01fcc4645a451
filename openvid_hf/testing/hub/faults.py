"""Fault injection of the local Hub: which routes are armed to fail, and with which status.

`HubServer.fault()` arms a route for the duration of a block; the transport asks `injected_status()` before
running each request's handler and, when it answers a status, fails the request with it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class Faults:
    """The armed routes of one server: route -> [requests still let through, status to answer]."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[str, list[int]] = {}

    @contextlib.contextmanager
    def arm(self, route: str, *, after: int, status: int) -> Iterator[None]:
        """Fail `route` with `status` after `after` requests, while the block runs (see `HubServer.fault`)."""
        with self._lock:
            self._armed[route] = [after, status]
        try:
            yield
        finally:
            with self._lock:
                self._armed.pop(route, None)

    def injected_status(self, route: str) -> int | None:
        """The status this `route` request must fail with, or None to serve it (counts the requests let through)."""
        with self._lock:
            fault = self._armed.get(route)
            if fault is None:
                return None
            if fault[0] > 0:
                fault[0] -= 1
                return None
            return fault[1]
