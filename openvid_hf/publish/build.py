"""`openvid-hf build`: an original release turned into the published layout of DESIGN.md, reproducibly.

1. Plan, from the CSVs and the zip listings alone (no video byte read): every row whose video is found, in a
   seeded shuffle; `key` is the position after it, the first positions are the validation split, and each
   split's `sd` and `hd` clips are packed in key order into shards sized from the zip members.
2. Write the shards, in `num_proc` processes: each reads its clips' bytes, probes the container header, drops
   what cannot be published (undecodable, too short, under `min_height`) and writes a reproducible tar
   (`openvid_hf.publish.shards`). A dropped clip leaves its key unused, so no other clip's key or shard changes.
3. Write the metadata tables, `manifest.json` and the card, each under a temporary name.

The plan (`plan`) fixes every shard's content before anything is written, so the output does not depend on
`num_proc`, and an interrupted build resumes: each finished shard is recorded with its SHA-256 in a journal
(`journal`, removed when the build completes) and reused when its file still has that checksum.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..atomic import replacing, write_text
from ..errors import OpenVidError
from ..processes import die_with_parent
from ..release.archives import default_index_cache_dir
from ..release.filters import ClipFilter
from ..release.layout import HD_CSV, MAIN_CSV
from ..release.reader import READ_AHEAD, ReleaseClip, ReleaseReader, ordered_map
from ..release.skips import Skip, skipped_phrase
from ..release.source import Release
from ..schema import (
    RECORD_COLUMN,
    VIDEO_COLUMN,
    member_offset_column,
    member_size_column,
    metadata_table_features,
)
from .journal import JOURNAL_DIR, BuildJournal, ShardResult
from .layout import (
    DATA_DIR,
    DEFAULT_OUT_DIR,
    MANIFEST_FILE,
    METADATA_DIR,
    SPLITS,
    metadata_path,
    shard_split_and_subset,
)
from .manifest import FileEntry, Manifest, local_tree
from .plan import BuildOptions, BuildPlan, ShardPlan, filters_as_json, plan_build
from .shards import ShardWriter, encode_record, file_sha256, read_shard_records


class ShardMaker:
    """Writes planned shards from the release: one in each worker process, or the build's own with one process."""

    def __init__(self, reader: ReleaseReader, out_dir: Path):
        self.reader = reader
        self.out_dir = out_dir

    def make(self, shard: ShardPlan, finished: ShardResult | None) -> ShardResult:
        """Reuse the shard when its file still has the checksum the journal recorded, else write it."""
        path = self.out_dir / shard.path
        if finished is not None and _has_checksum(path, finished):
            finished.records = [
                _metadata_row(record, shard.path, member, ranges)
                for member, record, ranges in read_shard_records(path)
            ]
            finished.reused = True
            return finished
        return self._write(shard, path)

    def _write(self, shard: ShardPlan, path: Path) -> ShardResult:
        result = ShardResult(shard.path)
        located = (clip.release_clip() for clip in shard.clips)
        with ShardWriter(path) as writer:
            for outcome in ordered_map(self._read_sample, located, READ_AHEAD):
                if isinstance(outcome, Skip):
                    result.skipped.append(outcome)
                elif outcome is None:
                    result.filtered += 1
                else:
                    record, data = outcome
                    members = {RECORD_COLUMN: encode_record(record), VIDEO_COLUMN: data}
                    ranges = writer.add_sample(record["key"], members)
                    member = f"{record['key']}.{VIDEO_COLUMN}"
                    result.records.append(_metadata_row(record, shard.path, member, ranges))
        result.samples, result.bytes, result.sha256 = writer.samples, writer.size, writer.sha256
        return result

    def _read_sample(self, clip: ReleaseClip) -> tuple[dict, bytes] | Skip | None:
        """Read, check and hash one clip: run in the read-ahead threads, beside the writer hashing the shard."""
        outcome = self.reader.read_clip(clip)
        if not isinstance(outcome, ReleaseClip):
            return outcome
        return outcome.record(), outcome.data


