"""What every executor offers (`Executor`), apart from the implementations, so they import it without a cycle."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs one function over many items in workers; a context manager that releases its workers on exit."""

    #: How many items run at once (the pool's processes, the cluster's CPUs).
    parallelism: int

    def imap_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        """`function(item)` for every item, yielded as each completes; the first failure is raised."""
        ...

    def imap_actors(
        self, make_actor: Callable[[], Callable[[Item], Result]], items: Iterable[Item], gpu: bool = False
    ) -> Iterator[Result]:
        """`actor(item)` for every item, yielded as each completes, where each actor is made once by `make_actor()`
        and then serves many items: for work whose setup (loading a model) costs more than an item. `gpu`: each
        actor needs a GPU of its own."""
        ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc_info: object) -> None: ...
