"""`openvid-hf build`: an original release turned into the published layout of DESIGN.md, reproducibly.

1. Plan, from the CSVs and the zip listings alone (no video byte read): every row whose video is found, in a
   seeded shuffle; `key` is the position after it, the first positions are the validation split, and each
   split's `sd` and `hd` clips are packed in key order into shards sized from the zip members.
2. Write the shards, in `num_proc` processes: each reads its clips' bytes, probes the container header, drops
   what cannot be published (undecodable, too short, under `min_height`) and writes a reproducible tar
   (`openvid_hf.shards`). A dropped clip leaves its key unused, so no other clip's key or shard changes.
3. Write the metadata tables, `manifest.json` and the card, each under a temporary name.

The plan fixes every shard's content before anything is written, so the output does not depend on
`num_proc`, and an interrupted build resumes: each finished shard is recorded with its SHA-256 in a journal
(`OUT_DIR/.build/`, removed when the build completes) and reused when its file still has that checksum.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .atomic import replacing, write_text
from .errors import OpenVidError, UsageError
from .filters import DEFAULT_MIN_FRAMES, ClipFilter
from .layout import (
    DATA_DIR,
    DEFAULT_OUT_DIR,
    DEFAULT_SEED,
    DEFAULT_SHARD_SIZE,
    DEFAULT_VALIDATION_SIZE,
    MANIFEST_FILE,
    METADATA_DIR,
    SPLITS,
    SUBSETS,
    metadata_path,
    shard_path,
    shard_split_and_subset,
    subset_of,
)
from .manifest import FileEntry, Manifest, Skip, local_tree, skipped_phrase
from .release import (
    READ_AHEAD,
    Location,
    Release,
    ReleaseClip,
    ReleaseReader,
    SkipReport,
    default_index_cache_dir,
    ordered_map,
)
from .sample import HD_CSV, MAIN_CSV
from .schema import VIDEO_COLUMN, format_key, metadata_table_features
from .shards import ShardWriter, encode_record, estimated_sample_bytes, file_sha256, read_shard_records

#: Where an unfinished build records its finished shards.
JOURNAL_DIR = ".build"


def parse_size(text: str | int) -> int:
    """A size as `datasets` writes them (`"1GB"`, `"500MB"`, `"2GiB"`) or a number of bytes."""
    from datasets.utils.py_utils import convert_file_size_to_int

    text = str(text).strip()
    try:
        size = int(text) if text.isdigit() else convert_file_size_to_int(text)
    except ValueError:
        raise UsageError(f"not a size: {text!r} (write it like 1GB, 500MB or 2GiB)") from None
    if size <= 0:
        raise UsageError(f"the size must be positive (got {text!r})")
    return size


@dataclass(frozen=True)
class BuildOptions:
    """How to build: shard target size in bytes, validation size (None: the default), seed, processes, filters."""

    shard_size: int = field(default_factory=lambda: parse_size(DEFAULT_SHARD_SIZE))
    validation_size: int | None = None
    seed: int = DEFAULT_SEED
    num_proc: int = 1
    min_frames: int = DEFAULT_MIN_FRAMES
    filters: ClipFilter = field(default_factory=ClipFilter)
    repo_id: str | None = None
    index_cache_dir: Path | None = None
    storage_options: dict | None = None

    def __post_init__(self):
        for name, minimum in (("shard_size", 1), ("num_proc", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise UsageError(f"{name} must be an integer of at least {minimum} (got {value!r})")
        if self.validation_size is not None and (
            isinstance(self.validation_size, bool)
            or not isinstance(self.validation_size, int)
            or self.validation_size < 0
        ):
            raise UsageError(f"validation_size must be a non-negative integer (got {self.validation_size!r})")


def validation_count(requested: int | None, rows: int) -> int:
    """The default (1000, at most 1 % of the rows) or the requested size, which must leave a training clip."""
    if requested is None:
        return min(DEFAULT_VALIDATION_SIZE, rows // 100)
    if requested and requested >= rows:
        raise UsageError(
            f"--validation-size {requested} leaves no training clip: the release has {rows} rows with a video"
        )
    return requested


def filters_as_json(filters: ClipFilter) -> dict[str, Any]:
    """The filters that are set, as plain JSON values (the manifest records them)."""
    values = {name: getattr(filters, name) for name in ClipFilter.names()}
    return {
        name: sorted(value) if isinstance(value, frozenset) else value
        for name, value in values.items()
        if value is not None
    }


@dataclass(frozen=True)
class PlannedClip:
    """A row of the release placed in the build: its key after the shuffle and where its video is."""

    key: str
    row: dict[str, Any]
    hd: bool
    location: Location

    def identity(self) -> list:
        """What the shard's bytes depend on: the row, and the member's name, offset, size and CRC-32."""
        member = self.location.member
        archive = self.location.archive.name
        return [self.key, self.row, self.hd, archive, member.name, member.header_offset, member.size, member.crc32]

    def release_clip(self) -> ReleaseClip:
        return ReleaseClip(key=self.key, row=dict(self.row), hd=self.hd, location=self.location)


@dataclass(frozen=True)
class ShardPlan:
    path: str
    clips: tuple[PlannedClip, ...]


@dataclass
class BuildPlan:
    """Every shard's content, decided before anything is written, and what the plan already left out."""

    shards: list[ShardPlan]
    validation_size: int
    report: SkipReport
    fingerprint: str

    def paths(self) -> set[str]:
        splits = {shard_split_and_subset(shard.path)[0] for shard in self.shards}
        return {shard.path for shard in self.shards} | {metadata_path(split) for split in splits}


