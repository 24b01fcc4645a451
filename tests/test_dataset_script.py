"""The loading script on a sample release: exact rows for each config, decodable videos, streaming, filters."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile

import numpy as np
import pytest
from datasets import Video

from openvid_hf import load_release
from openvid_hf.commands import cli
from openvid_hf.dataset_script.openvid_1m import OpenVid1M
from openvid_hf.errors import OpenVidError, UsageError
from openvid_hf.release.layout import MAIN_CSV, base_name
from openvid_hf.schema import CSV_TO_FIELD, FIELDS_BY_NAME, VIDEO_COLUMN, format_key
from openvid_hf.testing.fixtures import REPO_NAMESPACE
from openvid_hf.testing.sample_release import read_frame_index, write_sample_release

MAIN_PARTS = ("OpenVid_part0.zip", "OpenVid_part1.zip", "OpenVid_part2_partaa")


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("datasets-cache")


@pytest.fixture(scope="module")
def default_builder(sample_release, cache_dir):
    builder = OpenVid1M(data_dir=str(sample_release.root), cache_dir=str(cache_dir))
    builder.download_and_prepare()
    return builder


@pytest.fixture(scope="module")
def default_rows(default_builder) -> list[dict]:
    return list(default_builder.as_dataset(split="train").cast_column(VIDEO_COLUMN, Video(decode=False)))


@pytest.fixture(scope="module")
def csv_truth(sample_release) -> dict[str, tuple[int, dict[str, str]]]:
    """OpenVid-1M.csv read with the csv module alone: video -> (row position, cells by header)."""
    with open(sample_release.root / MAIN_CSV, newline="", encoding="utf-8") as handle:
        return {row["video"]: (position, row) for position, row in enumerate(csv.DictReader(handle))}


@pytest.fixture(scope="module")
def member_bytes(sample_release) -> dict[str, bytes]:
    """Every main-part member's bytes by base name, read with zipfile from the parts joined in memory."""
    found = {}
    for archive in MAIN_PARTS:
        paths = sorted(sample_release.root.glob(archive[:-2] + "??")) if archive.endswith("aa") else None
        payload = b"".join(path.read_bytes() for path in paths or [sample_release.root / archive])
        with zipfile.ZipFile(io.BytesIO(payload)) as listing:
            found.update({base_name(name): listing.read(name) for name in listing.namelist()})
    return found


def expected_csv_fields(cells: dict[str, str]) -> dict:
    """A CSV row at the dtypes the schema declares (float32 values as the Arrow column holds them)."""
    typed = {}
    for column, text in cells.items():
        name = CSV_TO_FIELD[column]
        dtype = FIELDS_BY_NAME[name].dtype
        typed[name] = {"float32": lambda t: float(np.float32(float(t))), "int32": lambda t: int(float(t))}.get(
            dtype, str
        )(text)
    return typed


def test_default_yields_exactly_the_decodable_rows_with_every_field_equal_to_the_csv(
    sample_release, default_rows, csv_truth, member_bytes
):
    clips = {clip.video: clip for clip in sample_release.decodable_clips}
    assert sorted(row["video"] for row in default_rows) == sorted(clips)
    assert [row["key"] for row in default_rows] == sorted(row["key"] for row in default_rows)
    for row in default_rows:
        clip = clips[row["video"]]
        position, cells = csv_truth[row["video"]]
        data = row[VIDEO_COLUMN]["bytes"]
        assert row["key"] == format_key(position)
        assert {name: row[name] for name in CSV_TO_FIELD.values()} == expected_csv_fields(cells)
        assert row["caption"].encode("utf-8") == cells["caption"].encode("utf-8") == clip.caption.encode("utf-8")
        assert (row["width"], row["height"], row["num_frames"]) == (clip.width, clip.height, clip.num_frames)
        assert row["hd"] is clip.hd
        assert data == member_bytes[row["video"]]
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
    assert any("\n" in row["caption"] for row in default_rows) and any('"' in row["caption"] for row in default_rows)


def test_each_video_decodes_to_num_frames_frames(default_builder):
    dataset = default_builder.as_dataset(split="train")
    for row in dataset:
        decoder, num_frames = row[VIDEO_COLUMN], row["num_frames"]
        assert len(decoder) == num_frames
        for index in (0, num_frames - 1):
            assert read_frame_index(decoder[index].permute(1, 2, 0).numpy()) == index
        with pytest.raises(IndexError):
            decoder[num_frames]


