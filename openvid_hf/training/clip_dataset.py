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

import glob
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets

from ..errors import OpenVidError, UsageError
from ..publish.layout import DEFAULT_CONFIG, SHARD_SUFFIX
from ..publish.subset import NoByteRangesError, Where, load_subset
from ..release.filters import ClipFilter
from ..schema import RECORD_COLUMN, VIDEO_COLUMN, published_features
from ..video.clips import ClipLoader, ClipTooShortError, sample_rng
from ..video.decoding import VideoDecodeError
from .row_stream import VIDEO_NAME_FIELD, ClipCounts, RowStreamDataset, record_fields, stream_rows

__all__ = ["VIDEO_NAME_FIELD", "ClipCounts", "OpenVidClipDataset", "clip_row_features", "load_rows", "shard_files"]

logger = logging.getLogger(__name__)

Source = str | os.PathLike | Sequence[str | os.PathLike]


class OpenVidClipDataset(RowStreamDataset):
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

    state_type: ClassVar[str] = "OpenVidClipDataset"

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
        self.clip_loader = clip_loader or ClipLoader()
        self.filters = filters or ClipFilter()
        rows = load_rows(source, config, split, revision, where=where, filters=self.filters)
        super().__init__(rows, seed=seed, rank=rank, world_size=world_size)

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
        return {"video": clip, **record_fields(record)}


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
    columns = (VIDEO_COLUMN, RECORD_COLUMN)
    return stream_rows(name, config, split, revision, columns, "a published OpenVid-1M dataset").cast(features)


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
