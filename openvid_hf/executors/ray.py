"""The Ray executor: each item a Ray task on any node of a cluster (`--ray-address`), or of a local Ray.

Tasks by default: Ray retries a task whose worker or node died (`MAX_RETRIES`), so a node lost mid-job costs only
its running items. At most `IN_FLIGHT_PER_CPU` tasks a CPU are submitted ahead, so the driver and the object store
hold a few results, not the whole job's. Work with a costly setup (a model to load) runs on actors instead
(`imap_actors`): one per GPU of the cluster, each holding one, or one per node holding its CPUs; an actor lost with
its node hands its items to the others. Ray's own errors become one `OpenVidError` line; a job's own
`OpenVidError` raised in a task or an actor comes back as it was raised.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..errors import OpenVidError, UsageError, first_line
from .base import Item, Result

#: How often Ray runs a task again after its worker process or node died.
MAX_RETRIES = 3
#: Tasks submitted ahead of the results read, per CPU of the cluster.
IN_FLIGHT_PER_CPU = 2
#: Items queued on each actor, so it starts its next one as soon as one ends.
IN_FLIGHT_PER_ACTOR = 2
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


class ActorWorker:
    """The one actor class (process title `ray::ActorWorker`): makes its actor on its first item, so an actor that
    cannot be made (a model that does not load) fails like an item, with the error it raised."""

    def __init__(self, make_actor: Callable[[], Callable[[Item], Result]]):
        self._make_actor = make_actor
        self._actor: Callable[[Item], Result] | None = None

    def run(self, item: Item) -> Result:
        if self._actor is None:
            self._actor = self._make_actor()
        return self._actor(item)


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

    def imap_actors(
        self, make_actor: Callable[[], Callable[[Item], Result]], items: Iterable[Item], gpu: bool = False
    ) -> Iterator[Result]:
        ray = self.ray
        todo = deque(items)
        if not todo:
            return
        actors = dict(enumerate(self._start_actors(make_actor, len(todo), gpu)))
        free = [index for _ in range(IN_FLIGHT_PER_ACTOR) for index in actors]
        in_flight: dict[Any, tuple[int, Item]] = {}
        try:
            while todo or in_flight:
                while free and todo:
                    index, item = free.pop(), todo.popleft()
                    in_flight[actors[index].run.remote(item)] = (index, item)
                [ready], _ = ray.wait(list(in_flight), num_returns=1)
                index, item = in_flight.pop(ready)
                try:
                    result = ray.get(ready)
                except ray.exceptions.RayActorError as error:
                    # Its node or process is gone: the other actors take its items.
                    actors.pop(index, None)
                    free = [other for other in free if other != index]
                    todo.appendleft(item)
                    if not actors:
                        raise OpenVidError(f"every Ray actor was lost: {first_line(error)}; {RESUME_HINT}") from None
                    continue
                except ray.exceptions.RayError as error:
                    raise self._failure(error) from None
                free.append(index)
                yield result
        finally:
            for actor in actors.values():
                ray.kill(actor)

    def _start_actors(self, make_actor: Callable[[], Callable[[Item], Result]], most: int, gpu: bool) -> list:
        """Up to `most` actors: one per GPU of the cluster (`gpu`), or one per node holding all its CPUs, so a
        model's threads use the node's cores (Ray sets `OMP_NUM_THREADS` to an actor's CPUs)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray = self.ray
        worker, shared = ray.remote(ActorWorker), ray.put(make_actor)
        if gpu:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            if not gpus:
                raise OpenVidError("the Ray cluster has no GPU; add GPU nodes to it, or run the models on CPUs")
            return [worker.options(num_cpus=1, num_gpus=1).remote(shared) for _ in range(min(gpus, most))]
        nodes = [node for node in ray.nodes() if node["Alive"] and node["Resources"].get("CPU", 0) >= 1]
        return [
            worker.options(
                num_cpus=node["Resources"]["CPU"],
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
            ).remote(shared)
            for node in nodes[:most]
        ]

    def _result(self, reference: Any) -> Any:
        try:
            return self.ray.get(reference)
        except self.ray.exceptions.RayError as error:
            raise self._failure(error) from None

    def _failure(self, error: Exception) -> OpenVidError:
        """What to raise for a Ray error: a job's own `OpenVidError` as it was raised, any other as one line."""
        if isinstance(error, self.ray.exceptions.RayTaskError):
            cause = error.cause
            if isinstance(cause, OpenVidError):
                return cause
            return OpenVidError(f"a Ray task failed: {first_line(cause or error)}; {RESUME_HINT}")
        return OpenVidError(f"Ray failed: {first_line(error)}; {RESUME_HINT}")