def test_every_skip_is_counted_by_reason_and_listed(sample_release, default_builder):
    report = default_builder.report
    expected = {(clip.video, clip.defect) for clip in sample_release.clips if clip.defect not in (None, "too_short")}
    assert {(skip.video, skip.reason) for skip in report.skipped} == expected
    assert report.counts() == {"missing": 1, "not_in_csv": 1, "undecodable": 1, "too_short": 0, "unsafe_name": 1}
    assert report.yielded == len(sample_release.decodable_clips)


def test_streaming_yields_the_rows_of_the_prepared_dataset(default_builder, default_rows):
    streamed = default_builder.as_streaming_dataset(split="train").decode(False)
    assert list(streamed) == default_rows


def test_hd_yields_exactly_the_hd_rows(sample_release, cache_dir, default_rows):
    dataset = load_release(sample_release.root, config="hd", cache_dir=cache_dir)
    rows = list(dataset.cast_column(VIDEO_COLUMN, Video(decode=False)))
    assert sorted(row["video"] for row in rows) == sorted(clip.video for clip in sample_release.clips if clip.hd)
    same_clip = {row["video"]: row for row in default_rows}
    for row in rows:
        assert row == same_clip[row["video"]]  # same key, fields and bytes as in `default`
        assert row["hd"] is True and row["height"] == 1080


def test_metadata_yields_every_csv_row_and_its_archive(sample_release, cache_dir, csv_truth):
    dataset = load_release(sample_release.root, config="metadata", cache_dir=cache_dir)
    assert VIDEO_COLUMN not in dataset.column_names
    assert dataset["video"] == list(csv_truth)
    holders = {
        base_name(member): archive
        for archive in MAIN_PARTS
        for member in sample_release.archives[archive]
        if not member.startswith("../")
    }
    for row in dataset:
        position, cells = csv_truth[row["video"]]
        assert row["key"] == format_key(position)
        assert {name: row[name] for name in CSV_TO_FIELD.values()} == expected_csv_fields(cells)
        assert row["archive"] == holders.get(row["video"])
    assert dataset["archive"].count(None) == 2  # the missing video and the one stored under an unsafe name


def test_filters_and_min_frames_select_exactly_the_matching_clips(sample_release, cache_dir, caplog):
    (too_short,) = sample_release.by_defect("too_short")  # let it pass the CSV filters, to be reported
    motions = {too_short.camera_motion, "static", "pan_left"}
    min_aesthetic, max_motion = min(4.5, too_short.aesthetic_score), max(30.0, too_short.motion_score)
    builder = OpenVid1M(
        data_dir=str(sample_release.root),
        cache_dir=str(cache_dir),
        min_frames=16,
        min_aesthetic_score=min_aesthetic,
        max_motion_score=max_motion,
        camera_motion=motions,
        min_height=300,
    )
    with caplog.at_level(logging.INFO):
        videos = [row["video"] for row in builder.as_streaming_dataset(split="train").decode(False)]
    expected = [
        clip.video
        for clip in sample_release.decodable_clips
        if clip.num_frames >= 16
        and clip.aesthetic_score >= min_aesthetic
        and clip.motion_score <= max_motion
        and clip.camera_motion in motions
        and clip.height >= 300
    ]
    assert 0 < len(expected) < len(sample_release.decodable_clips) - 1
    assert sorted(videos) == sorted(expected)
    assert ("too_short", too_short.video) in {(skip.reason, skip.video) for skip in builder.report.skipped}
    (summary,) = [record for record in caplog.records if record.getMessage().startswith("OpenVid-1M default:")]
    assert summary.levelno == logging.WARNING
    assert f"{len(expected)} rows" in summary.getMessage() and "too_short 1" in summary.getMessage()


def test_a_csv_missing_a_column_fails_fast(sample_release, tmp_path):
    root = tmp_path / "release"
    (root / MAIN_CSV).parent.mkdir(parents=True)
    text = (sample_release.root / MAIN_CSV).read_text(encoding="utf-8")
    (root / MAIN_CSV).write_text(text.replace(",camera motion,", ",", 1), encoding="utf-8")
    with pytest.raises(OpenVidError, match=r"missing column\(s\) 'camera motion'"):
        load_release(root, cache_dir=tmp_path / "cache")


