"""The executor seam every bulk job runs through: a local process pool by default, Ray across a cluster.

A job hands `Executor.imap_unordered` a picklable function and its items; the function runs once per item in a
worker (a process of the local pool, a Ray task on any node) and the results come back as they complete. Work that
must first load a model hands `Executor.imap_actors` a maker of actors instead: each actor is made once and serves
many items (in the calling process, or on Ray actors, one per GPU or per node). Jobs never depend on which executor
ran them or in which order: they key every result by its item, so the same inputs give the same bytes. Ray is an
optional extra, imported only when `ray` is asked for.
"""

from __future__ import annotations

from ..errors import UsageError
from .base import Executor

#: The `--executor` choices.
EXECUTORS = ("local", "ray")

__all__ = ["EXECUTORS", "Executor", "check_executor", "make_executor"]


def check_executor(kind: str, ray_address: str | None) -> None:
    """A `UsageError` unless `kind` is an executor and `ray_address` goes with it."""
    if kind not in EXECUTORS:
        raise UsageError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
    if ray_address is not None and kind != "ray":
        raise UsageError("--ray-address applies to --executor ray")


def make_executor(kind: str = "local", num_proc: int = 1, ray_address: str | None = None) -> Executor:
    """The executor `kind` names: `local` (`num_proc` processes) or `ray` (the cluster at `ray_address`)."""
    check_executor(kind, ray_address)
    if kind == "local":
        from .local import LocalExecutor

        return LocalExecutor(num_proc)
    from .ray import RayExecutor

    return RayExecutor(ray_address)
