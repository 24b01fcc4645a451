"""The inputs of the latent-dataset tests: a small built dataset and the `encode` arguments for the tiny encoders.

Shared by tests/test_latents.py and tests/test_encode_ray.py.
"""

from __future__ import annotations

from pathlib import Path

from openvid_hf.commands import cli
from openvid_hf.testing.sample_release import write_sample_release
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES

NUM_CLIPS = 6
SAMPLING = [
    "--num-frames",
    str(TINY_NUM_FRAMES),
    "--frame-interval",
    "1",
    "--resolution",
    f"{TINY_HEIGHT}x{TINY_HEIGHT}",
]


def build_source(root: Path) -> Path:
    """`root/built`: 6 clean clips, 2 of them HD, one shard each."""
    release = write_sample_release(root / "release", num_videos=NUM_CLIPS, seed=0, hd_fraction=0.3, clean=True)
    built = root / "built"
    assert cli.main(["build", str(release.root), str(built), "--shard-size", "20KB", "--validation-size", "0"]) == 0
    return built


def encode_args(source: str, out_dir: Path | None, model: str, *extra: str) -> list[str]:
    """`encode SOURCE [OUT_DIR]` with `model`'s encoders at the tiny pipeline's sampling (no OUT_DIR: --repo-id)."""
    target = [] if out_dir is None else [str(out_dir)]
    return ["encode", source, *target, "--vae", model, "--text-encoder", model, *SAMPLING, *extra]
