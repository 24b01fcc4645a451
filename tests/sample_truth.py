"""What a build of the sample release must publish, worked out from the sample's plan and its zips alone.

Shared by tests/test_build.py and tests/test_publish.py; it uses no openvid_hf reader, so the tests compare the
build with an independent account of the release.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from openvid_hf.testing.sample_release import SampleRelease


def member_bytes(release: SampleRelease) -> dict[str, bytes]:
    """Every zip member's bytes by base name (split parts joined in memory), HD copy included."""
    found: dict[str, bytes] = {}
    for archive in release.archives:
        path = release.root / archive
        parts = sorted(path.parent.glob(path.name[:-2] + "??")) if archive.endswith("_partaa") else [path]
        with zipfile.ZipFile(io.BytesIO(b"".join(part.read_bytes() for part in parts))) as listing:
            for name in listing.namelist():
                found.setdefault(name.rsplit("/", 1)[-1], listing.read(name))
    return found


def float32(value: float) -> float:
    return float(np.float32(value))


def expected_records(release: SampleRelease) -> dict[str, dict]:
    """video -> every contract field but `key`, for each clip a build must publish (the decodable ones).

    The CSV holds each value as Python writes it, so it reads back exactly; float32 fields are then rounded.
    """
    data = member_bytes(release)
    records = {}
    for clip in release.decodable_clips:
        records[clip.video] = {
            "video": clip.video,
            "caption": clip.caption,
            "aesthetic_score": float32(clip.aesthetic_score),
            "motion_score": float32(clip.motion_score),
            "temporal_consistency_score": float32(clip.temporal_consistency_score),
            "camera_motion": clip.camera_motion,
            "frame": clip.num_frames,
            "fps": float32(clip.fps),
            "seconds": float32(clip.seconds),
            "width": clip.width,
            "height": clip.height,
            "num_frames": clip.num_frames,
            "hd": clip.hd,
            "sha256": hashlib.sha256(data[clip.video]).hexdigest(),
        }
    return records


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` (hidden ones included) by its POSIX path."""
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}
