"""How the curation's CPU stages run: an in-order `map` over the executor seam (`openvid_hf.executors`).

A stage hands the mapper a picklable per-item function and its items and reads the results back in item order as
they arrive, so a stage records finished work while the rest still runs. The local executor's workers end with
this process; the same wrapper serves any executor the seam makes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..executors import Executor, make_executor

#: `map(function, items)`: results in the order of the items.
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


@contextmanager
def local_executor(num_proc: int) -> Iterator[Mapper]:
    """An in-order `map` over `num_proc` local processes (the calling process for one)."""
    with make_executor("local", num_proc) as executor:
        yield partial(ordered_map, executor)


def ordered_map(executor: Executor, function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """`map(function, items)` on `executor`: each result yielded once every earlier item's has been."""
    waiting: dict[int, Any] = {}
    next_index = 0
    for index, result in executor.imap_unordered(_Indexed(function), list(enumerate(items))):
        waiting[index] = result
        while next_index in waiting:
            yield waiting.pop(next_index)
            next_index += 1


@dataclass(frozen=True)
class _Indexed:
    """`function` over `(index, item)` pairs, returning `(index, result)`: picklable for any executor."""

    function: Callable[[Any], Any]

    def __call__(self, pair: tuple[int, Any]) -> tuple[int, Any]:
        index, item = pair
        return index, self.function(item)
