"""How the curation's stages run on the executor seam (`openvid_hf.executors`): in-order maps.

A CPU stage maps a picklable per-item function over its items (local processes, or Ray tasks); a model stage maps a
model over batches of clips, the model made once per actor (in this process, or on Ray actors, one per GPU or per
node). Either way the results come back in item order as they arrive, so a stage records finished work while the
rest still runs, and writes the same parts whatever executor ran it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..executors import Executor


def ordered_map(executor: Executor, function: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
    """`map(function, items)` on `executor`'s workers."""
    return _in_order(executor.imap_unordered(_Indexed(function), list(enumerate(items))))


def ordered_actor_map(
    executor: Executor, make_actor: Callable[[], Callable[[Any], Any]], items: Iterable[Any], gpu: bool = False
) -> Iterator[Any]:
    """`map(actor, items)` on `executor`'s actors, each made once by `make_actor()`; `gpu`: one actor per GPU."""
    return _in_order(executor.imap_actors(_IndexedActor(make_actor), list(enumerate(items)), gpu=gpu))


def _in_order(pairs: Iterable[tuple[int, Any]]) -> Iterator[Any]:
    """The results of `(index, result)` pairs arriving in any order, each yielded once every earlier one has been."""
    waiting: dict[int, Any] = {}
    next_index = 0
    for index, result in pairs:
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


@dataclass(frozen=True)
class _IndexedActor:
    """Makes `make_actor()`'s actor, over `(index, item)` pairs like `_Indexed`."""

    make_actor: Callable[[], Callable[[Any], Any]]

    def __call__(self) -> _Indexed:
        return _Indexed(self.make_actor())
