"""`openvid-hf index`: byte ranges added to the metadata of an already published WebDataset repository (or folder).

Every tar of every config and split is walked header by header (`tar_index`: 512-byte range reads, member bodies
skipped), so it works on repositories this tool did not build, as long as each key is one sample. A repository
built by `openvid-hf build` before format 2 keeps its metadata table and gains the range columns (and its manifest
the new table's size and checksum); any other gets a table of `key`, `shard` and each member's offset and size.
The new tables are uploaded in one commit through `hub.publish_folder`, or written in place in a local folder.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import replacing, write_text
from ..errors import OpenVidError, UsageError
from ..hub import publish_folder
from ..release.reader import ordered_map
from ..schema import (
    FIELD_NAMES,
    METADATA_FORMAT_VERSION,
    member_offset_column,
    member_size_column,
    metadata_table_features,
    ranged_extensions,
)
from .layout import MANIFEST_FILE, metadata_path
from .manifest import FileEntry, Manifest
from .shards import file_sha256
from .subset import shard_of_url
from .tar_index import Read, TarMember, read_range, tar_members
from .verify import REPO_TYPE, commit_sha, download, parse_target

if TYPE_CHECKING:
    import pyarrow as pa

#: Tars whose headers are read at the same time.
INDEX_THREADS = 8


@dataclass
class IndexSummary:
    target: str
    samples: int
    shards: int
    header_reads: int
    tables: list[str]
    seconds: float
    commit: str = ""

    def line(self) -> str:
        where = f" (commit {self.commit[:7]})" if self.commit else ""
        return (
            f"indexed {self.target}: {self.samples} samples in {self.shards} shards from {self.header_reads} header "
            f"reads; wrote {', '.join(self.tables)}{where} in {self.seconds:.1f} s"
        )


def index_dataset(target: str | os.PathLike, revision: str | None = None) -> IndexSummary:
    """Add each member's byte offset and size to `metadata/{split}.parquet` of a Hub dataset repo or a folder."""
    started = time.perf_counter()
    location = parse_target(target)
    commit = None
    if isinstance(location, Path):
        if revision:
            raise UsageError("--revision applies to a Hub repository, not to a local folder")
    else:
        from huggingface_hub import HfApi

        commit = commit_sha(HfApi(), location, revision)
    split_urls = _data_files(location, commit)
    shard_of = shard_of_url(location, commit)
    tables: dict[str, pa.Table] = {}
    reads = 0
    # Every table is made before any is written, so a failure leaves the folder or repository as it was.
    for split, urls in split_urls.items():
        indexed = list(ordered_map(_index_tar, urls, INDEX_THREADS))
        reads += sum(count for _, count in indexed)
        rows = [
            row
            for url, (members, _) in zip(urls, indexed, strict=True)
            for row in _sample_rows(shard_of(url), members, url)
        ]
        tables[split] = _merged_table(_existing_table(location, split, commit), rows, split)
    manifest = _manifest(location, commit)
    with tempfile.TemporaryDirectory(prefix="openvid-index-") as staging:
        folder = location if isinstance(location, Path) else Path(staging)
        entries = [_write_table(folder, split, table) for split, table in tables.items()]
        if manifest is not None:
            by_path = {entry.path: entry for entry in entries}
            manifest.metadata = [by_path.get(old.path, old) for old in manifest.metadata]
            manifest.metadata_format = METADATA_FORMAT_VERSION
            write_text(folder / MANIFEST_FILE, manifest.to_json())
        made = ""
        if not isinstance(location, Path):
            made = publish_folder(
                folder,
                location,
                repo_type=REPO_TYPE,
                revision=revision,
                commit_message=f"Add byte ranges to {', '.join(entry.path for entry in entries)} (openvid-hf index)",
            ).oid
    samples = sum(table.num_rows for table in tables.values())
    shards = sum(len(urls) for urls in split_urls.values())
    paths = [entry.path for entry in entries]
    return IndexSummary(str(target), samples, shards, reads, paths, time.perf_counter() - started, made)


