"""Training clips streamed from the published OpenVid-1M dataset, for a (stateful) torch DataLoader.

`OpenVidClipDataset` reads rows with plain `datasets` streaming (a Hub repository, a local build or
WebDataset shards) or, when a selection is given (`where`, or the score filters), only the selected clips by byte
range (`openvid_hf.publish.subset.load_subset`, same rows and features). It splits them by node with
`split_dataset_by_node` and by DataLoader worker (datasets gives each worker its own shards), filters them on the
record's scores with `ClipFilter`, and turns each mp4 into a training clip with `ClipLoader`, seeded by
`sample_rng(seed, epoch, key)`. A clip that cannot be decoded or is too short is logged, counted and skipped: it
never stops a worker. The state is the row stream's own `state_dict` (how far each worker got), the epoch and the
counts, so a `StatefulDataLoader` resumes mid-epoch with exactly the clips an uninterrupted run gives. Decisions:
`docs/video.md`.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
from datasets.distributed import split_dataset_by_node

from ..errors import OpenVidError, UsageError
from ..publish.layout import DEFAULT_CONFIG, SHARD_SUFFIX
from ..publish.subset import NoByteRangesError, Where, load_subset
from ..release.filters import ClipFilter
from ..release.skips import skipped_phrase
from ..schema import FIELD_NAMES, RECORD_COLUMN, VIDEO_COLUMN, published_features
from ..video.clips import ClipLoader, ClipTooShortError, sample_rng
from ..video.decoding import VideoDecodeError

logger = logging.getLogger(__name__)

#: Why a row gives no clip: its sample lacks the mp4 or json member, the mp4 cannot be decoded, or it has
#: fewer frames than a clip needs (named as `openvid_hf.release.layout.SKIP_REASONS` names the same defects).
SKIP_REASONS = ("missing", "undecodable", "too_short")
#: The record's `video` field (the original file name) is passed on under this name: `video` is the clip.
VIDEO_NAME_FIELD = "video_name"
#: Marks this dataset's state inside a DataLoader's state dict (`ClipCounts.from_loader_state` finds it).
STATE_TYPE = "OpenVidClipDataset"

Source = str | os.PathLike | Sequence[str | os.PathLike]


@dataclass
class ClipCounts:
    """What a pass over the rows gave so far: clips yielded, rows filtered out, rows skipped by reason."""

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
        """The counts of every `OpenVidClipDataset` state in a DataLoader's `state_dict()`, summed over workers."""
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
        if state.get("type") == STATE_TYPE:
            yield state
            return
        for value in state.values():
            yield from _dataset_states(value)


