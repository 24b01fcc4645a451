"""One pass over the original release for one config: rows in CSV order, each located, read, probed and filtered.

One reader serves the `datasets` loading script (`openvid_hf.dataset_script`), `openvid-hf inspect` and the
shard build. A source is a local folder or a Hub dataset repository (`hf://datasets/ORG/NAME`), both through
fsspec, so a remote release is read with range requests (see `archives`). Nothing is ever written from a zip
member's name: names only key a lookup by base name, and unsafe ones are reported.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from ..errors import UsageError
from ..schema import format_key, rounded_to_float32
from ..video.decoding import VideoDecodeError, VideoProbe, probe_video
from .archives import Archive, MemberIndexCache, MemberReadError, ZipMember, read_member, scan_members
from .filters import DEFAULT_MIN_FRAMES, ClipFilter
from .layout import CONFIGS, HD_CSV, MAIN_CSV, base_name, is_unsafe_name
from .skips import Skip, SkipReport
from .source import Release

logger = logging.getLogger(__name__)

#: Videos read and probed ahead of the one being yielded: remote reads are latency bound.
READ_AHEAD = 8


@dataclass(slots=True)  # slots: a plan holds one per row of the release
class ReleaseClip:
    """One row the reader yields: its CSV values, where its video is, and (when read) the bytes and header."""

    key: str
    row: dict[str, Any]
    hd: bool
    location: Location | None = None
    data: bytes | None = None
    probe: VideoProbe | None = None

    @property
    def video(self) -> str:
        return self.row["video"]

    @property
    def archive(self) -> str | None:
        """The archive (a zip, or the first part of a split one) holding the video; None when none does."""
        return self.location.archive.name if self.location else None

    def record(self) -> dict[str, Any]:
        """Every contract field (`openvid_hf.schema.FIELDS`) of a clip whose video was read."""
        return {
            "key": self.key,
            **rounded_to_float32(self.row),
            "width": self.probe.width,
            "height": self.probe.height,
            "num_frames": self.probe.num_frames,
            "hd": self.hd,
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }

    def metadata_record(self) -> dict[str, Any]:
        """The `metadata` config's fields: CSV values, `hd`, and the archive holding the video."""
        return {"key": self.key, **rounded_to_float32(self.row), "hd": self.hd, "archive": self.archive}


@dataclass(frozen=True, slots=True)
class Location:
    archive: Archive
    member: ZipMember


class VideoIndex:
    """Video base name -> first safe member holding it, over the archives indexed so far, in the order given."""

    def __init__(self, cache: MemberIndexCache | None):
        self._cache = cache
        self._locations: dict[str, Location] = {}
        self.unsafe: list[Location] = []
        self.names_by_archive: dict[str, list[str]] = {}

    def add(self, fs: fsspec.AbstractFileSystem, archives: Iterable[Archive], description: str) -> None:
        from ..progress import progress_bar

        archives = [archive for archive in archives if archive.name not in self.names_by_archive]
        if not archives:
            return
        cached = 0
        with progress_bar(archives, desc=description, unit=" archives") as progress:
            for archive in progress:
                members = self._cache.load(archive) if self._cache else None
                if members is None:
                    members = scan_members(fs, archive)
                    if self._cache:
                        self._cache.save(archive, members)
                else:
                    cached += 1
                    progress.set_postfix(cached=cached)
                self._add_members(archive, members)

    def _add_members(self, archive: Archive, members: list[ZipMember]) -> None:
        names = []
        for member in members:
            if member.is_dir:
                continue
            location = Location(archive, member)
            if is_unsafe_name(member.name):
                self.unsafe.append(location)
                continue
            name = base_name(member.name)
            names.append(name)
            self._locations.setdefault(name, location)
        self.names_by_archive[archive.name] = names

    def find(self, video: str) -> Location | None:
        return self._locations.get(video)


def check_config(config: str) -> None:
    """Raise `UsageError` unless `config` is one of the loading script's `CONFIGS`."""
    if config not in CONFIGS:
        raise UsageError(f"unknown config {config!r}; choose one of {', '.join(CONFIGS)}")


