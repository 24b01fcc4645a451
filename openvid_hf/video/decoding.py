"""Video probing and decoding.

`probe_video` reads only the container header (no frame is decoded; for an mp4, no sample byte is read): the
loading script and the build use it to fill `width`, `height` and `num_frames` and to reject undecodable files.

`open_video` decodes chosen frames and nothing more: each backend seeks to the keyframe before a wanted
frame and decodes forward from there, so a 16-frame training clip never costs a full decode. The three
backends return the same pixels for the same indices (RGB24 from FFmpeg's swscale, as a uint8
`[T, C, H, W]` tensor laid out channels-last in memory); `docs/video.md` records how that was checked.
"""

from __future__ import annotations

import bisect
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import OpenVidError, UsageError
from .mp4_header import Mp4HeaderError, read_video_track

if TYPE_CHECKING:
    import av
    import torch

VideoSource = bytes | str | Path | BinaryIO

#: Decoding backends, by the name `open_video` takes. decord is opt-in only: see `docs/video.md`.
VIDEO_BACKENDS = ("torchcodec", "decord", "pyav")
DEFAULT_BACKEND = "torchcodec"


class VideoDecodeError(OpenVidError):
    """A video that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    num_frames: int
    fps: float
    seconds: float


def probe_video(source: VideoSource, name: str | None = None) -> VideoProbe:
    """Read the stream header of a video (bytes, path or file object); raises `VideoDecodeError`.

    An mp4 or mov is read from its index alone (`mp4_header`: box headers and `moov`, no sample byte, no
    decoding). Anything else, another container or a fragmented mp4, is opened with PyAV, whose stream probe decodes
    a frame; PyAV imports in a tenth of a second where torchcodec imports torch.
    """
    label = _label(source, name)
    try:
        if isinstance(source, (str, Path)):
            with open(source, "rb") as file:
                track = read_video_track(file)
        else:
            track = read_video_track(source) if isinstance(source, bytes) or source.seekable() else None
    except Mp4HeaderError as error:
        raise VideoDecodeError(f"{label}: cannot read the mp4 header ({error})") from error
    except OSError as error:
        raise VideoDecodeError(f"{label}: cannot open the video stream ({error.strerror or error})") from error
    if track is None:
        probe = _probe_with_pyav(source, label)
    else:
        probe = VideoProbe(track.width, track.height, track.num_frames, track.fps, track.seconds)
    if not probe.width or not probe.height or not probe.num_frames:
        raise VideoDecodeError(f"{label}: the container header gives no frame size or frame count")
    return probe


def _open_pyav(source: VideoSource, label: str):
    """A PyAV container and its first video stream (the container is closed again when it has none)."""
    import av

    container = av.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{label}: the file has no video stream")
    return container, container.streams.video[0]


def _probe_with_pyav(source: VideoSource, label: str) -> VideoProbe:
    """The stream header as FFmpeg reads it; frames are counted from the packets when the header has no count."""
    import av

    try:
        container, stream = _open_pyav(source, label)
        with container:
            num_frames = stream.frames or len(_frame_timestamps(container, stream)[0])
            if stream.duration:
                seconds = float(stream.duration * stream.time_base)
            else:
                seconds = container.duration / av.time_base if container.duration else 0.0
            return VideoProbe(
                width=stream.codec_context.width,
                height=stream.codec_context.height,
                num_frames=num_frames,
                fps=float(stream.average_rate or 0.0),
                seconds=seconds,
            )
    except PyAVReader.library_errors() as error:
        raise VideoDecodeError(f"{label}: cannot open the video stream ({_reason(error)})") from error


def _frame_timestamps(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[list[int], list[int]]:
    """Presentation timestamps of the stream's frames and of its keyframes, from its packets (demuxed, not decoded)."""
    frame_pts, keyframe_pts = [], []
    for packet in container.demux(stream):
        if packet.pts is None or packet.is_discard:
            continue
        frame_pts.append(packet.pts)
        if packet.is_keyframe:
            keyframe_pts.append(packet.pts)
    return frame_pts, keyframe_pts


class FrameReader(ABC):
    """An open video that decodes the frames it is asked for, by index in presentation order.

    Use as a context manager; `read` may be called several times. Every failure of the underlying
    library surfaces as `VideoDecodeError` naming the video.
    """

    def __init__(self, name: str, num_frames: int):
        self.name = name
        self.num_frames = num_frames

    def read(self, indices: Sequence[int]) -> torch.Tensor:
        """The frames at `indices` (any order, repeats allowed) as uint8 RGB `[T, C, H, W]`."""
        wanted = [int(index) for index in indices]
        if not wanted:
            raise ValueError(f"{self.name}: no frame indices given")
        outside = [index for index in wanted if not 0 <= index < self.num_frames]
        if outside:
            raise IndexError(f"{self.name}: frame indices {outside} are outside the video ({self.num_frames} frames)")
        try:
            return self._read(wanted)
        except self.library_errors() as error:
            raise VideoDecodeError(f"{self.name}: cannot decode frames ({_reason(error)})") from error

    @staticmethod
    @abstractmethod
    def library_errors() -> tuple[type[Exception], ...]:
        """The exceptions by which the underlying library says "this video cannot be decoded"."""

    @abstractmethod
    def _read(self, indices: list[int]) -> torch.Tensor: ...

    @abstractmethod
    def close(self) -> None:
        """Release the decoder and the encoded bytes it holds (idempotent)."""

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class TorchCodecReader(FrameReader):
    """torchcodec in exact seek mode: frame `i` is always the `i`-th frame, whatever the header says."""

    @staticmethod
    def library_errors() -> tuple[type[Exception], ...]:
        return (RuntimeError, ValueError)

    def __init__(self, source: VideoSource, name: str):
        from torchcodec.decoders import VideoDecoder

        self._decoder = VideoDecoder(source, seek_mode="exact", num_ffmpeg_threads=1)
        super().__init__(name, len(self._decoder))

    def _read(self, indices: list[int]) -> torch.Tensor:
        return self._decoder.get_frames_at(indices).data

    def close(self) -> None:
        self._decoder = None


