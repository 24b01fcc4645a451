"""A synthetic OpenVid-1M release in the exact original layout, for tests and the demo.

The release has what the real one has: zip parts whose members sit under folder prefixes, one part split
byte-wise into `_partaa`/`_partab`, a separate HD copy with its JSON index, the two CSVs with the original
header and awkward captions, and (unless `clean`) the real-world defects. Every clip is real H.264 whose
frames carry their own index as a row of black/white cells, so frame sampling can be checked by reading
the pixels back (`read_frame_index`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import staged_folder
from ..errors import OpenVidError, UsageError
from ..progress import progress_bar
from ..release.layout import HD_CSV, HD_DIR, HD_INDEX, MAIN_CSV, SKIP_REASONS
from ..schema import CAMERA_MOTIONS, CSV_HEADER

#: Defect kinds planted unless `clean`, named by the reason the loading script reports them with.
#: One of each is planted unless `clean`.
DEFECTS = SKIP_REASONS
SHORT_CLIP_FRAMES = 10
INDEX_BITS = 10
#: The moving bar is 1/8 of the frame wide and moves 1/24 of it a frame: at the demo's 48x48 training view (a short
#: side scaled to 48, then a centre crop) it is 6 to 11 pixels wide, wide enough to span a latent cell of a factor-4
#: VAE, and a 4-frame clip of every 2nd frame sees it move by about its own width a frame (docs/demo.md).
BAR_WIDTH_DIVISOR = 8
BAR_STEP_DIVISOR = 24
_ZIP_DATE = (2024, 7, 1, 0, 0, 0)
_SD_SIZES = ((320, 240), (426, 240), (480, 270), (640, 360), (360, 640), (512, 512))
_HD_SIZE = (1920, 1080)
_CAPTIONS = (
    "A calm lake at dawn, mist rising over the water, pine trees on the far shore.",
    'A chef says "taste this" and lifts a spoon, steam curling above the pot.',
    "Close-up of a hummingbird,\nwings blurred, hovering by a red flower.",
    "Café terrace in Paris — people chat, a waiter carries crème brûlée; the camera pans right.",
    "東京の夜の交差点、ネオンの光、雨に濡れた道路を人々が渡る。",
    "Time-lapse of clouds over mountains 🌄, shadows sliding across the valley.",
    'A dog runs on the beach, splashing through "shallow" waves, then turns back.',
    "A potter's hands shape wet clay on a spinning wheel; the bowl's rim thins, slowly.",
    "Aerial view of a city grid at dusk, streetlights flicker on, one by one.\n\nTraffic flows.",
    "Ein Zug fährt über eine Brücke im Schwarzwald, Rauch über den Bäumen.",
)


@dataclass(frozen=True)
class SampleClip:
    """One planted video: its CSV row values and where it was stored."""

    video: str
    caption: str
    width: int
    height: int
    fps: int
    num_frames: int
    aesthetic_score: float
    motion_score: float
    temporal_consistency_score: float
    camera_motion: str
    hd: bool
    defect: str | None = None

    @property
    def seconds(self) -> float:
        return self.num_frames / self.fps

    def csv_row(self) -> list[str]:
        values = (
            self.video,
            self.caption,
            self.aesthetic_score,
            self.motion_score,
            self.temporal_consistency_score,
            self.camera_motion,
            self.num_frames,
            float(self.fps),
            self.seconds,
        )
        return [str(value) for value in values]


@dataclass
class SampleRelease:
    """What `write_sample_release` planted: the tests' ground truth."""

    root: Path
    clips: list[SampleClip]
    archives: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    def by_defect(self, defect: str | None) -> list[SampleClip]:
        return [clip for clip in self.clips if clip.defect == defect]

    @property
    def csv_clips(self) -> list[SampleClip]:
        return [clip for clip in self.clips if clip.defect != "not_in_csv"]

    @property
    def decodable_clips(self) -> list[SampleClip]:
        """Clips a reader with the default minimum of 1 frame must yield."""
        return [clip for clip in self.clips if clip.defect in (None, "too_short")]


