"""A synthetic release of many one-frame clips, written fast: for measuring planning and build throughput at scale.

Encoding a real video per clip (`sample_release`) takes far longer than building from it, so every clip here holds
the bytes of one tiny H.264 mp4 under its own name: the reader, the planner and the workers do a clip's whole
work (locate, read, CRC-check, probe, hash, write), which is all that per-clip throughput measures. Captions have
the length of the original's (about 500 characters, commas and quotes included). Zip parts are stored, as the
original's are; every `HD_EVERY`th clip is also an HD row. Build with `min_frames=1`: the clips have one frame.
"""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np

from ..release.layout import HD_CSV, MAIN_CSV
from ..schema import CSV_HEADER
from .sample_release import SampleClip, encode_h264

#: Every tenth clip is also in OpenVidHD.csv.
HD_EVERY = 10
CLIP_SIZE = (64, 64)
CAPTION = (
    'A "slow" pan across a harbour at dusk, boats rocking gently, gulls overhead, lights coming on along the quay; '
    "the camera drifts left, revealing a lighthouse, then a row of pastel houses, a cyclist, a dog, and waves "
    "breaking softly on the stones, while clouds, tinted orange and violet, move across the sky. "
)


def one_frame_mp4() -> bytes:
    """A 64x64 H.264 mp4 of one frame (about 1 KB)."""
    frame = np.full((CLIP_SIZE[1], CLIP_SIZE[0], 3), 96, dtype=np.uint8)
    return encode_h264([frame], 24)


def write_scale_release(root: Path, clips: int, parts: int = 186) -> Path:
    """Write `clips` one-frame clips in `parts` stored zip parts, under a folder as the original's, and the CSVs."""
    payload = one_frame_mp4()
    root.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        with zipfile.ZipFile(root / f"OpenVid_part{part}.zip", "w", compression=zipfile.ZIP_STORED) as archive:
            for index in range(part, clips, parts):
                archive.writestr(f"OpenVid_part{part}/{clip_name(index)}", payload)
    (root / MAIN_CSV).parent.mkdir(parents=True, exist_ok=True)
    with (
        open(root / MAIN_CSV, "w", newline="", encoding="utf-8") as main,
        open(root / HD_CSV, "w", newline="", encoding="utf-8") as hd,
    ):
        main_writer, hd_writer = csv.writer(main), csv.writer(hd)
        main_writer.writerow(CSV_HEADER)
        hd_writer.writerow(CSV_HEADER)
        for index in range(clips):
            row = scale_clip(index).csv_row()
            main_writer.writerow(row)
            if index % HD_EVERY == 0:
                hd_writer.writerow(row)
    return root


def clip_name(index: int) -> str:
    return f"clip{index:07d}.mp4"


def scale_clip(index: int) -> SampleClip:
    scores = (4.0 + index % 30 / 10, 1.0 + index % 17 / 4, 0.9 + index % 10 / 100)
    return SampleClip(
        clip_name(index), f"{index}: {CAPTION}", *CLIP_SIZE, 24, 1, *scores, "pan_left", index % HD_EVERY == 0
    )
