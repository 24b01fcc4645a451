"""`openvid-hf build`: an original release turned into the published layout of DESIGN.md, reproducibly.

1. Plan, from the CSVs and the zip listings alone (no video byte read): every row whose video is found, in a
   seeded shuffle; `key` is the position after it, the first positions are the validation split, and each
   split's `sd` and `hd` clips are packed in key order into shards sized from the zip members.
2. Write the shards through the executor seam (`openvid_hf.executors`: `num_proc` local processes, or Ray
   tasks across a cluster whose nodes all see SOURCE and OUT_DIR): each worker reads its clips' bytes, probes
   the container header, drops what cannot be published (undecodable, too short, under `min_height`) and writes
   a reproducible tar (`openvid_hf.publish.shards`). A dropped clip leaves its key unused, so no other clip's key
   or shard changes.
3. Write the metadata tables, `manifest.json` and the card, each under a temporary name.

The plan (`plan`) fixes every shard's content before anything is written, so the output depends neither on the
executor nor on the order shards complete in, and an interrupted build resumes: each finished shard is recorded
with its SHA-256 in a journal (`journal`, removed when the build completes) and reused when its file still has
that checksum. `openvid-hf publish` (`direct`) runs the same shard work with an upload instead of a folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..atomic import replacing, write_text
from ..errors import OpenVidError
from ..executors import Executor, make_executor
from ..release.archives import default_index_cache_dir
from ..release.layout import HD_CSV, MAIN_CSV
from ..release.reader import READ_AHEAD, ReleaseClip, ReleaseReader, ordered_map
from ..release.skips import Skip, skipped_phrase
from ..release.source import Release
from ..release.workers import ReleaseSpec
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
from .manifest import FileEntry, Manifest, complete_folder_manifest
from .plan import BuildOptions, BuildPlan, PlannedClip, ShardPlan, filters_as_json, plan_build
from .shards import ShardWriter, encode_record, file_sha256, read_shard_records


class ShardMaker:
    """Writes planned shards from the release: one in each worker process, or the build's own with one process."""

    def __init__(self, reader: ReleaseReader, out_dir: Path):
        self.reader = reader
        self.out_dir = out_dir

    def make(self, shard: ShardPlan, finished: ShardResult | None) -> ShardResult:
        """Reuse the shard when its file still has the checksum the journal recorded, else write it."""
        path = self.out_dir / shard.path
        if finished is not None and finished.is_intact(self.out_dir):
            finished.records = [
                _metadata_row(record, shard.path, member, ranges)
                for member, record, ranges in read_shard_records(path)
            ]
            finished.reused = True
            return finished
        return self._write(shard, path)

    def _write(self, shard: ShardPlan, path: Path) -> ShardResult:
        result = ShardResult(shard.path)
        batches = ordered_map(self._read_batch, _batches(shard.clips), READ_AHEAD)
        with ShardWriter(path) as writer:
            for outcome in (outcome for batch in batches for outcome in batch):
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

    def _read_batch(self, clips: list[PlannedClip]) -> list[tuple[dict, bytes] | Skip | None]:
        return [self._read_sample(clip.release_clip()) for clip in clips]

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


def _batches(clips: tuple[PlannedClip, ...]) -> Iterator[list[PlannedClip]]:
    """Consecutive clips up to `READ_BATCH_BYTES` (or `READ_BATCH_CLIPS` clips) a batch: one read-ahead task each,
    so a small clip does not pay a thread hand-off of its own and a large one still gets a task to itself."""
    batch: list[PlannedClip] = []
    size = 0
    for clip in clips:
        batch.append(clip)
        size += clip.location.member.compressed_size
        if size >= READ_BATCH_BYTES or len(batch) >= READ_BATCH_CLIPS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


#: A read-ahead task reads clips up to this many bytes, or this many clips (see `_batches`).
READ_BATCH_BYTES = 1 << 20
READ_BATCH_CLIPS = 64


@dataclass
class ShardJob:
    """`build`'s work on a worker: make one planned shard in `out_dir` (a folder every worker sees), or reuse it."""

    release: ReleaseSpec
    out_dir: Path

    def __call__(self, task: tuple[ShardPlan, ShardResult | None]) -> ShardResult:
        return ShardMaker(self.release.reader(), self.out_dir).make(*task)


