"""A stream of published rows for a (stateful) torch DataLoader: split by node, counted, resumable mid-epoch.

`datasets` gives each DataLoader worker its own shards and `split_dataset_by_node` each node its own; this base
adds what both training datasets (clips from videos, `clip_dataset`; latents, `latent_dataset`) need on top: the
epoch, counts of what a pass yielded, filtered out and skipped, and a state (the row stream's own `state_dict`, the
epoch and the counts, plain types) from which a `StatefulDataLoader` resumes with exactly the samples an
uninterrupted run gives. A subclass turns one row into one sample, or into nothing (filtered out or skipped).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import datasets
import torch
from datasets.distributed import split_dataset_by_node

from ..errors import OpenVidError, UsageError
from ..release.skips import skipped_phrase
from ..schema import FIELD_NAMES

#: Why a row gives no sample: its sample lacks a member, the mp4 cannot be decoded, or it has fewer frames than a
#: clip needs (named as `openvid_hf.release.layout.SKIP_REASONS` names the same defects).
SKIP_REASONS = ("missing", "undecodable", "too_short")
#: The record's `video` field (the original file name) is passed on under this name: `video` is the clip.
VIDEO_NAME_FIELD = "video_name"
#: The `type` of the states of every row-stream dataset (`ClipCounts.from_loader_state` finds them by it).
STATE_TYPES = ("OpenVidClipDataset", "OpenVidLatentDataset")


@dataclass
class ClipCounts:
    """What a pass over the rows gave so far: samples yielded, rows filtered out, rows skipped by reason."""

    yielded: int = 0
    filtered: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SKIP_REASONS, 0))

    def to_state(self) -> dict[str, Any]:
        """Plain types only, so the state loads with `torch.load(weights_only=True)`."""
        return {"yielded": self.yielded, "filtered": self.filtered, "skipped": dict(self.skipped)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ClipCounts:
        return cls(state["yielded"], state["filtered"], {**dict.fromkeys(SKIP_REASONS, 0), **state["skipped"]})

    @classmethod
    def from_loader_state(cls, loader_state: dict[str, Any]) -> ClipCounts:
        """The counts of every row-stream dataset state in a DataLoader's `state_dict()`, summed over workers."""
        total = cls()
        for state in _dataset_states(loader_state):
            counts = cls.from_state(state["counts"])
            total.yielded += counts.yielded
            total.filtered += counts.filtered
            for reason, count in counts.skipped.items():
                total.skipped[reason] = total.skipped.get(reason, 0) + count
        return total

    def summary(self) -> str:
        return f"{self.yielded} clips, {self.filtered} filtered out, {skipped_phrase(self.skipped)}"


def _dataset_states(state: Any) -> Iterator[dict[str, Any]]:
    if isinstance(state, dict):
        if state.get("type") in STATE_TYPES:
            yield state
            return
        for value in state.values():
            yield from _dataset_states(value)


def stream_rows(
    name: str, config: str, split: str, revision: str | None, columns: tuple[str, ...], what: str
) -> datasets.IterableDataset:
    """The rows of `config`/`split` of the dataset `name`, streamed with plain `datasets`; one `OpenVidError` line
    when they cannot be streamed or lack one of `columns` (`what` says which kind of dataset was expected)."""
    try:
        rows = datasets.load_dataset(name, config, split=split, streaming=True, revision=revision)
    except (FileNotFoundError, ValueError) as error:
        raise OpenVidError(f"{name}: cannot stream config {config!r}, split {split!r}: {error}") from error
    missing = [column for column in columns if column not in (rows.column_names or ())]
    if missing:
        raise OpenVidError(f"{name}: not {what} (no {' or '.join(missing)} column; columns: {rows.column_names})")
    return rows


