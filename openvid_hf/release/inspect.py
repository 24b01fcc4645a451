"""`openvid-hf inspect`: what a release holds for one config, and every row or video it cannot give."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .filters import DEFAULT_MIN_FRAMES
from .layout import HD_CSV, MAIN_CSV
from .reader import ReleaseReader
from .source import Release


def inspect_release(
    source: str | Path,
    config: str = "default",
    min_frames: int = DEFAULT_MIN_FRAMES,
    read_videos: bool = True,
    index_cache_dir: str | Path | None = None,
    storage_options: dict | None = None,
) -> dict[str, Any]:
    """What the release holds for `config`: CSV rows, HD rows, videos found and every skip, as plain data."""
    started = time.perf_counter()
    reader = ReleaseReader(
        Release(source, storage_options), config=config, min_frames=min_frames, index_cache_dir=index_cache_dir
    )
    for _ in reader.clips(read_videos=read_videos):
        pass
    return {
        "rows": reader.rows.get(MAIN_CSV, 0),
        "hd_rows": reader.rows.get(HD_CSV, 0),
        "videos": reader.videos,
        "skipped": reader.report.skipped,
        "summary": reader.report.summary(f"{source} ({config})", time.perf_counter() - started),
    }
