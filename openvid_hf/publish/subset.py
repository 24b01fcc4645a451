"""`load_subset`: only the selected clips of a published dataset, read by byte range, as a `datasets.IterableDataset`.

The metadata table says where each member of a sample lies in its tar (`openvid-hf build` writes the ranges,
`openvid-hf index` adds them to any WebDataset repository). The selected samples are grouped by shard, their
ranges coalesced when only tar framing separates them, and read in parallel threads through fsspec (the Hub's
`HfFileSystem`: HTTP range requests, retried by `huggingface_hub`, and here once more on a short or failed read).
The samples are then built by the `datasets` WebDataset builder of the same repository, from the same member bytes,
so every sample equals the one `load_dataset(repo, config, streaming=True)` yields for that key, with its features.

Each "shard" of the returned dataset is a run of at most `UNIT_SAMPLES` selected samples of one tar: DataLoader
workers and `split_dataset_by_node` share them out, and `state_dict()` records the unit and how many of its samples
were yielded; a resumed pass skips those without reading them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

# `datasets` is imported at the top: `openvid_hf` exports `load_subset` lazily, so importing the package does not.
from datasets.iterable_dataset import ExamplesIterable

from ..errors import OpenVidError, UsageError
from ..release.reader import ordered_map
from ..schema import member_offset_column, member_size_column, ranged_extensions
from .layout import DEFAULT_CONFIG
from .metadata import metadata_file
from .selection import select_rows
from .tar_index import Read, read_range
from .verify import commit_sha, parse_target

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

#: Selected samples of one tar per unit of work (a "shard" for DataLoader workers, nodes and resume).
UNIT_SAMPLES = 64
#: Ranges closer than this are read as one: a member header and block padding lie between adjacent members.
MAX_GAP = 1024
#: A coalesced read never grows past this, so a dense selection still spreads over the threads.
MAX_READ = 16 * 1024 * 1024
DEFAULT_READ_THREADS = 8

Where = str | Iterable[str] | None


class NoByteRangesError(OpenVidError):
    """The metadata table predates byte ranges (format 1): `openvid-hf index` adds them."""


def load_subset(
    repo_or_dir: str | os.PathLike,
    where: Where = None,
    *,
    split: str = "train",
    config: str = DEFAULT_CONFIG,
    revision: str | None = None,
    read_threads: int = DEFAULT_READ_THREADS,
) -> datasets.IterableDataset:
    """The samples of `config`/`split` that `where` selects (a filter expression over the metadata columns, or
    a list of keys or video names), streamed by range from a Hub dataset repo or a local folder."""
    import datasets
    import pyarrow.parquet as pq

    location = parse_target(repo_or_dir)
    if isinstance(location, Path):
        if revision:
            raise UsageError("revision applies to a Hub repository, not to a local folder")
    else:
        from huggingface_hub import HfApi

        revision = commit_sha(HfApi(), location, revision)
    try:
        builder = datasets.load_dataset_builder(str(location), config, revision=revision)
    except ValueError as error:
        raise OpenVidError(f"{location}: no config {config!r} ({error})") from None
    urls = list((builder.config.data_files or {}).get(split, []))
    if not urls:
        raise OpenVidError(f"{location}: config {config!r} has no split {split!r}")
    features = builder.as_streaming_dataset(split=split).features
    table = pq.read_table(metadata_file(location, split, revision))
    extensions = ranged_extensions(table.column_names)
    if not extensions:
        raise NoByteRangesError(
            f"{location}: the {split} metadata has no byte ranges; run `openvid-hf index {repo_or_dir}` first"
        )
    selected = select_rows(table, where)
    units = _units(selected, urls, shard_of_url(location, revision), extensions)
    reader = _UnitReader(builder, max(1, read_threads))
    examples = _SubsetExamples(reader, {"units": units})
    info = datasets.DatasetInfo(features=features)
    return datasets.IterableDataset(examples, info=info, split=datasets.NamedSplit(split))


def shard_of_url(location: Path | str, revision: str | None) -> Callable[[str], str]:
    """Maps a data file URL of the builder to the shard path the metadata table names."""
    if isinstance(location, Path):
        root = location.resolve()
        return lambda url: Path(url).resolve().relative_to(root).as_posix()
    prefix = f"hf://datasets/{location}@{revision}/"
    return lambda url: url[len(prefix) :] if url.startswith(prefix) else url


def _units(
    table: pa.Table, urls: list[str], shard_of: Callable[[str], str], extensions: list[str]
) -> list[dict[str, Any]]:
    """The selected samples grouped by tar in the config's file order, members by offset, cut into units."""
    url_of = {shard_of(url): url for url in urls}
    columns = ["key", "shard"] + [
        column
        for extension in extensions
        for column in (member_offset_column(extension), member_size_column(extension))
    ]
    by_shard: dict[str, list[tuple[int, str, list[tuple[str, int, int]]]]] = {}
    for row in table.select(columns).to_pylist():
        if row["shard"] not in url_of:  # a shard of another config (the sd shards for `hd`)
            continue
        members = sorted(
            (row[member_offset_column(extension)], f"{row['key']}.{extension}", row[member_size_column(extension)])
            for extension in extensions
            if row[member_offset_column(extension)] is not None
        )
        if members:
            by_shard.setdefault(row["shard"], []).append(
                (members[0][0], row["key"], [(name, offset, size) for offset, name, size in members])
            )
    units = []
    for url in urls:
        samples = sorted(by_shard.get(shard_of(url), []))
        for start in range(0, len(samples), UNIT_SAMPLES):
            chunk = samples[start : start + UNIT_SAMPLES]
            units.append({"url": url, "samples": [members for _, _, members in chunk]})
    return units