def plan_build(reader: ReleaseReader, options: BuildOptions, source: str) -> BuildPlan:
    """Shuffle the located rows (seeded), split off validation, pack each split's sd and hd clips into shards."""
    located = list(reader.clips(read_videos=False))
    random.Random(options.seed).shuffle(located)
    validation_size = validation_count(options.validation_size, len(located))
    groups: dict[tuple[str, str], list[PlannedClip]] = {}
    for position, clip in enumerate(located):
        split = "validation" if position < validation_size else "train"
        planned = PlannedClip(format_key(position), clip.row, clip.hd, clip.location)
        groups.setdefault((split, subset_of(clip.hd)), []).append(planned)
    shards = [
        shard
        for split in SPLITS
        for subset in SUBSETS
        for shard in pack_shards(split, subset, groups.get((split, subset), []), options.shard_size)
    ]
    digest = hashlib.sha256(
        json.dumps([__version__, source, options.min_frames, filters_as_json(options.filters)]).encode()
    )
    for shard in shards:
        identity = [shard.path, [clip.identity() for clip in shard.clips]]
        digest.update(json.dumps(identity, ensure_ascii=False).encode())
    return BuildPlan(shards, validation_size, reader.report, digest.hexdigest())


def pack_shards(split: str, subset: str, clips: list[PlannedClip], shard_size: int) -> list[ShardPlan]:
    """Consecutive clips up to `shard_size` bytes a shard (a clip larger than that gets a shard of its own)."""
    shards: list[ShardPlan] = []
    current: list[PlannedClip] = []
    current_bytes = 0
    for clip in clips:
        size = estimated_sample_bytes(clip.location.member.size)
        if current and current_bytes + size > shard_size:
            shards.append(ShardPlan(shard_path(split, subset, len(shards)), tuple(current)))
            current, current_bytes = [], 0
        current.append(clip)
        current_bytes += size
    if current:
        shards.append(ShardPlan(shard_path(split, subset, len(shards)), tuple(current)))
    return shards


