"""Video probing and decoding.

`probe_video` reads only the container header (no frame is decoded): the loading script and the build
use it to fill `width`, `height` and `num_frames` and to reject undecodable files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import OpenVidError


class VideoDecodeError(OpenVidError):
    """A video that cannot be opened or decoded."""


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    num_frames: int
    fps: float
    seconds: float


def probe_video(source: bytes | str | Path | BinaryIO, name: str | None = None) -> VideoProbe:
    """Read the stream header of an mp4 (bytes, path or file object); raises `VideoDecodeError`."""
    from torchcodec.decoders import VideoDecoder

    label = name or (str(source) if isinstance(source, (str, Path)) else "video")
    try:
        metadata = VideoDecoder(source, seek_mode="approximate").metadata
    except (RuntimeError, ValueError) as error:
        raise VideoDecodeError(f"{label}: cannot open the video stream ({_first_line(error)})") from error
    if not metadata.width or not metadata.height or not metadata.num_frames:
        raise VideoDecodeError(f"{label}: the container header gives no frame size or frame count")
    return VideoProbe(
        width=int(metadata.width),
        height=int(metadata.height),
        num_frames=int(metadata.num_frames),
        fps=float(metadata.average_fps or 0.0),
        seconds=float(metadata.duration_seconds or 0.0),
    )


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[-1].split(", ")[-1] if text else type(error).__name__