def write_sample_release(
    out_dir: str | Path,
    num_videos: int = 40,
    seed: int = 0,
    hd_fraction: float = 0.25,
    clean: bool = False,
) -> SampleRelease:
    """Write a synthetic release into `out_dir` (which must be empty or absent); deterministic for `seed`."""
    minimum = 1 if clean else len(DEFECTS) + 1
    if num_videos < minimum:
        raise UsageError(f"--num-videos must be at least {minimum} (got {num_videos})")
    if not 0.0 <= hd_fraction <= 1.0:
        raise UsageError(f"--hd-fraction must be within [0, 1] (got {hd_fraction})")
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise OpenVidError(f"{root} is not empty; choose a new folder or remove it first")

    started = time.perf_counter()
    rng = random.Random(seed)
    clips = _plan_clips(rng, num_videos, hd_fraction, clean)
    with staged_folder(root) as staging:
        archives = _write_archives(staging, clips, seed)
        write_csvs(staging, clips)
    return SampleRelease(root=root, clips=clips, archives=archives, seconds=time.perf_counter() - started)


def _plan_clips(rng: random.Random, num_videos: int, hd_fraction: float, clean: bool) -> list[SampleClip]:
    defects = [] if clean else list(DEFECTS)
    num_hd = round(hd_fraction * (num_videos - len(defects)))
    kinds = [None] * (num_videos - len(defects)) + defects
    clips = []
    for index, defect in enumerate(kinds):
        hd = defect is None and index < num_hd
        width, height = _HD_SIZE if hd else rng.choice(_SD_SIZES)
        fps = rng.choice((24, 25, 30))
        seconds = rng.uniform(1.0, 2.0) if hd else rng.uniform(1.0, 6.0)
        num_frames = SHORT_CLIP_FRAMES if defect == "too_short" else max(16, round(seconds * fps))
        clips.append(
            SampleClip(
                video=_video_name(rng),
                caption=f"{_CAPTIONS[index % len(_CAPTIONS)]} Shot {index + 1}.",
                width=width,
                height=height,
                fps=fps,
                num_frames=num_frames,
                aesthetic_score=round(rng.uniform(4.0, 7.0), 6),
                motion_score=round(rng.uniform(0.1, 40.0), 6),
                temporal_consistency_score=round(rng.uniform(0.9, 1.0), 6),
                camera_motion=rng.choice(CAMERA_MOTIONS),
                hd=hd,
                defect=defect,
            )
        )
    rng.shuffle(clips)
    return clips


