"""`openvid-hf inspect`: what a release holds for one config, and every row or video it cannot give.

The driver reads the CSVs and the zips' central directories; the per-clip checks that need a clip's bytes (read,
CRC-32, header probe, frame count) run on the executor's workers (`workers.ProbeJob`), in batches of
`PROBE_BATCH` clips, and their skips are put back where the rows are, so the report reads in CSV order whatever
the executor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..executors import Executor, make_executor
from .filters import DEFAULT_MIN_FRAMES
from .layout import HD_CSV, MAIN_CSV
from .reader import ReleaseClip, ReleaseReader
from .skips import Skip
from .source import Release
from .workers import ProbeJob, ReleaseSpec

#: Clips a worker checks per task: enough to make a task's overhead small, few enough to spread the work.
PROBE_BATCH = 256


def inspect_release(
    source: str | Path,
    config: str = "default",
    min_frames: int = DEFAULT_MIN_FRAMES,
    read_videos: bool = True,
    index_cache_dir: str | Path | None = None,
    storage_options: dict | None = None,
    executor: str = "local",
    num_proc: int = 1,
    ray_address: str | None = None,
) -> dict[str, Any]:
    """What the release holds for `config`: CSV rows, HD rows, videos found and every skip, as plain data.

    The clips' checks run on the `executor` (`local` with `num_proc` processes, or `ray` at `ray_address`).
    """
    started = time.perf_counter()
    workers = make_executor(executor, num_proc, ray_address)
    reader = ReleaseReader(
        Release(source, storage_options), config=config, min_frames=min_frames, index_cache_dir=index_cache_dir
    )
    # Each located clip, with where its skip would stand among the skips reported so far.
    located = [(len(reader.report.skipped), clip) for clip in reader.clips(read_videos=False)]
    if read_videos and config != "metadata":
        spec = ReleaseSpec(str(source), storage_options, min_frames=min_frames, config=config)
        _check_clips(reader, located, ProbeJob(spec), workers)
    return {
        "rows": reader.rows.get(MAIN_CSV, 0),
        "hd_rows": reader.rows.get(HD_CSV, 0),
        "videos": reader.videos,
        "skipped": reader.report.skipped,
        "summary": reader.report.summary(f"{source} ({config})", time.perf_counter() - started),
    }


def _check_clips(
    reader: ReleaseReader, located: list[tuple[int, ReleaseClip]], job: ProbeJob, executor: Executor
) -> None:
    """Check every located clip on the workers; put each skip where the clip's row stands in the report."""
    from ..progress import progress_bar

    batches = [
        (start, [clip for _, clip in located[start : start + PROBE_BATCH]])
        for start in range(0, len(located), PROBE_BATCH)
    ]
    outcomes: list[Skip | bool | None] = [None] * len(located)
    with executor, progress_bar(total=len(located), desc="Checking clips", unit=" clips") as progress:
        for first, results in executor.imap_unordered(job, batches):
            outcomes[first : first + len(results)] = results
            progress.update(len(results))
    report = reader.report
    for (position, _), outcome in reversed(list(zip(located, outcomes, strict=True))):
        if outcome is True:
            continue
        report.yielded -= 1
        if isinstance(outcome, Skip):
            report.skipped.insert(position, outcome)
        else:
            report.filtered += 1