def test_a_folder_with_no_csv_fails_fast(tmp_path):
    with pytest.raises(OpenVidError, match=r"no data/train/OpenVid-1M.csv"):
        load_release(tmp_path, config="metadata", cache_dir=tmp_path / "cache")


def test_bad_arguments_are_usage_errors(sample_release, tmp_path):
    with pytest.raises(UsageError, match="unknown filter"):
        load_release(sample_release.root, min_aesthetic=5.0)
    with pytest.raises(UsageError, match="unknown config"):
        load_release(sample_release.root, config="sd")
    with pytest.raises(UsageError, match="data_dir is required"):
        OpenVid1M(cache_dir=str(tmp_path)).download_and_prepare()


# -- the same release on the local Hub, read as hf://datasets/ORG/NAME ---------------------------------------


@pytest.fixture(scope="module")
def small_release(tmp_path_factory):
    """A 10-video release (every defect planted), small enough to upload quickly."""
    return write_sample_release(tmp_path_factory.mktemp("small") / "OpenVid-1M", num_videos=10, seed=3)


@pytest.fixture(scope="module")
def hub_release(small_release, hub_api) -> str:
    repo_id = f"{REPO_NAMESPACE}/openvid-1m-original"
    hub_api.create_repo(repo_id, repo_type="dataset")
    hub_api.upload_folder(folder_path=small_release.root, repo_id=repo_id, repo_type="dataset")
    return f"hf://datasets/{repo_id}"


def archive_traffic(records) -> list:
    """Requests for zip bytes: the zips are LFS files, served from the storage origin after a redirect."""
    return [record for record in records if record.route == "lfs-download"]


def largest_member(root) -> int:
    sizes = [0]
    for path in root.rglob("*"):
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as listing:
                sizes += [info.compress_size for info in listing.infolist()]
    return max(sizes)


def test_a_hub_release_yields_the_same_rows_from_range_reads_only(small_release, hub_release, hub_server, tmp_path):
    local = load_release(small_release.root, cache_dir=tmp_path / "local")
    with hub_server.recording() as records:
        remote = load_release(hub_release, cache_dir=tmp_path / "remote")
    rows = list(remote.cast_column(VIDEO_COLUMN, Video(decode=False)))
    assert rows == list(local.cast_column(VIDEO_COLUMN, Video(decode=False)))
    assert sorted(row["video"] for row in rows) == sorted(clip.video for clip in small_release.decodable_clips)

    archive_bytes = sum(path.stat().st_size for path in small_release.root.glob("OpenVid_part*"))
    traffic = archive_traffic(records)
    assert traffic and all(record.range and record.status == 206 for record in traffic)
    assert max(record.body_bytes for record in traffic) <= largest_member(small_release.root)
    assert sum(record.body_bytes for record in traffic) < archive_bytes


def test_a_hub_release_streams_the_rows_it_prepares(hub_release, tmp_path):
    prepared = load_release(hub_release, config="hd", cache_dir=tmp_path)
    streamed = load_release(hub_release, config="hd", streaming=True, cache_dir=tmp_path)
    assert list(streamed.decode(False)) == list(prepared.cast_column(VIDEO_COLUMN, Video(decode=False)))
    assert len(prepared) > 0


def test_a_hub_release_lists_central_directories_once(small_release, hub_release, hub_server, tmp_path):
    """`metadata` reads only the zips' tails, and a second run reads them from the listing cache."""
    with hub_server.recording() as first:
        dataset = load_release(hub_release, config="metadata", cache_dir=tmp_path)
    with hub_server.recording() as second:
        again = load_release(hub_release, config="metadata", cache_dir=tmp_path, download_mode="force_redownload")
    assert dataset["video"] == again["video"] == [clip.video for clip in small_release.csv_clips]
    archive_bytes = sum(path.stat().st_size for path in small_release.root.rglob("*.zip"))
    assert 0 < sum(record.body_bytes for record in archive_traffic(first)) < archive_bytes / 10
    assert archive_traffic(second) == []


def test_inspect_reads_a_hub_release(small_release, hub_release, tmp_path, capsys):
    assert cli.main(["inspect", hub_release, "--json", "--min-frames", "16", "--index-cache", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    planted = [{"video": clip.video, "reason": clip.defect} for clip in small_release.clips if clip.defect]
    assert sorted(report["skipped"], key=json.dumps) == sorted(planted, key=json.dumps)
    assert report["rows"] == len(small_release.csv_clips)
