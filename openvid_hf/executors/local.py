"""The local executor: worker processes on this machine (`--num-proc`), or the calling process itself for one.

Actors (`imap_actors`) live in the calling process: one actor, made once, on the device its maker chose (so `gpu`
changes nothing here), since a copy of a model in each worker process would only compete for the same memory and
cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from ..processes import die_with_parent
from .base import Item, Result


class LocalExecutor:
    """`num_proc` spawned processes that die with this one; with one, the items run in the calling process."""

    def __init__(self, num_proc: int = 1):
        self.parallelism = num_proc
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def imap_unordered(self, function: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        items = list(items)
        if self.parallelism <= 1 or len(items) <= 1:
            yield from map(function, items)
            return
        if self._pool is None:
            # Spawned, not forked: the caller holds threads (read-ahead, HTTP clients) that fork would copy half-way.
            self._pool = ProcessPoolExecutor(
                min(self.parallelism, len(items)),
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        futures = [self._pool.submit(function, item) for item in items]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    def imap_actors(
        self, make_actor: Callable[[], Callable[[Item], Result]], items: Iterable[Item], gpu: bool = False
    ) -> Iterator[Result]:
        items = list(items)
        if items:
            yield from map(make_actor(), items)
