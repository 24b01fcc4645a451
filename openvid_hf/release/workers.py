"""The release as an executor's workers read it: a picklable `ReleaseSpec` each worker process turns into its own
reader once, and `ProbeJob`, the per-clip checks of `inspect` (read, CRC-32, header probe, frame count) run there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .filters import DEFAULT_MIN_FRAMES, ClipFilter
from .reader import ReleaseClip, ReleaseReader
from .skips import Skip
from .source import Release


@dataclass
class ReleaseSpec:
    """What a worker needs to read the release as the driver does: picklable, for any executor's workers.

    Each worker process keeps one reader for the spec it last served (a worker serves one job at a time).
    """

    source: str
    storage_options: dict | None = None
    filters: ClipFilter = field(default_factory=ClipFilter)
    min_frames: int = DEFAULT_MIN_FRAMES
    config: str = "default"

    def __post_init__(self):
        self.source = worker_path(self.source)

    def reader(self) -> ReleaseReader:
        global _worker_reader
        if _worker_reader is None or _worker_reader[0] != self:
            release = Release(self.source, self.storage_options)
            reader = ReleaseReader(release, self.config, filters=self.filters, min_frames=self.min_frames)
            _worker_reader = (self, reader)
        return _worker_reader[1]


def worker_path(source: str) -> str:
    """`source` as a worker elsewhere (another working directory, another node) finds it: absolute when local."""
    return source if "://" in source else str(Path(source).resolve())


#: This process's reader of the release and the spec it was made for.
_worker_reader: tuple[ReleaseSpec, ReleaseReader] | None = None


@dataclass
class ProbeJob:
    """`inspect`'s per-clip work on a worker, for a batch of located clips: each one's `Skip`, None when a filter
    leaves it out, or True when it is readable and long enough (its bytes stay on the worker)."""

    release: ReleaseSpec

    def __call__(self, batch: tuple[int, list[ReleaseClip]]) -> tuple[int, list[Skip | bool | None]]:
        first, clips = batch
        reader = self.release.reader()
        outcomes = (reader.read_clip(clip) for clip in clips)
        return first, [True if isinstance(outcome, ReleaseClip) else outcome for outcome in outcomes]