def _data_files(location: Path | str, commit: str | None) -> dict[str, list[str]]:
    """Every tar of every config, by split, in the configs' order (a shard shared by two configs once)."""
    import datasets

    split_urls: dict[str, list[str]] = {}
    for config in datasets.get_dataset_config_names(str(location), revision=commit):
        builder = datasets.load_dataset_builder(str(location), config, revision=commit)
        for split, urls in (builder.config.data_files or {}).items():
            known = split_urls.setdefault(str(split), [])
            known.extend(url for url in urls if url not in known)
    tars = {split: [url for url in urls if url.endswith(".tar")] for split, urls in split_urls.items()}
    if not any(tars.values()):
        raise OpenVidError(f"{location}: no .tar data files: not a WebDataset dataset")
    return {split: urls for split, urls in tars.items() if urls}


def _index_tar(url: str) -> tuple[list[TarMember], int]:
    """The members of one tar, and how many reads its headers took."""
    import fsspec

    fs, path = fsspec.core.url_to_fs(url)
    reads = 0

    def read(start: int, end: int) -> bytes:
        nonlocal reads
        reads += 1
        return read_range(fs, path, Read(start, end))

    return tar_members(read, fs.size(path), url), reads


def _sample_rows(shard: str, members: list[TarMember], url: str) -> list[dict[str, Any]]:
    """One row per key: the shard and each member's offset and size (keys split as `datasets`' WebDataset does)."""
    from datasets.packaged_modules.webdataset.webdataset import base_plus_ext

    rows: dict[str, dict[str, Any]] = {}
    for member in members:
        key, extension = base_plus_ext(member.name)
        if key is None:
            continue
        row = rows.setdefault(key, {"key": key, "shard": shard})
        if member_offset_column(extension) in row:
            raise OpenVidError(f"{url}: member {member.name} appears twice: one sample per key is required")
        row[member_offset_column(extension)] = member.offset
        row[member_size_column(extension)] = member.size
    return list(rows.values())


def _existing_table(location: Path | str, split: str, commit: str | None) -> pa.Table | None:
    import pyarrow.parquet as pq

    if isinstance(location, Path):
        path = location / metadata_path(split)
        return pq.read_table(path) if path.is_file() else None
    from huggingface_hub import HfApi
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return pq.read_table(
            HfApi().hf_hub_download(location, metadata_path(split), repo_type=REPO_TYPE, revision=commit)
        )
    except EntryNotFoundError:
        return None


def _merged_table(existing: pa.Table | None, rows: list[dict[str, Any]], split: str) -> pa.Table:
    """The existing table with fresh range columns (every row must be in a tar), else a table of the rows."""
    import pyarrow as pa

    if existing is None:
        return pa.Table.from_pylist(rows)
    by_place = {(row["shard"], row["key"]): row for row in rows}
    kept = [
        name for name in existing.column_names if name not in _range_columns(ranged_extensions(existing.column_names))
    ]
    records = existing.select(kept).to_pylist()
    for record in records:
        found = by_place.get((record["shard"], record["key"]))
        if found is None:
            raise OpenVidError(f"{metadata_path(split)}: key {record['key']} is not in {record['shard']}")
        record.update({name: value for name, value in found.items() if name not in ("key", "shard")})
    if set(FIELD_NAMES).issubset(kept):  # a table of `openvid-hf build`: the contract's columns and order
        return pa.Table.from_pylist(records, schema=metadata_table_features().arrow_schema)
    return pa.Table.from_pylist(records)


def _range_columns(extensions: list[str]) -> set[str]:
    return {
        column
        for extension in extensions
        for column in (member_offset_column(extension), member_size_column(extension))
    }


def _write_table(root: Path, split: str, table: pa.Table) -> FileEntry:
    import pyarrow.parquet as pq

    path = root / metadata_path(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        pq.write_table(table, temporary)
    return FileEntry(metadata_path(split), path.stat().st_size, file_sha256(path), table.num_rows)


def _manifest(location: Path | str, commit: str | None) -> Manifest | None:
    """The manifest of a repository built by `openvid-hf build`, to record the new tables in; else None."""
    if isinstance(location, Path):
        path = location / MANIFEST_FILE
        return Manifest.from_json(path.read_bytes(), str(path)) if path.is_file() else None
    from huggingface_hub import HfApi

    try:
        path = download(HfApi(), location, MANIFEST_FILE, commit)
    except OpenVidError:
        return None
    return Manifest.from_json(Path(path).read_bytes(), f"{location}/{MANIFEST_FILE}")