def record_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The data contract's fields of a row's record, as a sample carries them (`video` as `VIDEO_NAME_FIELD`)."""
    return {VIDEO_NAME_FIELD if name == "video" else name: record[name] for name in FIELD_NAMES}


def node_of(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """`(rank, world_size)` from the arguments, else from `RANK`/`WORLD_SIZE`, else a single node."""
    if world_size is None:
        world_size = int(os.environ.get("WORLD_SIZE", 1))
    if rank is None:
        rank = int(os.environ.get("RANK", 0)) if world_size > 1 else 0
    if world_size < 1 or not 0 <= rank < world_size:
        raise UsageError(f"rank must be within [0, world_size) and world_size positive (got {rank}, {world_size})")
    return rank, world_size


class RowStreamDataset(torch.utils.data.IterableDataset):
    """The rows of a published dataset, this node's part of them, as samples (`_sample`, in a subclass).

    Call `set_epoch` before each epoch; `counts` says what the pass in this process gave so far (with DataLoader
    workers, `ClipCounts.from_loader_state(loader.state_dict())` sums them).
    """

    #: This dataset's state `type` (one of `STATE_TYPES`): a state of another dataset is refused.
    state_type: ClassVar[str]

    def __init__(self, rows: datasets.IterableDataset, *, seed: int, rank: int | None, world_size: int | None):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"seed must be an integer (got {seed!r})")
        self.seed = seed
        self.rank, self.world_size = node_of(rank, world_size)
        if self.world_size > 1:
            rows = split_dataset_by_node(rows, rank=self.rank, world_size=self.world_size)
        self._rows = rows
        self._resume: dict[str, Any] | None = None
        self.counts = ClipCounts()

    @property
    def num_shards(self) -> int:
        """Shard files this node reads: DataLoader workers beyond this number get nothing to do."""
        return self._rows.num_shards

    @property
    def epoch(self) -> int:
        # datasets keeps the epoch in shared memory, so persistent DataLoader workers see `set_epoch` too.
        return self._rows.epoch

    def set_epoch(self, epoch: int) -> None:
        """Seeds the samples and orders the shards of the next pass (call it before each epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise UsageError(f"epoch must be a non-negative integer (got {epoch!r})")
        self._rows.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the pass is: the row stream's position, the epoch and the counts (plain types)."""
        if self._resume is not None:  # restored, not iterated yet: the restored state still holds
            return copy.deepcopy(self._resume)
        return {
            "type": self.state_type,
            "epoch": self.epoch,
            "rows": self._rows.state_dict(),
            "counts": self.counts.to_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the pass recorded in `state` (its epoch included) when this dataset is next iterated."""
        if not isinstance(state, dict) or state.get("type") != self.state_type:
            raise OpenVidError(f"not a state of {self.state_type}: {str(state)[:200]}")
        self.set_epoch(state["epoch"])
        self.counts = ClipCounts.from_state(state["counts"])
        self._resume = state

    def __iter__(self) -> Iterator[dict[str, Any]]:
        resume, self._resume = self._resume, None
        # Always given, so a resume point is used by one pass only (None starts from the beginning).
        self._rows.load_state_dict(resume["rows"] if resume else None)
        self.counts = ClipCounts.from_state(resume["counts"]) if resume else ClipCounts()
        epoch = self.epoch
        for row in self._rows:
            sample = self._sample(row, epoch)
            if sample is not None:
                self.counts.yielded += 1
                yield sample
        self._logger.info("%s: %s", self._describe_pass(epoch), self.counts.summary())

    def _sample(self, row: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        """The sample of one row, or None (counted as filtered out or skipped)."""
        raise NotImplementedError

    def _skip(self, reason: str, message: str) -> None:
        self.counts.skipped[reason] += 1
        self._logger.warning("skipped (%s) %s", reason, message)

    @property
    def _logger(self) -> logging.Logger:
        """The subclass's module logger: what a pass reports is configured where the dataset is defined."""
        return logging.getLogger(type(self).__module__)

    def _describe_pass(self, epoch: int) -> str:
        worker = torch.utils.data.get_worker_info()
        where = [f"epoch {epoch}"]
        if self.world_size > 1:
            where.append(f"rank {self.rank}/{self.world_size}")
        if worker is not None:
            where.append(f"worker {worker.id}/{worker.num_workers}")
        return f"{self.state_type} ({', '.join(where)})"