def _metadata_row(record: dict, shard: str, member: str, ranges: dict[str, tuple[int, int]]) -> dict:
    """One row of the metadata table: the record, where the sample is, and its members' byte ranges."""
    row = {**record, "shard": shard, "member": member}
    for extension, (offset, size) in ranges.items():
        row[member_offset_column(extension)], row[member_size_column(extension)] = offset, size
    return row


def _has_checksum(path: Path, finished: ShardResult) -> bool:
    return path.is_file() and path.stat().st_size == finished.bytes and file_sha256(path) == finished.sha256


_worker_maker: ShardMaker | None = None


def _start_worker(
    parent_pid: int, source: str, storage_options: dict | None, filters: ClipFilter, min_frames: int, out_dir: Path
) -> None:
    """A worker's reader and shard maker; the worker ends with the build (a killed build leaves no orphan)."""
    global _worker_maker
    die_with_parent(parent_pid)
    reader = ReleaseReader(Release(source, storage_options), filters=filters, min_frames=min_frames)
    _worker_maker = ShardMaker(reader, out_dir)


def _make_in_worker(shard: ShardPlan, finished: ShardResult | None) -> ShardResult:
    return _worker_maker.make(shard, finished)


@dataclass
class BuildSummary:
    out_dir: Path
    manifest: Manifest
    reused: int
    seconds: float
    up_to_date: bool = False

    def line(self) -> str:
        totals = self.manifest.totals()
        per_split = ", ".join(
            f"{split} {sum(counts['samples'] for counts in subsets.values())}"
            for split, subsets in totals["splits"].items()
        )
        hd = sum(counts.get("hd", {}).get("samples", 0) for counts in totals["splits"].values())
        state = "up to date" if self.up_to_date else f"{self.reused} shards reused"
        return (
            f"built {self.out_dir}: {totals['samples']} clips ({hd} hd; {per_split}) in {totals['shards']} shards, "
            f"{totals['bytes'] / 1e6:.1f} MB; {skipped_phrase(self.manifest.skipped_counts())}"
            + f", {self.manifest.filtered_out} filtered out; {state}; {self.seconds:.1f} s"
        )


def build_dataset(
    source: str | Path, out_dir: str | Path = DEFAULT_OUT_DIR, options: BuildOptions | None = None
) -> BuildSummary:
    """Build the published layout of the release at `source` (a folder or `hf://datasets/ORG/NAME`) in `out_dir`."""
    from ..progress import progress_bar
    from .dataset_card import write_dataset_card

    started = time.perf_counter()
    options = options or BuildOptions()
    source, out_dir = str(source), Path(out_dir)
    card_repo_id = options.repo_id or str(out_dir)
    _check_out_dir(out_dir)
    reader = ReleaseReader(
        Release(source, options.storage_options),
        filters=options.filters,
        min_frames=options.min_frames,
        index_cache_dir=options.index_cache_dir or default_index_cache_dir(),
    )
    plan = plan_build(reader, options, source)
    if not plan.shards:
        raise OpenVidError(
            f"{source}: no clip to publish: {reader.report.filtered} rows filtered out, "
            f"{skipped_phrase(reader.report.counts())}"
        )
    journal = BuildJournal(out_dir)
    previous = None if journal.exists() else _complete_build_of(out_dir, plan)
    if previous is not None:
        write_dataset_card(out_dir, card_repo_id, previous)
        return BuildSummary(out_dir, previous, len(plan.shards), time.perf_counter() - started, up_to_date=True)

    finished = journal.start(plan.fingerprint)
    _remove_files_not_in(out_dir, plan.paths())
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    results: dict[str, ShardResult] = {}
    with progress_bar(total=len(plan.shards), desc=f"Writing shards to {out_dir}", unit=" shards") as progress:
        for result in _shard_results(plan, finished, options, reader, out_dir):
            if not result.reused:
                journal.record(result)
            results[result.path] = result
            progress.update()
    ordered = [results[shard.path] for shard in plan.shards]
    metadata = [_write_metadata(out_dir, split, ordered) for split in SPLITS if _has_split(plan, split)]
    manifest = _manifest(source, options, reader, plan, ordered, metadata)
    # The manifest is written last: its presence says the folder is complete.
    write_dataset_card(out_dir, card_repo_id, manifest)
    write_text(out_dir / MANIFEST_FILE, manifest.to_json())
    journal.remove()
    reused = sum(result.reused for result in ordered)
    return BuildSummary(out_dir, manifest, reused, time.perf_counter() - started)


