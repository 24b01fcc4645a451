"""The Ray executor: each item a Ray task on any node of a cluster (`--ray-address`), or of a local Ray.

Tasks, not actors: Ray retries a task whose worker or node died (`MAX_RETRIES`), so a node lost mid-job costs only
its running items. At most `IN_FLIGHT_PER_CPU` tasks a CPU are submitted ahead, so the driver and the object store
hold a few results, not the whole job's. Ray's own errors become one `OpenVidError` line; a job's own
`OpenVidError` raised in a task comes back as it was raised.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import OpenVidError, UsageError, first_line
from .base import Item, Result

#: How often Ray runs a task again after its worker process or node died.
MAX_RETRIES = 3
#: Tasks submitted ahead of the results read, per CPU of the cluster.
IN_FLIGHT_PER_CPU = 2
#: Seconds to wait for the head node's port before calling the address unreachable.
CONNECT_TIMEOUT = 10.0
#: The end of the items, for `next`.
_DONE = object()
INSTALL_HINT = "--executor ray needs Ray: install it with pip install 'openvid-hf[ray]'"
RESUME_HINT = "run the same command again to resume: finished work is kept"


def import_ray() -> Any:
    """The `ray` module, or a `UsageError` saying how to install it (the extra is optional)."""
    try:
        import ray
    except ImportError:
        raise UsageError(INSTALL_HINT) from None
    return ray


def check_reachable(address: str) -> None:
    """Fail in seconds, with one line, when nothing listens at a `HOST:PORT` address (Ray itself retries for long)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise OpenVidError(
            f"--ray-address {address}: no Ray head node answers there ({error}); start one with "
            f"`ray start --head` or give the address `ray start` printed"
        ) from None


def run_item(function: Callable[[Item], Result], item: Item) -> Result:
    """The one Ray task: a busy worker's process title is `ray::run_item`."""
    return function(item)


class RayExecutor:
    """Connects to the Ray cluster at `address` (None: `RAY_ADDRESS`, else a local Ray) on enter."""

    def __init__(self, address: str | None = None):
        self.ray = import_ray()
        self.address = address
        self.parallelism = 1
        self._connected_here = False

    def __enter__(self) -> RayExecutor:
        if not self.ray.is_initialized():
            if self.address:
                check_reachable(self.address)
            try:
                self.ray.init(
                    address=self.address,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = self.address or "a local Ray"
                raise OpenVidError(f"cannot connect to Ray at {where}: {first_line(error)}") from None
            self._connected_here = True
        self.parallelism = max(1, int(self.ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._connected_here:
            self.ray.shutdown()
            self._connected_here = False

    def imap_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        ray = self.ray
        task = ray.remote(run_item).options(
            max_retries=MAX_RETRIES, retry_exceptions=False, scheduling_strategy="SPREAD"
        )
        shared_function = ray.put(function)
        items = iter(items)
        pending: list = []
        try:
            while True:
                while len(pending) < self.parallelism * IN_FLIGHT_PER_CPU:
                    item = next(items, _DONE)
                    if item is _DONE:
                        break
                    pending.append(task.remote(shared_function, item))
                if not pending:
                    return
                ready, pending = ray.wait(pending, num_returns=1)
                yield self._result(ready[0])
        finally:
            for reference in pending:
                ray.cancel(reference, force=True)

    def _result(self, reference: Any) -> Any:
        ray = self.ray
        try:
            return ray.get(reference)
        except ray.exceptions.RayTaskError as error:
            cause = error.cause
            if isinstance(cause, OpenVidError):
                raise cause from None
            raise OpenVidError(f"a Ray task failed: {first_line(cause or error)}; {RESUME_HINT}") from None
        except ray.exceptions.RayError as error:
            raise OpenVidError(f"Ray failed: {first_line(error)}; {RESUME_HINT}") from None
