"""The synthetic release: original layout, exact CSVs, decodable clips, planted defects, determinism."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from torchcodec.decoders import VideoDecoder

from openvid_hf.release.layout import HD_CSV, HD_INDEX, MAIN_CSV
from openvid_hf.schema import CSV_HEADER
from openvid_hf.testing.sample_release import DEFECTS, read_frame_index, write_sample_release

EXPECTED_HEADER = [
    "video",
    "caption",
    "aesthetic score",
    "motion score",
    "temporal consistency score",
    "camera motion",
    "frame",
    "fps",
    "seconds",
]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, [dict(zip(header, row, strict=True)) for row in reader]


def release_members(root: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Every mp4 member of the main parts (split part joined in memory) by base name."""
    members: dict[str, list[tuple[str, bytes]]] = {}
    payloads = [path.read_bytes() for path in sorted(root.glob("OpenVid_part*.zip"))]
    payloads.append(b"".join(path.read_bytes() for path in sorted(root.glob("OpenVid_part*_parta?"))))
    for payload in payloads:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            assert archive.testzip() is None
            for info in archive.infolist():
                members.setdefault(Path(info.filename).name, []).append((info.filename, archive.read(info)))
    return members


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_layout_is_the_original_release(sample_release):
    root = sample_release.root
    assert (root / "OpenVid_part0.zip").is_file()
    assert (root / "OpenVid_part1.zip").is_file()
    assert (root / "OpenVid_part2_partaa").is_file() and (root / "OpenVid_part2_partab").is_file()
    assert not (root / "OpenVid_part2.zip").exists()
    assert (root / "OpenVidHD" / "OpenVidHD_part_1.zip").is_file()
    assert (root / MAIN_CSV).is_file() and (root / HD_CSV).is_file()


def test_csvs_have_the_exact_header_and_captions(sample_release):
    assert list(CSV_HEADER) == EXPECTED_HEADER
    header, rows = read_csv(sample_release.root / MAIN_CSV)
    assert header == EXPECTED_HEADER
    planned = {clip.video: clip for clip in sample_release.csv_clips}
    assert [row["video"] for row in rows] == [clip.video for clip in sample_release.csv_clips]
    for row in rows:
        clip = planned[row["video"]]
        assert row["caption"].encode("utf-8") == clip.caption.encode("utf-8")
        assert int(row["frame"]) == clip.num_frames
        assert float(row["fps"]) == clip.fps
        assert float(row["seconds"]) == pytest.approx(clip.num_frames / clip.fps)
    captions = "".join(row["caption"] for row in rows)
    for awkward in (",", '"', "\n", "é", "東"):
        assert awkward in captions

    hd_header, hd_rows = read_csv(sample_release.root / HD_CSV)
    assert hd_header == EXPECTED_HEADER
    assert {row["video"] for row in hd_rows} == {clip.video for clip in sample_release.clips if clip.hd}
    assert hd_rows and all(row in rows for row in hd_rows)


def test_members_sit_under_folder_prefixes_and_split_part_joins(sample_release):
    members = release_members(sample_release.root)
    stored = [clip for clip in sample_release.clips if clip.defect != "missing"]
    assert set(members) == {clip.video for clip in stored}
    for clip in stored:
        (name, _), *_ = members[clip.video]
        if clip.defect == "unsafe_name":
            assert name == f"../{clip.video}"
        else:
            assert "/" in name and name.endswith("/" + clip.video)


def test_every_planted_video_decodes_with_its_csv_frame_count(sample_release):
    members = release_members(sample_release.root)
    _, rows = read_csv(sample_release.root / MAIN_CSV)
    frames_by_video = {row["video"]: int(row["frame"]) for row in rows}
    for clip in sample_release.clips:
        if clip.defect == "missing":
            assert clip.video not in members and clip.video in frames_by_video
            continue
        (_, data), *_ = members[clip.video]
        if clip.defect == "undecodable":
            with pytest.raises(RuntimeError):
                VideoDecoder(data)
            continue
        decoder = VideoDecoder(data)
        assert (decoder.metadata.width, decoder.metadata.height) == (clip.width, clip.height)
        assert len(decoder) == clip.num_frames
        if clip.defect == "not_in_csv":
            assert clip.video not in frames_by_video
        else:
            assert frames_by_video[clip.video] == clip.num_frames
        last = clip.num_frames - 1
        frames = decoder.get_frames_at([0, last // 2, last]).data.permute(0, 2, 3, 1).numpy()
        assert [read_frame_index(frame) for frame in frames] == [0, last // 2, last]


def test_clips_vary_in_size_fps_and_length(sample_release):
    good = sample_release.by_defect(None)
    assert {(1920, 1080)} < {(clip.width, clip.height) for clip in good}
    assert {clip.fps for clip in good} == {24, 25, 30}
    assert min(clip.seconds for clip in good) >= 1.0 - 1e-9
    assert max(clip.seconds for clip in good) <= 6.0 + 1e-9


def test_hd_copy_and_its_index(sample_release):
    root = sample_release.root
    index = json.loads((root / HD_INDEX).read_text(encoding="utf-8"))
    hd_videos = {clip.video for clip in sample_release.clips if clip.hd}
    assert set(index) == {"OpenVidHD_part_1.zip"}
    assert set(index["OpenVidHD_part_1.zip"]) == hd_videos
    main_members = release_members(root)
    with zipfile.ZipFile(root / "OpenVidHD" / "OpenVidHD_part_1.zip") as archive:
        assert set(archive.namelist()) == hd_videos
        for name in archive.namelist():
            assert archive.read(name) == main_members[name][0][1]


def test_every_defect_is_planted_once(sample_release):
    assert sorted(clip.defect for clip in sample_release.clips if clip.defect) == sorted(DEFECTS)
    assert len(sample_release.clips) == 40
    assert len({clip.video for clip in sample_release.clips}) == 40


def test_clean_release_has_no_defects(tmp_path):
    release = write_sample_release(tmp_path / "clean", num_videos=4, seed=3, hd_fraction=0.0, clean=True)
    assert all(clip.defect is None for clip in release.clips)
    members = release_members(release.root)
    assert set(members) == {clip.video for clip in release.clips}


def test_cli_writes_the_same_bytes_as_the_api_for_a_seed(sample_release, tmp_path):
    out = tmp_path / "rel"
    result = subprocess.run(
        [sys.executable, "-m", "openvid_hf", "sample", str(out), "--num-videos", "40", "--seed", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "40 videos" in result.stdout
    assert tree_digest(out) == tree_digest(sample_release.root)


def test_another_seed_gives_another_release(tmp_path):
    first = write_sample_release(tmp_path / "a", num_videos=6, seed=1, clean=True)
    second = write_sample_release(tmp_path / "b", num_videos=6, seed=2, clean=True)
    assert [clip.video for clip in first.clips] != [clip.video for clip in second.clips]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--num-videos", "0"], "--num-videos"),
        (["--num-videos", "3"], "at least 6"),
        (["--hd-fraction", "1.5"], "--hd-fraction"),
        (["--num-videos", "many"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_without_traceback(tmp_path, args, message):
    result = subprocess.run(
        [sys.executable, "-m", "openvid_hf", "sample", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_non_empty_output_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    result = subprocess.run(
        [sys.executable, "-m", "openvid_hf", "sample", str(tmp_path / "out"), "--num-videos", "6"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "not empty" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