class ReleaseReader:
    """One pass over a release for one config: rows in CSV order, with skips and filters accounted for.

    `default` reads OpenVid-1M.csv and finds each video in the main parts (then in the HD copy);
    `hd` reads OpenVidHD.csv and finds each video in the HD copy (then in the main parts);
    `metadata` reads OpenVid-1M.csv and the central directories only. Keys are positions in OpenVid-1M.csv.
    """

    def __init__(
        self,
        release: Release,
        config: str = "default",
        filters: ClipFilter | None = None,
        min_frames: int = DEFAULT_MIN_FRAMES,
        index_cache_dir: str | Path | None = None,
    ):
        check_config(config)
        self.filters = filters or ClipFilter()
        if config == "metadata" and self.filters.min_height is not None:
            raise UsageError("min_height needs each video's header, which the metadata config does not read")
        if isinstance(min_frames, bool) or not isinstance(min_frames, int) or min_frames < 1:
            raise UsageError(f"min_frames must be a positive integer (got {min_frames!r})")
        self.release = release
        self.config = config
        self.min_frames = min_frames
        release.check_csv(MAIN_CSV)
        self.has_hd_csv = release.exists(HD_CSV)
        if config == "hd" or self.has_hd_csv:
            release.check_csv(HD_CSV)
        if config == "hd":
            self.csv, self.primary, self.fallback = HD_CSV, release.hd_archives, release.main_archives
        else:
            self.csv, self.primary, self.fallback = MAIN_CSV, release.main_archives, release.hd_archives
        cache = MemberIndexCache(index_cache_dir) if index_cache_dir else None
        self.index = VideoIndex(cache)
        self.fallback_index = VideoIndex(cache)
        self.report = SkipReport()
        self.rows: dict[str, int] = {MAIN_CSV: 0, HD_CSV: 0}
        self._hd_holders: dict[str, set[str]] | None = None

    def scan(self) -> None:
        """Index the central directories of the config's own archives (cached on disk when configured)."""
        self.index.add(self.release.fs, self.primary, f"Indexing {self.release.source} zip parts")

    @property
    def videos(self) -> int:
        """Distinct videos under safe names in the config's own archives."""
        return len({name for names in self.index.names_by_archive.values() for name in names})

    def clips(self, read_videos: bool = True) -> Iterator[ReleaseClip]:
        """Yield the config's clips in CSV order; `self.report` is complete once the iterator is exhausted."""
        self.scan()
        self.report = SkipReport()
        seen: set[str] = set()
        outcomes = self._located_rows(seen)
        if read_videos and self.config != "metadata":
            outcomes = ordered_map(self.read_clip, outcomes, READ_AHEAD)
        for outcome in outcomes:
            if isinstance(outcome, Skip):
                self.report.skipped.append(outcome)
            elif outcome is None:
                self.report.filtered += 1
            else:
                self.report.yielded += 1
                self.report.without_video += outcome.archive is None
                yield outcome
        self._report_unmatched(seen)

    def _located_rows(self, seen: set[str]) -> Iterator[Skip | ReleaseClip | None]:
        """Each CSV row as a skip, None (filtered out) or the clip with where its video is."""
        hd_videos = self._hd_videos() if self.config != "hd" else None
        main_keys = self._main_keys() if self.config == "hd" else None
        for position, row in enumerate(self.release.csv_rows(self.csv)):
            video = row["video"]
            seen.add(video)
            self.rows[self.csv] = position + 1
            if not self.filters.accepts_row(row):
                yield None
                continue
            if main_keys is None:
                key = format_key(position)
            else:
                key = main_keys.get(video) or format_key(self.rows[MAIN_CSV] + position)
            location = self.index.find(video) or self._find_elsewhere(video)
            if location is None and self.config != "metadata":
                if not self._under_unsafe_name(video):
                    where = "HD zip or zip part" if self.config == "hd" else "zip part"
                    yield Skip(video, "missing", f"in no {where}")
                continue
            yield ReleaseClip(key=key, row=row, hd=hd_videos is None or video in hd_videos, location=location)

    def _hd_videos(self) -> set[str]:
        if not self.has_hd_csv:
            logger.warning("%s: no %s; every clip has hd=False", self.release.source, HD_CSV)
            return set()
        videos = set()
        for count, row in enumerate(self.release.csv_rows(HD_CSV), start=1):
            videos.add(row["video"])
            self.rows[HD_CSV] = count
        return videos

    def _main_keys(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for position, row in enumerate(self.release.csv_rows(MAIN_CSV)):
            keys.setdefault(row["video"], format_key(position))
            self.rows[MAIN_CSV] = position + 1
        return keys

    def _find_elsewhere(self, video: str) -> Location | None:
        """Look in the other archive set; the HD listing (OpenVidHD.json) narrows which HD zips to scan."""
        archives = self.fallback
        if self.config != "hd" and self.release.hd_listing is not None:
            holders = self._hd_zips_holding(video)
            archives = [archive for archive in archives if posixpath.basename(archive.name) in holders]
        self.fallback_index.add(self.release.fs, archives, f"Indexing {self.release.source} fallback zips")
        return self.fallback_index.find(video)

    def _hd_zips_holding(self, video: str) -> set[str]:
        if self._hd_holders is None:
            self._hd_holders = {}
            for zip_name, members in self.release.hd_listing.items():
                for member in members:
                    self._hd_holders.setdefault(base_name(str(member)), set()).add(posixpath.basename(zip_name))
        return self._hd_holders.get(video, set())

    def _under_unsafe_name(self, video: str) -> bool:
        """The video is held only under an unsafe member name: reported once, as `unsafe_name`."""
        return any(
            base_name(location.member.name) == video for location in self.index.unsafe + self.fallback_index.unsafe
        )

    def read_clip(self, clip: ReleaseClip | Skip | None) -> ReleaseClip | Skip | None:
        """Read and probe one located clip: the clip, a `Skip` saying why not, or None when a filter drops it."""
        if not isinstance(clip, ReleaseClip):
            return clip
        try:
            clip.data = read_member(self.release.fs, clip.location.archive, clip.location.member)
            clip.probe = probe_video(clip.data, name=clip.video)
        except (MemberReadError, VideoDecodeError) as error:
            return Skip(clip.video, "undecodable", str(error))
        if clip.probe.num_frames < self.min_frames:
            return Skip(clip.video, "too_short", f"{clip.probe.num_frames} frames, fewer than {self.min_frames}")
        if not self.filters.accepts_video(clip.probe):
            return None
        return clip

    def _report_unmatched(self, seen: set[str]) -> None:
        for archive, names in self.index.names_by_archive.items():
            for name in names:
                if name not in seen:
                    seen.add(name)
                    self.report.add(name, "not_in_csv", archive)
        for location in self.index.unsafe + self.fallback_index.unsafe:
            self.report.add(
                base_name(location.member.name), "unsafe_name", f"{location.archive.name}: {location.member.name}"
            )


def ordered_map(function: Callable, items: Iterable, workers: int) -> Iterator:
    """`map(function, items)` run up to `workers` items ahead in threads, yielding in order.

    Closing the iterator early cancels what has not started and waits for what has, so no read outlives it.
    """
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        pending: deque = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
