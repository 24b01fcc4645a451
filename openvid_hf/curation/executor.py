"""How the curation's CPU stages run: any `map`-like callable, a local process pool by default.

A stage hands the executor a picklable per-item function and its items and reads the results back in order, so
the executor seam of the Ray work (`--executor ray`) plugs in here without touching the stages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

from ..processes import die_with_parent

#: `map(function, items)`: results in the order of the items.
Mapper = Callable[[Callable[[Any], Any], Iterable[Any]], Iterable[Any]]


@contextmanager
def local_executor(num_proc: int) -> Iterator[Mapper]:
    """The built-in `map` for one process, else a pool whose workers end with this process."""
    if num_proc <= 1:
        yield map
        return
    with ProcessPoolExecutor(num_proc, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        yield pool.map