class OpenVidClipDataset(torch.utils.data.IterableDataset):
    """Training clips of a published OpenVid-1M dataset: `{"video": [C, T, H, W] in [-1, 1], "key", "caption", ...}`.

    Args:
        source: a Hub dataset repository id or a local folder written by `openvid-hf build` (read with
            `datasets.load_dataset(source, config, split=split, streaming=True)`), or WebDataset shards: a
            `.tar` path or glob pattern, or a list of them.
        config, split, revision: which rows of a published dataset (`config` is `default` or `hd`).
        clip_loader: frame sampling, decoding backend and transform (`ClipLoader()`: 16 frames, 256x256).
        filters: score, camera-motion and height filters, applied to the record before any decoding; on a
            published dataset whose metadata has byte ranges, only the clips they keep are read at all.
        where: a metadata filter expression (`"aesthetic_score >= 6 and hd"`) or a list of keys or video
            names: only those clips are read (`load_subset`); not for WebDataset shard paths.
        seed: with the epoch and the key, seeds each clip's window and flip (`sample_rng`).
        rank, world_size: this node, for `split_dataset_by_node`; by default from the `RANK` and
            `WORLD_SIZE` environment variables (torchrun, `accelerate launch`), else a single node.

    Every sample also carries the record's fields (`openvid_hf.schema.FIELDS`), the original file name as
    `video_name`. Call `set_epoch` before each epoch. `counts` says what the pass in this process gave so
    far; with DataLoader workers, `ClipCounts.from_loader_state(loader.state_dict())` sums them.
    """

    def __init__(
        self,
        source: Source,
        config: str = DEFAULT_CONFIG,
        split: str = "train",
        *,
        clip_loader: ClipLoader | None = None,
        filters: ClipFilter | None = None,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        revision: str | None = None,
        where: Where = None,
    ):
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"seed must be an integer (got {seed!r})")
        self.clip_loader = clip_loader or ClipLoader()
        self.filters = filters or ClipFilter()
        self.seed = seed
        self.rank, self.world_size = node_of(rank, world_size)
        rows = load_rows(source, config, split, revision, where=where, filters=self.filters)
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
        """Seeds the clips and orders the shards of the next pass (call it before each epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise UsageError(f"epoch must be a non-negative integer (got {epoch!r})")
        self._rows.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the pass is: the row stream's position, the epoch and the counts (plain types)."""
        if self._resume is not None:  # restored, not iterated yet: the restored state still holds
            return copy.deepcopy(self._resume)
        return {
            "type": STATE_TYPE,
            "epoch": self.epoch,
            "rows": self._rows.state_dict(),
            "counts": self.counts.to_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the pass recorded in `state` (its epoch included) when this dataset is next iterated."""
        if not isinstance(state, dict) or state.get("type") != STATE_TYPE:
            raise OpenVidError(f"not a state of {STATE_TYPE}: {str(state)[:200]}")
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
        logger.info("%s: %s", self._describe_pass(epoch), self.counts.summary())

    def _sample(self, row: dict[str, Any], epoch: int) -> dict[str, Any] | None:
        record, video = row[RECORD_COLUMN], row[VIDEO_COLUMN]
        name = f"{row['__key__']}.{VIDEO_COLUMN} in {row['__url__']}"
        if record is None or video is None or video["bytes"] is None:
            absent = RECORD_COLUMN if record is None else VIDEO_COLUMN
            self._skip("missing", f"{name}: the sample has no {absent} member")
            return None
        if not self.filters.accepts_record(record):
            self.counts.filtered += 1
            return None
        try:
            clip = self.clip_loader(video["bytes"], sample_rng(self.seed, epoch, record["key"]), name=name)
        except VideoDecodeError as error:
            self._skip("undecodable", str(error))
            return None
        except ClipTooShortError as error:
            self._skip("too_short", str(error))
            return None
        metadata = {VIDEO_NAME_FIELD if field == "video" else field: record[field] for field in FIELD_NAMES}
        return {"video": clip, **metadata}

    def _skip(self, reason: str, message: str) -> None:
        self.counts.skipped[reason] += 1
        logger.warning("skipped (%s) %s", reason, message)

    def _describe_pass(self, epoch: int) -> str:
        worker = torch.utils.data.get_worker_info()
        where = [f"epoch {epoch}"]
        if self.world_size > 1:
            where.append(f"rank {self.rank}/{self.world_size}")
        if worker is not None:
            where.append(f"worker {worker.id}/{worker.num_workers}")
        return f"{STATE_TYPE} ({', '.join(where)})"


def node_of(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """`(rank, world_size)` from the arguments, else from `RANK`/`WORLD_SIZE`, else a single node."""
    if world_size is None:
        world_size = int(os.environ.get("WORLD_SIZE", 1))
    if rank is None:
        rank = int(os.environ.get("RANK", 0)) if world_size > 1 else 0
    if world_size < 1 or not 0 <= rank < world_size:
        raise UsageError(f"rank must be within [0, world_size) and world_size positive (got {rank}, {world_size})")
    return rank, world_size


def clip_row_features() -> datasets.Features:
    """The published columns, with the video left as encoded bytes: `ClipLoader` decodes only what it keeps."""
    features = published_features()
    features[VIDEO_COLUMN] = datasets.Video(decode=False)
    return features


def load_rows(
    source: Source,
    config: str,
    split: str,
    revision: str | None = None,
    where: Where = None,
    filters: ClipFilter | None = None,
) -> datasets.IterableDataset:
    """The rows of a published dataset or of WebDataset shards, streamed, typed by the data contract.

    With a selection (`where`, or `filters` that keep less than everything) and byte ranges in the metadata, only
    the selected rows are read (`load_subset`); without ranges, filters alone fall back to reading every row.
    """
    features = clip_row_features()
    shards = shard_files(source)
    if shards is not None:
        if where is not None:
            raise UsageError("a selection (--filter) needs a published dataset with its metadata, not shard paths")
        return datasets.load_dataset(
            "webdataset", data_files={split: shards}, split=split, streaming=True, features=features
        )
    name = os.fspath(source)
    selection = _selection(where, filters)
    if selection is not None:
        try:
            return load_subset(name, selection, split=split, config=config, revision=revision).cast(features)
        except NoByteRangesError:
            if where is not None:
                raise
            logger.warning("%s has no byte ranges (`openvid-hf index` adds them): reading every clip", name)
    try:
        rows = datasets.load_dataset(name, config, split=split, streaming=True, revision=revision)
    except (FileNotFoundError, ValueError) as error:
        raise OpenVidError(f"{name}: cannot stream config {config!r}, split {split!r}: {error}") from error
    missing = [column for column in (VIDEO_COLUMN, RECORD_COLUMN) if column not in (rows.column_names or ())]
    if missing:
        raise OpenVidError(
            f"{name}: not a published OpenVid-1M dataset (no {' or '.join(missing)} column; "
            f"columns: {rows.column_names})"
        )
    return rows.cast(features)


def _selection(where: Where, filters: ClipFilter | None) -> Where:
    """What `load_subset` selects: `where` and the filters' expression together (the filters still check each row)."""
    expression = filters.expression() if filters is not None else None
    if where is None or expression is None or not isinstance(where, str):
        return where if where is not None else expression
    return f"({where}) and ({expression})"


def shard_files(source: Source) -> list[str] | None:
    """The `.tar` files that `source` names (paths or glob patterns), or None when it names a dataset."""
    if isinstance(source, (str, os.PathLike)):
        if not os.fspath(source).endswith(SHARD_SUFFIX):
            return None
        patterns = [os.fspath(source)]
    else:
        patterns = [os.fspath(pattern) for pattern in source]
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern))
        if not matches:
            raise OpenVidError(f"{pattern}: no such WebDataset shard")
        files.extend(str(Path(match).resolve()) for match in matches)
    return files