@dataclass
class ShardResult:
    """A written (or reused) shard: what the manifest lists, what it dropped, and its metadata rows."""

    path: str
    samples: int = 0
    bytes: int = 0
    sha256: str = ""
    filtered: int = 0
    skipped: list[Skip] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)
    reused: bool = False

    def entry(self) -> FileEntry:
        return FileEntry(self.path, self.bytes, self.sha256, self.samples)

    def to_journal(self) -> dict[str, Any]:
        payload = asdict(self.entry()) | {"filtered": self.filtered}
        return payload | {"skipped": [asdict(skip) for skip in self.skipped]}

    @classmethod
    def from_journal(cls, payload: dict[str, Any]) -> ShardResult:
        skipped = [Skip(**skip) for skip in payload.pop("skipped")]
        return cls(**payload, skipped=skipped)


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
                {**record, "shard": shard.path, "member": member} for member, record in read_shard_records(path)
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
                    writer.add_sample(record["key"], {"json": encode_record(record), VIDEO_COLUMN: data})
                    member = f"{record['key']}.{VIDEO_COLUMN}"
                    result.records.append({**record, "shard": shard.path, "member": member})
        result.samples, result.bytes, result.sha256 = writer.samples, writer.size, writer.sha256
        return result

    def _read_sample(self, clip: ReleaseClip) -> tuple[dict, bytes] | Skip | None:
        """Read, check and hash one clip: run in the read-ahead threads, beside the writer hashing the shard."""
        outcome = self.reader.read_clip(clip)
        if not isinstance(outcome, ReleaseClip):
            return outcome
        return outcome.record(), outcome.data


def _has_checksum(path: Path, finished: ShardResult) -> bool:
    return path.is_file() and path.stat().st_size == finished.bytes and file_sha256(path) == finished.sha256


_worker_maker: ShardMaker | None = None


def _start_worker(
    source: str, storage_options: dict | None, filters: ClipFilter, min_frames: int, out_dir: Path
) -> None:
    global _worker_maker
    reader = ReleaseReader(Release(source, storage_options), filters=filters, min_frames=min_frames)
    _worker_maker = ShardMaker(reader, out_dir)


def _make_in_worker(shard: ShardPlan, finished: ShardResult | None) -> ShardResult:
    return _worker_maker.make(shard, finished)


class BuildJournal:
    """The shards an unfinished build has completed, for the plan it was building (`OUT_DIR/.build/`)."""

    def __init__(self, out_dir: Path):
        self.directory = out_dir / JOURNAL_DIR

    def exists(self) -> bool:
        return self.directory.is_dir()

    def start(self, fingerprint: str) -> dict[str, ShardResult]:
        """The finished shards of this plan; a journal of another plan is discarded."""
        plan_file = self.directory / "plan.json"
        try:
            same_plan = json.loads(plan_file.read_text(encoding="utf-8"))["plan"] == fingerprint
        except (OSError, ValueError, KeyError, TypeError):
            same_plan = False
        if not same_plan:
            self.remove()
            write_text(plan_file, json.dumps({"plan": fingerprint}) + "\n")
            return {}
        finished = {}
        for path in sorted((self.directory / "shards").glob("*.json")):
            try:
                result = ShardResult.from_journal(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            finished[result.path] = result
        return finished

    def record(self, result: ShardResult) -> None:
        name = result.path.replace("/", "--") + ".json"
        write_text(self.directory / "shards" / name, json.dumps(result.to_journal(), ensure_ascii=False))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


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
    from huggingface_hub.utils import tqdm

    from .cards import write_dataset_card

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
    with tqdm(total=len(plan.shards), desc=f"Writing shards to {out_dir}", unit=" shards") as progress:
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
    maker_args = (reader.release.source, options.storage_options, options.filters, options.min_frames, out_dir)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=maker_args) as pool:
        futures = [pool.submit(_make_in_worker, *task) for task in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _write_metadata(out_dir: Path, split: str, results: list[ShardResult]) -> FileEntry:
    """`metadata/{split}.parquet`: every published clip of the split in key order, with its shard and member."""
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