class DecordReader(FrameReader):
    """decord's `VideoReader.get_batch`, single-threaded. Opt-in only: decord 0.6 can hang on bad files."""

    @staticmethod
    def library_errors() -> tuple[type[Exception], ...]:
        import decord

        # The constructor asserts a positive frame count and raises RuntimeError when FFmpeg cannot open.
        return (decord.DECORDError, decord.DECORDLimitReachedError, RuntimeError, AssertionError)

    def __init__(self, source: VideoSource, name: str):
        import decord

        if isinstance(source, bytes):
            source = io.BytesIO(source)
        elif isinstance(source, Path):
            source = str(source)
        self._reader = decord.VideoReader(source, ctx=decord.cpu(0), num_threads=1)
        super().__init__(name, len(self._reader))

    def _read(self, indices: list[int]) -> torch.Tensor:
        import torch

        return torch.from_numpy(self._reader.get_batch(indices).asnumpy()).permute(0, 3, 1, 2)

    def close(self) -> None:
        self._reader = None


class PyAVReader(FrameReader):
    """PyAV: demux once for the frame timestamps, then seek to the keyframe before each wanted frame.

    A seek happens only when a keyframe lies between the last decoded frame and the next wanted one,
    so frames of one window decode in a single forward pass.
    """

    @staticmethod
    def library_errors() -> tuple[type[Exception], ...]:
        import av

        return (av.FFmpegError, ValueError, OSError)

    def __init__(self, source: VideoSource, name: str):
        self._container, self._stream = _open_pyav(source, name)
        try:
            self._stream.codec_context.thread_count = 1
            frame_pts, keyframe_pts = _frame_timestamps(self._container, self._stream)
        except BaseException:
            self._container.close()
            raise
        self._frame_pts = sorted(frame_pts)
        self._keyframe_pts = sorted(keyframe_pts)
        super().__init__(name, len(self._frame_pts))

    def _read(self, indices: list[int]) -> torch.Tensor:
        import numpy as np
        import torch

        positions: dict[int, list[int]] = {}
        for position, index in enumerate(indices):
            positions.setdefault(self._frame_pts[index], []).append(position)
        frames: np.ndarray | None = None
        decoded = None
        last_pts: int | None = None
        for target_pts in sorted(positions):
            keyframe = self._keyframe_before(target_pts)
            if decoded is None or keyframe > last_pts:
                self._container.seek(keyframe, stream=self._stream, backward=True, any_frame=False)
                decoded = self._container.decode(self._stream)
            for frame in decoded:
                last_pts = frame.pts
                if frame.pts is None or frame.pts >= target_pts:
                    break
            else:
                raise VideoDecodeError(f"{self.name}: the stream ended before the frame at pts {target_pts}")
            if last_pts != target_pts:
                raise VideoDecodeError(f"{self.name}: the decoder gave no frame at pts {target_pts}")
            rgb = frame.to_ndarray(format="rgb24")
            if frames is None:
                frames = np.empty((len(indices), *rgb.shape), dtype=np.uint8)
            frames[positions[target_pts]] = rgb
        return torch.from_numpy(frames).permute(0, 3, 1, 2)

    def _keyframe_before(self, pts: int) -> int:
        position = bisect.bisect_right(self._keyframe_pts, pts)
        return self._keyframe_pts[position - 1] if position else self._frame_pts[0]

    def close(self) -> None:
        self._container.close()


_READERS: dict[str, type[FrameReader]] = {
    "torchcodec": TorchCodecReader,
    "decord": DecordReader,
    "pyav": PyAVReader,
}


def open_video(source: VideoSource, backend: str = DEFAULT_BACKEND, name: str | None = None) -> FrameReader:
    """Open an mp4 (bytes, path or file object) for frame reading; raises `VideoDecodeError`."""
    check_backend(backend)
    label = _label(source, name)
    reader_class = _READERS[backend]
    try:
        library_errors = reader_class.library_errors()
    except ImportError as error:
        raise UsageError(f"backend {backend!r} needs the {error.name} package, which is not installed") from error
    try:
        return reader_class(source, label)
    except library_errors as error:
        raise VideoDecodeError(f"{label}: cannot open the video stream ({_reason(error)})") from error


def read_frames(
    source: VideoSource, indices: Sequence[int], backend: str = DEFAULT_BACKEND, name: str | None = None
) -> torch.Tensor:
    """Decode only the frames at `indices` of one video: uint8 RGB `[T, C, H, W]`."""
    with open_video(source, backend, name) as video:
        return video.read(indices)


def check_backend(backend: str) -> None:
    """Raise `UsageError` naming the argument unless `backend` is one of `VIDEO_BACKENDS`."""
    if backend not in VIDEO_BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(VIDEO_BACKENDS)} (got {backend!r})")


def _label(source: VideoSource, name: str | None) -> str:
    return name or (str(source) if isinstance(source, (str, Path)) else "video")


def _reason(error: Exception) -> str:
    """The library's own words, without the native source location torchcodec and decord prefix them with."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return re.sub(r"^.*\.(?:cpp|cc|h):\d+[:,]\s*", "", lines[-1]).strip() or type(error).__name__