def _manifest(
    source: str,
    options: BuildOptions,
    reader: ReleaseReader,
    plan: BuildPlan,
    results: list[ShardResult],
    metadata: list[FileEntry],
) -> Manifest:
    skipped = [*plan.report.skipped, *(skip for result in results for skip in result.skipped)]
    return Manifest(
        source=source,
        tool_version=__version__,
        build={
            "seed": options.seed,
            "validation_size": plan.validation_size,
            "shard_size": options.shard_size,
            "min_frames": options.min_frames,
            "filters": filters_as_json(options.filters),
            "csv_rows": reader.rows[MAIN_CSV],
            "hd_csv_rows": reader.rows[HD_CSV],
            "plan": plan.fingerprint,
        },
        shards=[result.entry() for result in results],
        metadata=metadata,
        skipped=sorted(skipped, key=lambda item: (item.reason, item.video, item.detail)),
        filtered_out=plan.report.filtered + sum(result.filtered for result in results),
    )


def _complete_build_of(out_dir: Path, plan: BuildPlan) -> Manifest | None:
    """The folder's manifest when it is a complete build of this very plan whose every file still matches."""
    path = out_dir / MANIFEST_FILE
    try:
        manifest = Manifest.from_json(path.read_bytes(), str(path))
    except (OSError, OpenVidError):
        return None
    if manifest.build.get("plan") != plan.fingerprint or manifest.mismatches(local_tree(out_dir)):
        return None
    return manifest


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OpenVidError(f"{out_dir}: not a folder")
    ours = (out_dir / MANIFEST_FILE).is_file() or (out_dir / JOURNAL_DIR).is_dir()
    if out_dir.is_dir() and not ours and any(out_dir.iterdir()):
        raise OpenVidError(
            f"{out_dir} is not empty and holds no openvid-hf build (no {MANIFEST_FILE}); choose a new or empty folder"
        )


def _remove_files_not_in(out_dir: Path, keep: set[str]) -> None:
    """Files of another plan (or half-written ones) under data/ and metadata/: the configs' globs would load them."""
    for folder in (DATA_DIR, METADATA_DIR):
        root = out_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*"), reverse=True):
            if path.is_file() and path.relative_to(out_dir).as_posix() not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _has_split(plan: BuildPlan, split: str) -> bool:
    return any(shard_split_and_subset(shard.path)[0] == split for shard in plan.shards)


def _shard_results(
    plan: BuildPlan, finished: dict[str, ShardResult], options: BuildOptions, reader: ReleaseReader, out_dir: Path
) -> Iterator[ShardResult]:
    """Each planned shard made (or reused), by the build's reader or spread over `num_proc` worker processes."""
    tasks = [(shard, finished.get(shard.path)) for shard in plan.shards]
    workers = min(options.num_proc, len(tasks))
    if workers <= 1:
        maker = ShardMaker(reader, out_dir)
        for task in tasks:
            yield maker.make(*task)
        return
    # Spawned, not forked: the build process holds threads (read-ahead, HTTP clients) that fork would copy half-way.
    context = multiprocessing.get_context("spawn")
    release, filters = reader.release, options.filters
    maker_args = (os.getpid(), release.source, options.storage_options, filters, options.min_frames, out_dir)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=maker_args) as pool:
        futures = [pool.submit(_make_in_worker, *task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _write_metadata(out_dir: Path, split: str, results: list[ShardResult]) -> FileEntry:
    """`metadata/{split}.parquet`: every published clip of the split in key order, where it is, its ranges."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = sorted(
        (record for result in results if shard_split_and_subset(result.path)[0] == split for record in result.records),
        key=lambda record: record["key"],
    )
    features = metadata_table_features()
    table = pa.Table.from_pylist(records, schema=features.arrow_schema)
    path = out_dir / metadata_path(split)
    with replacing(path) as temporary:
        pq.write_table(table, temporary)
    return FileEntry(metadata_path(split), path.stat().st_size, file_sha256(path), len(records))
