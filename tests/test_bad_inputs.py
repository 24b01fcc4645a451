"""Bad inputs end in one clear line: an unreachable Hub, unknown filter values, invalid repo ids, broken models."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import torch

from openvid_hf import load_metadata
from openvid_hf.commands import cli
from openvid_hf.errors import OpenVidError, UsageError
from openvid_hf.pipelines.original_checkpoint import CheckpointError, load_original_state_dict
from openvid_hf.release.filters import ClipFilter
from openvid_hf.schema import CAMERA_MOTIONS
from openvid_hf.testing.hub_clients import point_clients_at


class Marker:
    """Pickled with a checkpoint: `torch.load(weights_only=True)` must refuse it by name."""


@pytest.fixture
def unreachable_endpoint(tmp_path) -> str:
    """Clients of this process pointed at a port of 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    with point_clients_at(endpoint, token="hf_unreachable", home=tmp_path / "hf-home"):
        yield endpoint


@pytest.fixture(scope="module")
def built(sample_release, tmp_path_factory) -> Path:
    """A build whose shards no other test pushes (its own seed): the local Hub stores LFS objects by content."""
    out_dir = tmp_path_factory.mktemp("bad-inputs") / "openvid-1m"
    assert cli.main(["build", str(sample_release.root), str(out_dir), "--shard-size", "300KB", "--seed", "1616"]) == 0
    return out_dir


def error_line(capsys: pytest.CaptureFixture, command: str) -> str:
    """The one line the command wrote to stderr (progress bars aside), checked to be a clean error."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("openvid-hf")]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"openvid-hf {command}: error: "), lines[0]
    return lines[0]


def test_verify_with_the_hub_unreachable_names_the_endpoint(unreachable_endpoint, capsys):
    assert cli.main(["verify", "openvid-tests/anything"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and unreachable_endpoint in err, err
    with pytest.raises(OpenVidError, match=re.escape(unreachable_endpoint)):
        load_metadata("openvid-tests/anything")


def test_push_with_the_hub_unreachable_is_one_line(built, unreachable_endpoint, capsys):
    assert cli.main(["push", str(built), "--repo-id", "openvid-tests/anything"]) == 1
    assert "Connection refused" in error_line(capsys, "push")


def test_an_unknown_camera_motion_names_the_known_ones(sample_release, tmp_path, capsys):
    out_dir = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        cli.main(["build", str(sample_release.root), str(out_dir), "--camera-motion", "static", "flyby"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "'flyby'" in err and all(name in err for name in CAMERA_MOTIONS), err
    assert not out_dir.exists()
    with pytest.raises(UsageError, match="unknown camera motion 'flyby'"):
        ClipFilter(camera_motion="flyby")
    assert ClipFilter(camera_motion=["zoom_in", "Undetermined"]).camera_motion == {"zoom_in", "Undetermined"}


def test_an_invalid_repo_id_is_refused_before_the_build(sample_release, tmp_path, capsys):
    out_dir = tmp_path / "out"
    with pytest.raises(SystemExit) as exited:
        cli.main(["build", str(sample_release.root), str(out_dir), "--repo-id", "my org/Open Vid"])
    assert exited.value.code == 2
    assert "--repo-id 'my org/Open Vid' is not a Hub repo id" in capsys.readouterr().err
    assert not out_dir.exists()


def test_push_and_verify_count_the_same_files(built, hub_repo_id, capsys):
    assert cli.main(["push", str(built), "--repo-id", hub_repo_id]) == 0
    pushed = capsys.readouterr().out.strip().splitlines()[-1]
    assert cli.main(["verify", hub_repo_id]) == 0
    verified = capsys.readouterr().out.strip().splitlines()[-1]
    counted = [re.search(r"(\d+) files listed in manifest\.json", line) for line in (pushed, verified)]
    assert all(counted), (pushed, verified)
    assert counted[0][1] == counted[1][1], (pushed, verified)


def test_a_zero_byte_checkpoint_says_it_is_empty(tmp_path, capsys):
    for suffix in (".pt", ".safetensors"):
        empty = tmp_path / f"empty{suffix}"
        empty.touch()
        with pytest.raises(CheckpointError, match=r"empty file \(0 bytes\)"):
            load_original_state_dict(empty)
        assert cli.main(["convert", str(empty), str(tmp_path / "out"), "--variant", "16x256x256"]) == 1
        assert error_line(capsys, "convert").endswith("empty file (0 bytes)")


def test_a_refused_pickle_names_the_global_and_gives_no_unsafe_advice(tmp_path, capsys):
    path = tmp_path / "unsafe.pt"
    torch.save({"weight": torch.zeros(2), "extra": Marker()}, path)
    assert cli.main(["convert", str(path), str(tmp_path / "out"), "--variant", "16x256x256"]) == 1
    line = error_line(capsys, "convert")
    assert f"{Marker.__module__}.Marker" in line
    assert "weights_only=False" not in line and "add_safe_globals" not in line
    assert not (tmp_path / "out").exists()


def test_generate_with_a_missing_folder_or_repo_says_so(hub_repo_id, tmp_path, capsys):
    for model, missing in (
        (tmp_path / "absent", "no such folder"),
        (hub_repo_id, f"no model repository {hub_repo_id}"),
    ):
        argv = ["generate", "--model", str(model), "--prompt", "a cat", "--out", str(tmp_path / "cat.mp4")]
        assert cli.main(argv) == 1
        line = error_line(capsys, "generate")
        assert f"--model {model}: " in line and missing in line, line
        assert "offline" not in line and "local_files_only" not in line, line
