"""Scene cuts and clip files: one source video in, one mp4 per scene out.

Cuts come from PySceneDetect's `ContentDetector` (HSV content change between consecutive frames), which reports a
hard cut at the first frame of the new shot: the frame of a hard cut is exact; gradual transitions (fades,
dissolves) are not cuts to it. A scene `[start, end)` is written by stream copy (no re-encoding, the original
bytes) when its first frame is a keyframe and no frame inside it can depend on a frame after it: the scene ends at
a keyframe or at the end of the video, or the stream has no B-frames (decode order equals presentation order).
Otherwise the scene is decoded and re-encoded with libx264. Either way the clip holds exactly the frames
`[start, end)`: cuts are never moved to a keyframe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath
from typing import Any

from ..atomic import PARTIAL_SUFFIX
from ..video.decoding import VideoDecodeError

#: PySceneDetect's default `ContentDetector` threshold (content-change score from 0 to 255).
DEFAULT_CUT_THRESHOLD = 27.0
#: Shortest scene PySceneDetect reports, in frames (its default).
DEFAULT_MIN_SCENE_FRAMES = 15
#: Quality of re-encoded clips (x264 CRF: 18 is visually lossless).
REENCODE_CRF = 18


@dataclass(frozen=True)
class SceneOptions:
    threshold: float = DEFAULT_CUT_THRESHOLD
    min_scene_frames: int = DEFAULT_MIN_SCENE_FRAMES


@dataclass(frozen=True)
class _Packets:
    """A stream's frames in presentation order: their pts, which are keyframes, and whether B-frames reorder them."""

    pts: list[int]
    keyframes: set[int]
    reordered: bool


def detect_scenes(path: str | Path, options: SceneOptions = SceneOptions()) -> list[tuple[int, int]]:
    """The scenes of a video as `[start, end)` frame ranges covering it; raises `VideoDecodeError`."""
    from scenedetect import ContentDetector, SceneManager, open_video
    from scenedetect.video_stream import VideoOpenFailure

    try:
        video = open_video(str(path), backend="pyav")
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=options.threshold, min_scene_len=options.min_scene_frames))
        manager.detect_scenes(video)
        scenes = manager.get_scene_list(start_in_scene=True)
        total = video.frame_number
    except (VideoOpenFailure, OSError, ValueError) as error:
        raise VideoDecodeError(f"{path}: cannot detect scenes ({error})") from error
    return [(start.frame_num, end.frame_num) for start, end in scenes] or ([(0, total)] if total else [])


def split_video(path: str | Path, source: str, clips_dir: str | Path, options: SceneOptions) -> list[dict[str, Any]]:
    """Cut `path` into one mp4 per scene in `clips_dir`; one row per clip (name, frames, how it was cut)."""
    import av

    path, clips_dir = Path(path), Path(clips_dir)
    scenes = detect_scenes(path, options)
    # A video in a subfolder keeps the folder in its clips' names, so equal names in two folders stay apart.
    stem = PurePosixPath(source).with_suffix("").as_posix().replace("/", "_")
    rows = []
    try:
        packets = _packets(path)
        for index, (start, end) in enumerate(scenes):
            end = min(end, len(packets.pts))
            if end <= start:
                continue
            name = f"{stem}_{index}_{start}to{end}.mp4"
            method = "copy" if _copyable(packets, start, end) else "reencode"
            target = clips_dir / name
            temporary = target.with_name(f".{target.stem}{PARTIAL_SUFFIX}.mp4")
            try:
                (_copy if method == "copy" else _reencode)(path, temporary, packets, start, end)
                temporary.replace(target)
            finally:
                temporary.unlink(missing_ok=True)
            rows.append(
                {
                    "clip": name,
                    "source": source,
                    "start_frame": start,
                    "end_frame": end,
                    "cut": method,
                    **_probe(target),
                }
            )
    except (av.FFmpegError, OSError) as error:
        raise VideoDecodeError(f"{source}: cannot cut ({error})") from error
    return rows


def _packets(path: Path) -> _Packets:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decode_order = [
            (packet.pts, packet.is_keyframe)
            for packet in container.demux(stream)
            if packet.pts is not None and not packet.is_discard
        ]
    pts = [value for value, _ in decode_order]
    return _Packets(
        pts=sorted(pts),
        keyframes={value for value, keyframe in decode_order if keyframe},
        reordered=pts != sorted(pts),
    )


def _copyable(packets: _Packets, start: int, end: int) -> bool:
    """The scene starts on a keyframe and nothing in it references a frame after it."""
    ends_cleanly = end == len(packets.pts) or packets.pts[end] in packets.keyframes or not packets.reordered
    return packets.pts[start] in packets.keyframes and ends_cleanly


def _copy(path: Path, target: Path, packets: _Packets, start: int, end: int) -> None:
    """Remux the packets of frames `[start, end)`, their timestamps shifted to start at 0."""
    import av

    first, stop = packets.pts[start], packets.pts[end] if end < len(packets.pts) else math.inf
    with av.open(str(path)) as source, av.open(str(target), "w", format="mp4") as output:
        stream = source.streams.video[0]
        copied = output.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.pts is None or not first <= packet.pts < stop:
                continue
            packet.pts -= first
            packet.dts = None if packet.dts is None else packet.dts - first
            packet.stream = copied
            output.mux(packet)


def _reencode(path: Path, target: Path, packets: _Packets, start: int, end: int) -> None:
    """Decode frames `[start, end)` and encode them with libx264 at the source's frame rate."""
    import av
    import av.logging
    from av.video.frame import PictureType

    # FFmpeg logs each encoder's settings at info level, once per clip: keep its log to errors.
    av.logging.set_libav_level(av.logging.ERROR)
    wanted = set(packets.pts[start:end])
    with av.open(str(path)) as source, av.open(str(target), "w", format="mp4") as output:
        stream = source.streams.video[0]
        stream.codec_context.thread_count = 1
        rate = stream.average_rate or Fraction(25)
        encoded = output.add_stream("libx264", rate=rate)
        encoded.width, encoded.height = stream.codec_context.width, stream.codec_context.height
        encoded.pix_fmt = "yuv420p"
        encoded.options = {"crf": str(REENCODE_CRF), "preset": "veryfast", "threads": "1"}
        source.seek(_keyframe_before(packets, packets.pts[start]), stream=stream, backward=True, any_frame=False)
        position = 0
        for frame in source.decode(stream):
            if frame.pts is None or frame.pts not in wanted:
                if frame.pts is not None and frame.pts >= packets.pts[end - 1]:
                    break
                continue
            picture = frame.reformat(format="yuv420p")
            picture.pts, picture.time_base = position, Fraction(1) / rate
            picture.pict_type = PictureType.NONE  # the source's frame types are not the new GOP's
            position += 1
            output.mux(encoded.encode(picture))
            if position == end - start:
                break
        output.mux(encoded.encode())


def _keyframe_before(packets: _Packets, pts: int) -> int:
    return max((value for value in packets.keyframes if value <= pts), default=packets.pts[0])


def _probe(path: Path) -> dict[str, Any]:
    """The clip's size, frame rate, frame count and duration, from its container header."""
    from ..video.decoding import probe_video

    probe = probe_video(path)
    return {
        "width": probe.width,
        "height": probe.height,
        "fps": probe.fps,
        "num_frames": probe.num_frames,
        "seconds": probe.num_frames / probe.fps if probe.fps else probe.seconds,
    }
