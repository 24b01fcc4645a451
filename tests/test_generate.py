"""`openvid-hf generate`: a playable mp4 of the requested size and length, from a folder or the Hub."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from openvid_hf.commands import cli
from openvid_hf.testing.tiny_pipeline import tiny_pipeline
from openvid_hf.video.decoding import probe_video, read_frames


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-mvdit")
    tiny_pipeline().save_pretrained(folder)
    return folder


def generate(model, out, *options: str) -> int:
    return cli.main(
        ["generate", "--model", str(model), "--prompt", "a cat running on the beach", "--out", str(out), *options]
    )


def test_writes_a_playable_mp4_of_the_requested_size(pipeline_dir, tmp_path, capsys):
    out = tmp_path / "videos" / "cat.mp4"
    options = ("--num-frames", "5", "--height", "16", "--width", "32", "--steps", "2", "--seed", "3", "--fps", "12")
    assert generate(pipeline_dir, out, *options) == 0
    probe = probe_video(out)
    assert (probe.num_frames, probe.width, probe.height, probe.fps) == (5, 32, 16, 12)
    assert read_frames(out, range(5)).shape == (5, 3, 16, 32)
    assert f"wrote {out} (5 frames, 32x16, 12 fps)" in capsys.readouterr().out
    assert [path.name for path in out.parent.iterdir()] == ["cat.mp4"]  # no temporary file left behind


def test_the_video_is_the_pipelines_video(pipeline_dir, tmp_path):
    """Same seed, same frames as calling the pipeline (up to the mp4 encoding)."""
    out = tmp_path / "video.mp4"
    assert (
        generate(
            pipeline_dir, out, "--steps", "2", "--seed", "9", "--num-frames", "3", "--height", "32", "--width", "32"
        )
        == 0
    )
    expected = tiny_pipeline()(
        "a cat running on the beach",
        height=32,
        width=32,
        num_frames=3,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(9),
    ).frames[0]
    decoded = read_frames(out, range(3)).permute(0, 2, 3, 1).float().numpy() / 255
    # Lossy h264 at 32x32: 0.050 from the same seed here, 0.168 from another seed.
    assert np.abs(decoded - expected).mean() < 0.08
    other = tmp_path / "other.mp4"
    assert (
        generate(
            pipeline_dir, other, "--steps", "2", "--seed", "10", "--num-frames", "3", "--height", "32", "--width", "32"
        )
        == 0
    )
    assert other.read_bytes() != out.read_bytes()


def test_defaults_to_the_transformers_size(pipeline_dir, tmp_path):
    out = tmp_path / "video.mp4"
    assert generate(pipeline_dir, out, "--steps", "1") == 0
    probe = probe_video(out)
    assert (probe.num_frames, probe.width, probe.height, probe.fps) == (2, 16, 16, 8)


def test_loads_a_hub_repository(hub_repo_id, tmp_path):
    tiny_pipeline().push_to_hub(hub_repo_id)
    out = tmp_path / "video.mp4"
    assert generate(hub_repo_id, out, "--steps", "2", "--num-frames", "3") == 0
    assert probe_video(out).num_frames == 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--height", "100"), "--height must be a positive multiple of 16"),
        (("--num-frames", "0"), "--num-frames: must be a positive integer"),
        (("--steps", "-2"), "--steps: must be a positive integer"),
        (("--negative-prompt", "x", "--height", "24"), "--height"),
    ],
)
def test_bad_options_exit_2_naming_the_option(pipeline_dir, tmp_path, capsys, options, message):
    with pytest.raises(SystemExit) as exit_info:
        generate(pipeline_dir, tmp_path / "video.mp4", "--steps", "1", *options)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "video.mp4").exists()


def test_a_missing_model_exits_1_naming_it(tmp_path, capsys):
    assert generate(tmp_path / "absent", tmp_path / "video.mp4") == 1
    assert f"--model {tmp_path / 'absent'}: cannot load" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        generate(tmp_path, tmp_path / "video.gif")
    assert exit_info.value.code == 2
