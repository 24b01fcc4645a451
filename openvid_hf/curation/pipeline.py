"""`openvid-hf curate`: the stages in order over an input folder, then the filters and the release.

The scene stage runs per source video and the other CPU stages per clip, as the executor's tasks; model stages run
in batches of clips on its actors (this process for the local executor), one stage's model loaded at a time. Each
stage records its rows in the work folder (`results.ResultStore`) and skips what a previous run finished with the
same settings, so a re-run with new thresholds recomputes nothing and only rewrites the release.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import fsspec

from .. import __version__
from ..errors import OpenVidError, UsageError
from ..executors import Executor, make_executor
from ..progress import progress_bar
from ..video.decoding import VideoDecodeError
from .executor import ordered_actor_map, ordered_map
from .filters import Drop, drop_reason
from .options import MODEL_STEPS, CurateOptions, ModelOptions
from .results import CLIPS_DIR, WORK_DIR, ResultStore
from .scenes import SceneOptions, split_video
from .writer import write_release

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
REPORT_FILE = "report.json"
#: Rows of a CPU stage written per part: what an interrupted run may have to redo.
BATCH_ROWS = 64


@dataclass
class CurateSummary:
    out_dir: Path
    sources: int
    failed: list[dict[str, str]]
    clips: int
    kept: int
    hd: int
    parts: int
    bytes: int
    drops: list[Drop]
    seconds: float

    def line(self) -> str:
        reasons = Counter(drop.reason for drop in self.drops) + Counter(item["reason"] for item in self.failed)
        dropped = ", ".join(f"{count} {reason}" for reason, count in sorted(reasons.items())) or "none"
        return (
            f"curated {self.out_dir}: {self.sources} videos -> {self.clips} clips, {self.kept} kept ({self.hd} hd) "
            f"in {self.parts} zip parts ({self.bytes / 1e6:.1f} MB); dropped or skipped: {dropped}; "
            f"{self.seconds:.1f} s"
        )


def find_videos(source: str) -> tuple[fsspec.AbstractFileSystem, str, list[str]]:
    """The video files under `source` (a folder or an fsspec URL), as paths relative to it, sorted."""
    try:
        fs, root = fsspec.core.url_to_fs(source)
    except (ValueError, ImportError) as error:
        raise UsageError(f"{source}: not a folder or an fsspec URL ({error})") from error
    root = root.rstrip("/") or "/"
    if not fs.isdir(root):
        raise OpenVidError(f"{source}: no such folder")
    found = sorted(
        PurePosixPath(path).relative_to(PurePosixPath(root)).as_posix()
        for path in fs.find(root)
        if path.lower().endswith(VIDEO_SUFFIXES)
    )
    if not found:
        raise OpenVidError(f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)}) in this folder")
    return fs, root, found


def curate(source: str, out_dir: str | Path, options: CurateOptions | None = None) -> CurateSummary:
    """Curate the videos under `source` into a release in `out_dir`, the stages on `options.executor`."""
    started = time.perf_counter()
    options = options or CurateOptions()
    fs, root, videos = find_videos(source)
    with make_executor(options.executor, options.num_proc, options.ray_address) as executor:
        return _run(source, fs, root, videos, Path(out_dir), options, executor, started)


def _run(
    source: str,
    fs: fsspec.AbstractFileSystem,
    root: str,
    videos: list[str],
    out_dir: Path,
    options: CurateOptions,
    executor: Executor,
    started: float,
) -> CurateSummary:
    store = ResultStore(out_dir / WORK_DIR)
    # Absolute: Ray's workers do not run in this process's working directory.
    clips_dir = (store.root / CLIPS_DIR).absolute()
    clips_dir.mkdir(parents=True, exist_ok=True)

    _split_sources(store, executor, fs, root, videos, clips_dir, options.scenes)
    clips = [row["clip"] for row in store.merged(())]
    for step in options.steps:
        if step in MODEL_STEPS:
            _model_stage(store, step, clips, clips_dir, executor, options.models)
        else:
            _cpu_stage(store, step, clips, clips_dir, executor, options.flow)

    rows = store.merged(options.steps)
    failed = [row for row in store.rows("sources", key="source") if row.get("error")]
    failed = [{"video": row["source"], "reason": "undecodable", "detail": row["error"]} for row in failed]
    kept, drops = [], []
    for row in rows:
        if row.get("error"):
            failed.append({"video": row["clip"], "reason": "undecodable", "detail": row["error"]})
            row["kept"] = False
            continue
        drop = drop_reason(row, options.thresholds)
        row["kept"], row["drop_reason"] = drop is None, drop.reason if drop else None
        if drop is None:
            kept.append(row)
        else:
            drops.append(drop)
    store.write_results(rows)
    parts, hd = write_release(out_dir, clips_dir, kept, options.part_bytes)
    summary = CurateSummary(
        out_dir=out_dir,
        sources=len(videos),
        failed=failed,
        clips=len(rows),
        kept=len(kept),
        hd=hd,
        parts=parts,
        bytes=sum((clips_dir / row["clip"]).stat().st_size for row in kept),
        drops=drops,
        seconds=time.perf_counter() - started,
    )
    _write_report(store.root / REPORT_FILE, source, options, summary)
    return summary


def _split_sources(
    store: ResultStore,
    executor: Executor,
    fs: fsspec.AbstractFileSystem,
    root: str,
    videos: list[str],
    clips_dir: Path,
    scene_options: SceneOptions,
) -> None:
    """Cut every source video not cut before with these scene settings; each records its clips or its error."""
    settings = json.dumps(asdict(scene_options), sort_keys=True)
    done = store.done("sources", settings, key="source")
    todo = [video for video in videos if video not in done]
    task = partial(_split_task, fs=fs, root=root, clips_dir=str(clips_dir), options=scene_options)
    results = ordered_map(executor, task, todo)
    clips, sources = [], []
    for video, (rows, error) in zip(todo, progress_bar(results, total=len(todo), desc="Cutting scenes"), strict=True):
        clips.extend(rows)
        sources.append({"source": video, "clips": len(rows), "error": error})
        if len(sources) >= BATCH_ROWS:
            _add_sources(store, clips, sources, settings)
            clips, sources = [], []
    _add_sources(store, clips, sources, settings)


def _add_sources(store: ResultStore, clips: list[dict], sources: list[dict], settings: str) -> None:
    """The clips first: a source is done once its row is written, and then its clips are too."""
    store.add("scenes", clips, settings)
    store.add("sources", sources, settings)


def _split_task(
    video: str, fs: fsspec.AbstractFileSystem, root: str, clips_dir: str, options: SceneOptions
) -> tuple[list[dict[str, Any]], str | None]:
    """Cut one source video; (rows, None), or ([], why) for a video that cannot be read."""
    try:
        if isinstance(fs, fsspec.implementations.local.LocalFileSystem):
            return split_video(f"{root}/{video}", video, clips_dir, options), None
        with tempfile.TemporaryDirectory(dir=clips_dir) as folder:
            local = Path(folder) / PurePosixPath(video).name
            fs.get(f"{root}/{video}", str(local))
            return split_video(local, video, clips_dir, options), None
    except (VideoDecodeError, OSError) as error:
        return [], str(error).splitlines()[0]


def _cpu_stage(
    store: ResultStore, step: str, clips: list[str], clips_dir: Path, executor: Executor, flow: str
) -> None:
    settings = flow if step == "motion" else "laplacian"
    done = store.done(step, settings)
    todo = [clip for clip in clips if clip not in done]
    results = ordered_map(executor, partial(_score_task, step=step, clips_dir=str(clips_dir), flow=flow), todo)
    batch = []
    for row in progress_bar(results, total=len(todo), desc=f"Scoring {step}"):
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            store.add(step, batch, settings)
            batch = []
    store.add(step, batch, settings)


def _score_task(clip: str, step: str, clips_dir: str, flow: str) -> dict[str, Any]:
    from .clarity import clarity_of
    from .motion import motion_of

    path = Path(clips_dir) / clip
    try:
        return {"clip": clip, **(motion_of(path, flow) if step == "motion" else clarity_of(path))}
    except VideoDecodeError as error:
        return {"clip": clip, "error": str(error).splitlines()[0]}


def _model_stage(
    store: ResultStore, step: str, clips: list[str], clips_dir: Path, executor: Executor, models: ModelOptions
) -> None:
    settings = _model_settings(step, models)
    done = store.done(step, settings)
    todo = [clip for clip in clips if clip not in done]
    if not todo:
        return
    size = models.batch_size
    batches = [[clips_dir / clip for clip in todo[start : start + size]] for start in range(0, len(todo), size)]
    results = ordered_actor_map(executor, partial(_load_model, step, models), batches, gpu=models.device != "cpu")
    with progress_bar(total=len(todo), desc=f"Scoring {step}") as bar:
        for rows in results:
            store.add(step, rows, settings)
            bar.update(len(rows))


def _model_settings(step: str, models: ModelOptions) -> str:
    """What makes a model stage's results: redone when it changes."""
    if step == "consistency":
        return models.clip_model
    if step == "aesthetics":
        return f"{models.aesthetic_model} + {models.aesthetic_head}"
    return (
        f"{models.caption_model}: {models.caption_prompt} "
        f"({models.caption_frames} frames, {models.caption_max_new_tokens} tokens)"
    )


def _load_model(step: str, models: ModelOptions):
    """The stage's scorer: a callable from a batch of clip paths to their rows."""
    if step == "consistency":
        from .consistency import TemporalConsistency

        return TemporalConsistency(models.clip_model, models.device)
    if step == "aesthetics":
        from .aesthetics import AestheticScorer

        return AestheticScorer(models.aesthetic_model, models.aesthetic_head, models.device)
    from .captions import Captioner

    return Captioner(
        models.caption_model,
        models.device,
        models.caption_prompt,
        models.caption_max_new_tokens,
        models.caption_frames,
    )


def _write_report(path: Path, source: str, options: CurateOptions, summary: CurateSummary) -> None:
    """What produced the release and every clip left out, with its reason and score."""
    from ..atomic import write_text

    report = {
        "tool": f"openvid-hf {__version__}",
        "source": source,
        "steps": list(options.steps),
        "thresholds": options.thresholds.to_json(),
        "scenes": asdict(options.scenes),
        "flow": options.flow,
        "models": {key: value for key, value in asdict(options.models).items() if key not in ("device", "batch_size")},
        "clips": summary.clips,
        "kept": summary.kept,
        "dropped": [asdict(drop) for drop in summary.drops],
        "skipped": summary.failed,
    }
    write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