def _video_name(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    video_id = "".join(rng.choice(alphabet) for _ in range(11))
    start = rng.randrange(0, 500)
    return f"{video_id}_{rng.randrange(1, 40)}_{start}to{start + rng.randrange(30, 400)}.mp4"


def _write_archives(root: Path, clips: list[SampleClip], seed: int) -> dict[str, list[str]]:
    """Distribute the files over three main parts (the last split byte-wise) and the HD copy."""
    stored = [clip for clip in clips if clip.defect != "missing"]
    parts: list[list[tuple[str, bytes]]] = [[], [], []]
    prefixes = ("OpenVid_part0/", "data/videos/", "OpenVid_part2/video/")
    hd_members: list[tuple[str, bytes]] = []
    for position, clip in enumerate(progress_bar(stored, desc="Encoding videos", unit=" videos")):
        data = _clip_bytes(clip, seed)
        part = position % len(parts)
        name = f"../{clip.video}" if clip.defect == "unsafe_name" else prefixes[part] + clip.video
        parts[part].append((name, data))
        if clip.hd:
            hd_members.append((clip.video, data))

    archives: dict[str, list[str]] = {}
    for number, members in enumerate(parts):
        compression = zipfile.ZIP_DEFLATED if number == 1 else zipfile.ZIP_STORED
        payload = _zip_bytes(members, compression)
        if number == len(parts) - 1:
            half = len(payload) // 2
            (root / f"OpenVid_part{number}_partaa").write_bytes(payload[:half])
            (root / f"OpenVid_part{number}_partab").write_bytes(payload[half:])
            archives[f"OpenVid_part{number}_partaa"] = [name for name, _ in members]
        else:
            (root / f"OpenVid_part{number}.zip").write_bytes(payload)
            archives[f"OpenVid_part{number}.zip"] = [name for name, _ in members]

    (root / HD_DIR).mkdir()
    hd_zip = "OpenVidHD_part_1.zip"
    (root / HD_DIR / hd_zip).write_bytes(_zip_bytes(hd_members, zipfile.ZIP_STORED))
    hd_index = {hd_zip: [name for name, _ in hd_members]}
    (root / HD_INDEX).write_text(json.dumps(hd_index, indent=2) + "\n", encoding="utf-8")
    archives[f"{HD_DIR}/{hd_zip}"] = hd_index[hd_zip]
    return archives


def _zip_bytes(members: list[tuple[str, bytes]], compression: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = compression
            archive.writestr(info, data)
    return buffer.getvalue()


def write_csvs(root: Path, clips: list[SampleClip]) -> None:
    """The two CSVs of `clips` with the original header: every row but the `not_in_csv` ones, and the HD rows."""
    rows = [clip for clip in clips if clip.defect != "not_in_csv"]
    (root / MAIN_CSV).parent.mkdir(parents=True, exist_ok=True)
    for path, selected in ((MAIN_CSV, rows), (HD_CSV, [clip for clip in rows if clip.hd])):
        with open(root / path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            writer.writerows(clip.csv_row() for clip in selected)


def _clip_bytes(clip: SampleClip, seed: int) -> bytes:
    if clip.defect == "undecodable":
        garbage = random.Random(f"{seed}:{clip.video}").randbytes(4096)
        return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + garbage
    return encode_h264(clip_frames(clip, seed), clip.fps)


def clip_frames(clip: SampleClip, seed: int = 0):
    """Yield the clip's RGB frames: a per-clip gradient, a moving bar, and the frame index in cells."""
    rng = np.random.default_rng(list(hashlib.sha256(f"{seed}:{clip.video}".encode()).digest()))
    tint = rng.integers(40, 200, size=3)
    ramp_x = np.linspace(0.0, 1.0, clip.width, dtype=np.float32)[None, :, None]
    ramp_y = np.linspace(0.0, 1.0, clip.height, dtype=np.float32)[:, None, None]
    base = (tint * (0.5 + 0.3 * ramp_x + 0.2 * ramp_y)).clip(0, 255).astype(np.uint8)
    cell = index_cell_size(clip.width, clip.height)
    bar = bar_width(clip.width)
    for index in range(clip.num_frames):
        frame = base.copy()
        x = bar_left(index, clip.width)
        frame[2 * cell :, x : x + bar] = 255 - tint.astype(np.uint8)
        for bit in range(INDEX_BITS):
            frame[:cell, bit * cell : (bit + 1) * cell] = 255 if (index >> bit) & 1 else 0
        yield frame


def bar_width(width: int) -> int:
    """Width in pixels of the moving bar of a clip `width` pixels wide."""
    return max(8, width // BAR_WIDTH_DIVISOR)


def bar_left(index: int, width: int) -> int:
    """The bar's left column in frame `index`: it moves right a fixed step a frame and wraps at the right edge."""
    return (index * max(1, width // BAR_STEP_DIVISOR)) % max(1, width - bar_width(width))


def index_cell_size(width: int, height: int) -> int:
    """Side of the cells that carry the frame index: large enough to survive H.264 compression."""
    return max(16, (min(width // INDEX_BITS, height // 6) // 16) * 16)


def read_frame_index(frame: np.ndarray) -> int:
    """Read back the index planted by `clip_frames` from a decoded HWC uint8 RGB frame."""
    height, width = frame.shape[:2]
    cell = index_cell_size(width, height)
    index = 0
    for bit in range(INDEX_BITS):
        patch = frame[cell // 4 : 3 * cell // 4, bit * cell + cell // 4 : bit * cell + 3 * cell // 4]
        if patch.mean() > 127:
            index |= 1 << bit
    return index


def encode_h264(frames, fps: int, gop: int | None = None, bframes: int = 0) -> bytes:
    """Encode RGB frames as H.264 in an mp4, bit-exactly (same frames, same bytes).

    A keyframe every `gop` frames (default: every second). `bframes` > 0 allows up to that many consecutive
    B-frames, so that decode order differs from presentation order as in real footage (x264's ultrafast
    preset alone never emits B-frames).
    """
    import av
    from av.codec.context import Flags

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = None
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps)
                stream.height, stream.width = frame.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.codec_context.flags |= Flags.bitexact
                options = {"preset": "ultrafast", "crf": "20", "g": str(gop or fps), "threads": "1"}
                if bframes:
                    options["bf"] = str(bframes)
                stream.options = options
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