def coalesce(ranges: list[tuple[int, int]], max_gap: int = MAX_GAP, max_read: int = MAX_READ) -> list[Read]:
    """Sorted `[start, end)` ranges merged where only `max_gap` bytes separate them, up to `max_read` a read."""
    reads: list[Read] = []
    for start, end in sorted(ranges):
        if reads and start - reads[-1].end <= max_gap and end - reads[-1].start <= max_read:
            reads[-1] = Read(reads[-1].start, max(end, reads[-1].end))
        else:
            reads.append(Read(start, end))
    return reads


class _UnitReader:
    """Reads units' members by range and builds their samples with the repository's own WebDataset builder.

    The reads of all the units given are queued on one pool of threads, `read_threads` ahead, so a unit of one
    sample does not wait for the previous one.
    """

    def __init__(self, builder: Any, read_threads: int):
        self.builder = builder
        self.read_threads = read_threads

    def __call__(self, units: list[dict[str, Any]], skip: int = 0) -> Iterator[tuple[int, str, dict]]:
        """`(unit position, key, example)` of every sample, the first `skip` samples of the first unit left out."""
        plans = []
        for position, unit in enumerate(units):
            wanted = [member for sample in unit["samples"][skip if position == 0 else 0 :] for member in sample]
            plans.append((unit["url"], wanted, coalesce([(offset, offset + size) for _, offset, size in wanted])))
        fetched = ordered_map(
            self._fetch, ((url, read) for url, _, reads in plans for read in reads), self.read_threads
        )
        for position, (url, wanted, _) in enumerate(plans):
            if not wanted:
                continue
            members = _members(wanted, fetched)
            for _, example in self.builder._generate_examples(tar_paths=[url], tar_iterators=[members]):
                yield position, f"{url}::{example['__key__']}", example

    @staticmethod
    def _fetch(task: tuple[str, Read]) -> tuple[Read, bytes]:
        import fsspec

        url, read = task
        fs, path = fsspec.core.url_to_fs(url)
        return read, read_range(fs, path, read)


def _members(wanted: list[tuple[str, int, int]], fetched: Iterator[tuple[Read, bytes]]) -> Iterator:
    """`(member name, its bytes)` in tar order, as `DownloadManager.iter_archive` gives them; takes from `fetched`
    exactly the reads that cover `wanted`."""
    read, data = next(fetched)
    for name, offset, size in wanted:
        while offset + size > read.end:
            read, data = next(fetched)
        yield name, io.BytesIO(data[offset - read.start : offset - read.start + size])


class _SubsetExamples(ExamplesIterable):
    """`datasets`' generator-backed examples over units, told how many samples of a unit to skip on resume (not read
    them), and reading ahead across units; the state is `ExamplesIterable`'s own (unit, samples yielded in it)."""

    def __iter__(self):
        state = self._state_dict
        first = state["shard_idx"] if state else 0
        units = self.kwargs["units"][first:]
        skip = state["shard_example_idx"] if state else 0
        current = 0
        for position, key, example in self.generate_examples_fn(units=units, skip=skip):
            if state:
                if position > current:
                    state["shard_idx"] += position - current
                    state["shard_example_idx"] = 0
                state["shard_example_idx"] += 1
            current = position
            yield key, example
        if state and units:
            state["shard_idx"] += len(units) - current
            state["shard_example_idx"] = 0

    def shuffle_data_sources(self, generator):
        return _SubsetExamples(self.generate_examples_fn, super().shuffle_data_sources(deepcopy(generator)).kwargs)

    def shard_data_sources(self, num_shards: int, index: int, contiguous: bool = True):
        return _SubsetExamples(
            self.generate_examples_fn, super().shard_data_sources(num_shards, index, contiguous).kwargs
        )

    def reshard_data_sources(self):
        return _SubsetExamples(self.generate_examples_fn, self.kwargs)