@dataclass
class BuildSummary:
    out_dir: Path
    manifest: Manifest
    reused: int
    seconds: float
    up_to_date: bool = False
    #: Of `seconds`, the driver's planning (CSVs, zip listings, shuffle, shard assignment).
    plan_seconds: float = 0.0

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
    started = time.perf_counter()
    options = options or BuildOptions()
    source, out_dir = str(source), Path(out_dir)
    _check_out_dir(out_dir)
    with make_executor(options.executor, options.num_proc, options.ray_address) as executor:
        planning = time.perf_counter()
        reader, plan = plan_release(source, options)
        timing = (started, time.perf_counter() - planning)
        return _build(executor, reader, plan, source, out_dir, options, timing)


def release_spec(source: str, options: BuildOptions) -> ReleaseSpec:
    """How the build's workers read the release."""
    return ReleaseSpec(source, options.storage_options, options.filters, options.min_frames)


def plan_release(source: str, options: BuildOptions) -> tuple[ReleaseReader, BuildPlan]:
    """The release's reader (its skip report filled) and the build plan; an error when nothing is left to publish."""
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
    return reader, plan


def _build(
    executor: Executor,
    reader: ReleaseReader,
    plan: BuildPlan,
    source: str,
    out_dir: Path,
    options: BuildOptions,
    timing: tuple[float, float],
) -> BuildSummary:
    """Write the planned shards (reusing finished ones), then the tables, card and manifest; `timing` is when the
    build started and how long planning took."""
    from ..progress import progress_bar
    from .dataset_card import write_dataset_card

    started, plan_seconds = timing
    card_repo_id = options.repo_id or str(out_dir)
    journal = BuildJournal(out_dir)
    previous = None if journal.exists() else complete_folder_manifest(out_dir, plan.fingerprint)
    if previous is not None:
        write_dataset_card(out_dir, card_repo_id, previous)
        seconds = time.perf_counter() - started
        return BuildSummary(out_dir, previous, len(plan.shards), seconds, up_to_date=True, plan_seconds=plan_seconds)

    finished = journal.start(plan.fingerprint)
    remove_files_not_in(out_dir, plan.paths())
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)
    results: dict[str, ShardResult] = {}
    with progress_bar(total=len(plan.shards), desc=f"Writing shards to {out_dir}", unit=" shards") as progress:
        job = ShardJob(release_spec(source, options), out_dir.resolve())
        tasks = [(shard, finished.get(shard.path)) for shard in plan.shards]
        for result in executor.imap_unordered(job, tasks):
            if not result.reused:
                journal.record(result)
            results[result.path] = result
            progress.update()
    ordered = [results[shard.path] for shard in plan.shards]
    manifest = write_tables(out_dir, source, options, reader, plan, ordered)
    # The manifest is written last: its presence says the folder is complete.
    write_dataset_card(out_dir, card_repo_id, manifest)
    write_text(out_dir / MANIFEST_FILE, manifest.to_json())
    journal.remove()
    reused = sum(result.reused for result in ordered)
    return BuildSummary(out_dir, manifest, reused, time.perf_counter() - started, plan_seconds=plan_seconds)


def write_tables(
    out_dir: Path,
    source: str,
    options: BuildOptions,
    reader: ReleaseReader,
    plan: BuildPlan,
    results: list[ShardResult],
) -> Manifest:
    """Write the metadata tables of the finished shards (`results`, in plan order) and return the manifest."""
    metadata = [write_metadata(out_dir, split, results) for split in SPLITS if has_split(plan, split)]
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


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise OpenVidError(f"{out_dir}: not a folder")
    ours = (out_dir / MANIFEST_FILE).is_file() or (out_dir / JOURNAL_DIR).is_dir()
    if out_dir.is_dir() and not ours and any(out_dir.iterdir()):
        raise OpenVidError(
            f"{out_dir} is not empty and holds no openvid-hf build (no {MANIFEST_FILE}); choose a new or empty folder"
        )


def remove_files_not_in(out_dir: Path, keep: set[str]) -> None:
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


def has_split(plan: BuildPlan, split: str) -> bool:
    return any(shard_split_and_subset(shard.path)[0] == split for shard in plan.shards)


def write_metadata(out_dir: Path, split: str, results: list[ShardResult]) -> FileEntry:
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
