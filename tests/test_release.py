"""The release reader: zip listings over joined split parts, member reads, caching, safety, CSV checks, inspect."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import fsspec
import pytest

from openvid_hf.commands import cli
from openvid_hf.errors import OpenVidError, UsageError
from openvid_hf.release.archives import JoinedFile, read_member, scan_members
from openvid_hf.release.filters import ClipFilter
from openvid_hf.release.layout import HD_INDEX, MAIN_CSV, base_name, is_unsafe_name
from openvid_hf.release.reader import ReleaseReader
from openvid_hf.release.source import Release
from openvid_hf.schema import CSV_HEADER

SPLIT = "OpenVid_part2_partaa"
HD_ZIP = "OpenVidHD/OpenVidHD_part_1.zip"


def joined_bytes(root: Path, archive: str) -> bytes:
    """The archive as the official download joins it (`cat STEM_part*`), in memory: the ground truth."""
    if archive.endswith("_partaa"):
        return b"".join(path.read_bytes() for path in sorted(root.glob(archive[: -len("aa")] + "??")))
    return (root / archive).read_bytes()


@pytest.fixture
def release_copy(sample_release, tmp_path) -> Path:
    """A private copy of the sample release, for tests that damage it."""
    return Path(shutil.copytree(sample_release.root, tmp_path / "release"))


def test_archives_are_found_and_split_parts_joined(sample_release):
    release = Release(sample_release.root)
    archives = {archive.name: archive for archive in release.main_archives + release.hd_archives}
    assert set(archives) == set(sample_release.archives)
    split = archives[SPLIT]
    assert [Path(part.path).name for part in split.parts] == ["OpenVid_part2_partaa", "OpenVid_part2_partab"]
    assert split.size == len(joined_bytes(sample_release.root, SPLIT))
    assert [archive.name for archive in release.hd_archives] == [HD_ZIP]


def test_joined_file_reads_any_range_across_the_part_boundary(sample_release):
    release = Release(sample_release.root)
    split = next(archive for archive in release.main_archives if archive.name == SPLIT)
    expected = joined_bytes(sample_release.root, SPLIT)
    boundary = split.parts[0].size
    joined = JoinedFile(release.fs, split)
    for start, length in [(0, 10), (boundary - 7, 20), (boundary, 5), (len(expected) - 3, 50), (boundary - 1, 1)]:
        assert joined.read_range(start, length) == expected[start : start + length]
    joined.seek(boundary - 4)
    assert joined.read(8) == expected[boundary - 4 : boundary + 4]
    assert joined.tell() == boundary + 4


@pytest.mark.parametrize("archive", ["OpenVid_part0.zip", "OpenVid_part1.zip", SPLIT, HD_ZIP])
def test_members_are_listed_and_read_exactly_as_zipfile_reads_them(sample_release, archive):
    before = sorted(path.name for path in sample_release.root.rglob("*"))
    release = Release(sample_release.root)
    target = next(item for item in release.main_archives + release.hd_archives if item.name == archive)
    members = scan_members(release.fs, target)
    assert [member.name for member in members] == sample_release.archives[archive]
    with zipfile.ZipFile(io.BytesIO(joined_bytes(sample_release.root, archive))) as reference:
        for member in members:
            assert read_member(release.fs, target, member) == reference.read(member.name)
            assert member.compression == reference.getinfo(member.name).compress_type
    assert sorted(path.name for path in sample_release.root.rglob("*")) == before  # nothing joined or unzipped


def test_a_split_archive_missing_its_first_part_fails_naming_it(release_copy):
    (release_copy / "OpenVid_part2_partaa").unlink()
    with pytest.raises(OpenVidError, match="missing OpenVid_part2_partaa"):
        Release(release_copy)


def test_a_truncated_archive_fails_naming_it(release_copy):
    (release_copy / "OpenVid_part2_partab").unlink()
    reader = ReleaseReader(Release(release_copy))
    with pytest.raises(OpenVidError, match="OpenVid_part2_partaa: not a readable zip archive"):
        reader.scan()


def test_listings_are_cached_and_rescanned_when_an_archive_changes(release_copy, tmp_path):
    cache = tmp_path / "index"
    first = ReleaseReader(Release(release_copy), config="metadata", index_cache_dir=cache)
    expected = [clip.metadata_record() for clip in first.clips()]
    assert len(list(cache.glob("*.json"))) == 3

    # Wipe the central directory of part 0 but keep its size and mtime: a cached listing is all that can work.
    part = release_copy / "OpenVid_part0.zip"
    stat = part.stat()
    part.write_bytes(b"\0" * stat.st_size)
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    cached = ReleaseReader(Release(release_copy), config="metadata", index_cache_dir=cache)
    assert [clip.metadata_record() for clip in cached.clips()] == expected

    with pytest.raises(OpenVidError, match=r"OpenVid_part0.zip: not a readable zip archive"):
        ReleaseReader(Release(release_copy), config="metadata", index_cache_dir=tmp_path / "fresh").scan()
    os.utime(part)  # a new mtime is a new cache key
    with pytest.raises(OpenVidError, match=r"OpenVid_part0.zip: not a readable zip archive"):
        ReleaseReader(Release(release_copy), config="metadata", index_cache_dir=cache).scan()


@pytest.mark.parametrize(
    ("name", "unsafe"),
    [
        ("../clip.mp4", True),
        ("videos/../../clip.mp4", True),
        ("/etc/clip.mp4", True),
        ("\\\\server\\clip.mp4", True),
        ("C:\\videos\\clip.mp4", True),
        ("videos\\..\\clip.mp4", True),
        ("OpenVid_part0/clip.mp4", False),
        ("clip..mp4", False),
        ("...mp4", False),
    ],
)
def test_unsafe_member_names(name, unsafe):
    assert is_unsafe_name(name) is unsafe
    assert base_name(name).endswith("mp4")


def test_a_row_only_under_an_unsafe_name_is_reported_once_as_unsafe(sample_release):
    reader = ReleaseReader(Release(sample_release.root))
    videos = [clip.video for clip in reader.clips(read_videos=False)]
    (unsafe,) = sample_release.by_defect("unsafe_name")
    assert unsafe.video not in videos
    reports = [skip for skip in reader.report.skipped if skip.video == unsafe.video]
    assert [(skip.reason, skip.detail.split(": ")[1]) for skip in reports] == [("unsafe_name", f"../{unsafe.video}")]


def test_a_folder_without_the_csv_fails_naming_it(tmp_path):
    (tmp_path / "OpenVid_part0.zip").write_bytes(b"")
    with pytest.raises(OpenVidError, match=r"no data/train/OpenVid-1M.csv"):
        Release(tmp_path)
    with pytest.raises(OpenVidError, match="no such folder"):
        Release(tmp_path / "absent")


def test_a_csv_missing_a_column_fails_fast_naming_it(release_copy):
    csv_path = release_copy / MAIN_CSV
    text = csv_path.read_text(encoding="utf-8")
    csv_path.write_text(text.replace("motion score,temporal", "temporal", 1), encoding="utf-8")
    with pytest.raises(OpenVidError, match=r"OpenVid-1M.csv: missing column\(s\) 'motion score'"):
        ReleaseReader(Release(release_copy))


def test_a_bad_csv_value_names_the_row(release_copy):
    csv_path = release_copy / MAIN_CSV
    lines = csv_path.read_text(encoding="utf-8").splitlines(keepends=True)
    first_row = lines[1].rsplit(",", 1)
    lines[1] = first_row[0] + ",not-a-number\n"
    csv_path.write_text("".join(lines), encoding="utf-8")
    reader = ReleaseReader(Release(release_copy), config="metadata")
    with pytest.raises(OpenVidError, match=r"OpenVid-1M.csv, row 1 \(line 2\): column 'seconds': not a number"):
        list(reader.clips())


def test_csv_header_is_the_schema_header(sample_release):
    header = (sample_release.root / MAIN_CSV).read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(CSV_HEADER)


def test_a_video_only_in_the_hd_copy_is_read_from_the_zip_openvidhd_json_names(sample_release, release_copy):
    """Rows whose video left the main parts come from the HD zip; OpenVidHD.json says which one to list."""
    hd_videos = {clip.video for clip in sample_release.clips if clip.hd}
    part = release_copy / "OpenVid_part0.zip"
    with zipfile.ZipFile(io.BytesIO(part.read_bytes())) as source, zipfile.ZipFile(part, "w") as target:
        moved = {base_name(name) for name in source.namelist()} & hd_videos
        for info in source.infolist():
            if base_name(info.filename) not in moved:
                target.writestr(info, source.read(info))
    assert moved
    decoy = release_copy / "OpenVidHD" / "OpenVidHD_part_2.zip"
    decoy.write_bytes(b"not a zip, and not named in OpenVidHD.json")

    reader = ReleaseReader(Release(release_copy), config="metadata")
    archives = {clip.video: clip.archive for clip in reader.clips()}
    assert {video for video, archive in archives.items() if archive == HD_ZIP} == moved

    (release_copy / HD_INDEX).unlink()  # without the listing every HD zip must be scanned, the decoy too
    with pytest.raises(OpenVidError, match=r"OpenVidHD_part_2.zip: not a readable zip archive"):
        list(ReleaseReader(Release(release_copy), config="metadata").clips())


def test_clip_filter_bounds_and_arguments(sample_release):
    rows = [
        {
            "aesthetic_score": clip.aesthetic_score,
            "motion_score": clip.motion_score,
            "temporal_consistency_score": clip.temporal_consistency_score,
            "camera_motion": clip.camera_motion,
        }
        for clip in sample_release.clips
    ]
    chosen = ClipFilter(min_motion_score=5.0, max_motion_score=20.0, camera_motion="static")
    kept = [row for row in rows if chosen.accepts_row(row)]
    assert kept == [row for row in rows if 5.0 <= row["motion_score"] <= 20.0 and row["camera_motion"] == "static"]
    assert ClipFilter(camera_motion=["static", "pan_left"]).camera_motion == frozenset({"static", "pan_left"})
    with pytest.raises(UsageError, match="min_motion_score"):
        ClipFilter(min_motion_score=9.0, max_motion_score=1.0)
    with pytest.raises(UsageError, match="min_aesthetic_score must be a number"):
        ClipFilter(min_aesthetic_score="high")
    with pytest.raises(UsageError, match="min_height needs"):
        ReleaseReader(Release(sample_release.root), config="metadata", filters=ClipFilter(min_height=720))
    with pytest.raises(UsageError, match="min_frames"):
        ReleaseReader(Release(sample_release.root), min_frames=0)


def test_inspect_json_lists_each_planted_defect(sample_release, tmp_path, capsys):
    code = cli.main(
        ["inspect", str(sample_release.root), "--json", "--min-frames", "16", "--index-cache", str(tmp_path)]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == len(sample_release.csv_clips)
    assert report["hd_rows"] == sum(clip.hd for clip in sample_release.clips)
    assert report["videos"] == sum(clip.defect not in ("missing", "unsafe_name") for clip in sample_release.clips)
    planted = [{"video": clip.video, "reason": clip.defect} for clip in sample_release.clips if clip.defect]
    assert sorted(report["skipped"], key=json.dumps) == sorted(planted, key=json.dumps)


def test_inspect_reports_bad_input_in_one_line(tmp_path, capsys):
    assert cli.main(["inspect", str(tmp_path), "--index-cache", str(tmp_path / "index")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"openvid-hf inspect: error: {tmp_path}: no {MAIN_CSV}")


def test_release_reads_through_fsspec_urls(sample_release):
    """A `file://` URL goes through the same fsspec path as `hf://`."""
    release = Release(f"file://{sample_release.root}")
    assert isinstance(release.fs, fsspec.implementations.local.LocalFileSystem)
    assert {archive.name for archive in release.main_archives} == {
        name for name in sample_release.archives if not name.startswith("OpenVidHD/")
    }


def test_inspect_checks_clips_on_worker_processes_and_reports_in_csv_order(sample_release, tmp_path):
    """The probes run in two worker processes; the report is the one a single process makes, skip for skip."""
    from openvid_hf.release.inspect import inspect_release

    here = inspect_release(sample_release.root, min_frames=16, index_cache_dir=tmp_path)
    spread = inspect_release(sample_release.root, min_frames=16, index_cache_dir=tmp_path, num_proc=2)
    assert {"undecodable", "too_short", "missing"} <= {skip.reason for skip in here["skipped"]}
    assert (
        spread["skipped"] == here["skipped"] and spread["summary"].split(" in ")[0] == here["summary"].split(" in ")[0]
    )
