"""`openvid-hf build` on the sample release: layout, contents, manifest, card, determinism and resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard
from sample_truth import expected_records, tree_bytes

from openvid_hf import load_metadata
from openvid_hf.commands import cli
from openvid_hf.errors import OpenVidError
from openvid_hf.publish.journal import JOURNAL_DIR
from openvid_hf.publish.plan import validation_count
from openvid_hf.schema import FIELD_NAMES, FIELDS, metadata_table_features, published_features
from openvid_hf.testing.sample_release import DEFECTS

REPO_ID = "openvid-tests/published"
SHARD_SIZE = 300_000
VALIDATION_SIZE = 13  # with seed 42, the first 13 positions hold both sd and hd clips
BUILD_ARGS = ["--shard-size", "300KB", "--validation-size", str(VALIDATION_SIZE), "--repo-id", REPO_ID]


def build(source, out_dir, *extra: str) -> int:
    return cli.main(["build", str(source), str(out_dir), *BUILD_ARGS, *extra])


@pytest.fixture(scope="module")
def built(sample_release, tmp_path_factory) -> Path:
    out_dir = tmp_path_factory.mktemp("build") / "out"
    assert build(sample_release.root, out_dir, "--num-proc", "2") == 0
    return out_dir


@pytest.fixture(scope="module")
def truth(sample_release) -> dict[str, dict]:
    return expected_records(sample_release)


def read_shard(path: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(path) as archive:
        return [(member, archive.extractfile(member).read()) for member in archive]


def published_samples(out_dir: Path) -> dict[str, dict]:
    """key -> shard path, record and mp4 bytes, read with tarfile alone."""
    samples = {}
    for path in sorted((out_dir / "data").rglob("*.tar")):
        members = read_shard(path)
        names = [member.name for member, _ in members]
        keys = [name.split(".")[0] for name in names[::2]]
        assert names == [f"{key}.{extension}" for key in keys for extension in ("json", "mp4")], path
        for (_, record), (_, mp4) in zip(members[::2], members[1::2], strict=True):
            sample = json.loads(record)
            samples[sample["key"]] = {"shard": path.relative_to(out_dir).as_posix(), "record": sample, "mp4": mp4}
    return samples


def test_every_decodable_row_is_published_once_with_its_original_bytes(built, truth):
    samples = published_samples(built)
    assert sorted(sample["record"]["video"] for sample in samples.values()) == sorted(truth)
    for key, sample in samples.items():
        record = sample["record"]
        assert list(record) == list(FIELD_NAMES)
        assert {name: value for name, value in record.items() if name != "key"} == truth[record["video"]]
        assert hashlib.sha256(sample["mp4"]).hexdigest() == record["sha256"]  # copied, never re-encoded
        assert len(key) == 9 and key.isdigit()
        split, subset = sample["shard"].split("/")[1:3]
        assert subset == ("hd" if record["hd"] else "sd")
        assert split == ("validation" if int(key) < VALIDATION_SIZE else "train")
    # Both splits of both subsets are populated, so every config has train and validation.
    populated = {tuple(sample["shard"].split("/")[1:3]) for sample in samples.values()}
    assert populated == {("train", "sd"), ("train", "hd"), ("validation", "sd"), ("validation", "hd")}


def test_shards_are_reproducible_tars_of_the_planned_size(built):
    shard_paths = sorted((built / "data").rglob("*.tar"))
    assert len(shard_paths) > 8
    for path in shard_paths:
        relative = path.relative_to(built).as_posix()
        split, subset, folder, name = relative.split("/")[1:]
        index = int(name.removesuffix(".tar").rsplit("-", 1)[1])
        assert (folder, name) == (f"{index // 1000:04d}", f"{split}-{subset}-{index:06d}.tar")
        members = read_shard(path)
        for member, _ in members:
            assert (member.mtime, member.uid, member.gid, member.uname, member.gname, member.mode) == (
                0,
                0,
                0,
                "",
                "",
                0o644,
            )
        assert len(members) == 2 or path.stat().st_size <= SHARD_SIZE + 20 * 1024  # one sample, or near the target
    assert max(Counter(path.parent for path in shard_paths).values()) < 5000


def test_manifest_lists_every_file_with_its_size_checksum_and_the_skips(built, truth):
    manifest = json.loads((built / "manifest.json").read_text())
    tars = {path.relative_to(built).as_posix(): path for path in (built / "data").rglob("*.tar")}
    assert {entry["path"] for entry in manifest["shards"]} == set(tars)
    for entry in manifest["shards"] + manifest["metadata"]:
        data = (built / entry["path"]).read_bytes()
        assert (entry["bytes"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    for entry in manifest["shards"]:
        assert entry["samples"] == len(read_shard(tars[entry["path"]])) // 2
    assert manifest["totals"]["samples"] == len(truth)
    assert [entry["path"] for entry in manifest["metadata"]] == [
        "metadata/train.parquet",
        "metadata/validation.parquet",
    ]
    assert manifest["skipped"]["counts"] == {"missing": 1, "not_in_csv": 1, "undecodable": 1, "unsafe_name": 1}
    assert manifest["build"]["seed"] == 42 and manifest["build"]["validation_size"] == VALIDATION_SIZE
    assert manifest["tool"] == {"name": "openvid-hf", "version": __import__("openvid_hf").__version__}


def test_metadata_tables_hold_every_published_clip_with_its_shard_and_member(built):
    samples = published_samples(built)
    for split in ("train", "validation"):
        table = load_metadata(built, split=split)
        assert table.features == metadata_table_features()
        rows = table.to_list()
        assert [row["key"] for row in rows] == sorted(row["key"] for row in rows)
        for row in rows:
            sample = samples[row["key"]]
            assert row["shard"] == sample["shard"] and row["member"] == f"{row['key']}.mp4"
            assert {name: row[name] for name in FIELD_NAMES} == sample["record"]
        assert {row["key"] for row in rows} == {key for key, s in samples.items() if s["shard"].split("/")[1] == split}
    with pytest.raises(OpenVidError, match=r"no metadata/test.parquet"):
        load_metadata(built, split="test")


def test_the_card_parses_and_declares_both_configs_with_the_contract_features(built, truth, sample_release):
    card = DatasetCard.load(built / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-4.0" and data["task_categories"] == ["text-to-video"]
    assert data["pretty_name"] == "OpenVid-1M" and data["size_categories"] == ["n<1K"]
    assert [config["config_name"] for config in data["configs"]] == ["default", "hd"]
    infos = datasets.info.DatasetInfosDict.from_dataset_card_data(card.data)
    for config in ("default", "hd"):
        assert infos[config].features == published_features()
    assert infos["default"].splits["train"].num_examples + infos["default"].splits["validation"].num_examples == len(
        truth
    )
    assert datasets.get_dataset_config_names(str(built)) == ["default", "hd"]
    assert f"{len(truth)} clips" in card.text
    assert f'load_dataset("{REPO_ID}", "hd", split="train", streaming=True)' in card.text
    assert "Nan, Kepan and Xie, Rui" in card.text and "arXiv:2407.02371" in card.text
    for field in FIELDS:
        assert f"| `{field.name}` | {field.dtype} |" in card.text
    for clip in sample_release.clips:
        if clip.defect not in (None, "too_short"):
            assert clip.video in card.text


def test_num_proc_1_writes_the_same_bytes(built, sample_release, tmp_path):
    assert build(sample_release.root, tmp_path / "out", "--num-proc", "1") == 0
    assert tree_bytes(tmp_path / "out") == tree_bytes(built)


def test_a_killed_build_resumes_reusing_finished_shards_and_ends_byte_identical(sample_release, tmp_path):
    args = [str(sample_release.root), "--shard-size", "1", "--validation-size", "13", "--repo-id", REPO_ID]
    assert cli.main(["build", args[0], str(tmp_path / "reference"), *args[1:]]) == 0

    out_dir = tmp_path / "resumed"
    command = [sys.executable, "-m", "openvid_hf", "build", args[0], str(out_dir), *args[1:]]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out_dir / JOURNAL_DIR / "shards"
    deadline = time.monotonic() + 120
    while not (journal.is_dir() and len(list(journal.glob("*.json"))) >= 3) and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out_dir / "manifest.json").exists(), "the build finished before it could be killed"

    # `*.json` as the journal reads it: a kill between writing an entry and renaming it leaves a `.partial` one.
    finished = [json.loads(path.read_text())["path"] for path in journal.glob("*.json")]
    tampered, *kept = finished
    with open(out_dir / tampered, "r+b") as handle:  # a finished shard damaged after the crash
        handle.seek(600)
        handle.write(b"\xff")
    before = {path: os.stat(out_dir / path) for path in kept}

    assert cli.main(["build", args[0], str(out_dir), *args[1:], "--num-proc", "2"]) == 0
    for path, stat in before.items():
        assert (os.stat(out_dir / path).st_ino, os.stat(out_dir / path).st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert tree_bytes(out_dir) == tree_bytes(tmp_path / "reference")  # no journal, no partial file left


def test_a_rerun_is_up_to_date_and_other_settings_replace_every_shard(built, sample_release, tmp_path, capsys):
    stats = {path: path.stat().st_mtime_ns for path in built.rglob("*") if path.is_file()}
    assert build(sample_release.root, built) == 0
    assert "up to date" in capsys.readouterr().out
    assert {path: path.stat().st_mtime_ns for path in built.rglob("*") if path.is_file()} == stats

    out_dir = tmp_path / "out"
    assert cli.main(["build", str(sample_release.root), str(out_dir), "--shard-size", "1", "--repo-id", REPO_ID]) == 0
    assert build(sample_release.root, out_dir) == 0
    assert tree_bytes(out_dir) == tree_bytes(built)  # the one-clip shards of the first build are gone


def test_filters_and_min_frames_leave_out_exactly_the_matching_clips(sample_release, truth, tmp_path):
    out_dir = tmp_path / "out"
    filters = ["--min-aesthetic-score", "4.05", "--min-height", "300", "--min-frames", "16"]
    assert cli.main(["build", str(sample_release.root), str(out_dir), "--validation-size", "0", *filters]) == 0
    rows = [clip for clip in sample_release.csv_clips if clip.aesthetic_score >= 4.05]
    read = [clip for clip in rows if clip.defect in (None, "too_short")]
    kept = {clip.video for clip in read if clip.defect is None and clip.height >= 300}
    assert 0 < len(kept) < len(read) - 1 and len(rows) < len(sample_release.csv_clips)
    samples = published_samples(out_dir)
    assert {sample["record"]["video"] for sample in samples.values()} == kept
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["skipped"]["counts"] == {reason: 1 for reason in sorted(DEFECTS)}
    too_low = [clip for clip in read if clip.defect is None and clip.height < 300]
    assert manifest["filtered_out"] == len(sample_release.csv_clips) - len(rows) + len(too_low)
    assert manifest["build"]["filters"] == {"min_aesthetic_score": 4.05, "min_height": 300}
    assert manifest["build"]["min_frames"] == 16
    assert (
        not (out_dir / "data" / "validation").exists() and not (out_dir / "metadata" / "validation.parquet").exists()
    )
    assert {record["video"] for record in load_metadata(out_dir).to_list()} == kept


def test_the_default_validation_split_is_1000_clips_at_most_1_percent():
    assert [validation_count(None, rows) for rows in (35, 99, 100, 50_000, 100_000, 1_000_000)] == [
        0,
        0,
        1,
        500,
        1000,
        1000,
    ]
    assert validation_count(0, 35) == 0 and validation_count(34, 35) == 34


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--shard-size", "big"], "--shard-size: not a size: 'big'"),
        (["--shard-size", "0"], "--shard-size: the size must be positive"),
        (["--num-proc", "0"], "num_proc must be an integer of at least 1"),
        (["--validation-size", "37"], "--validation-size 37 leaves no training clip"),
        (["--min-frames", "0"], "min_frames must be a positive integer"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(sample_release, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        cli.main(["build", str(sample_release.root), str(tmp_path / "out"), *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bad_input_exits_1_without_writing(sample_release, tmp_path, capsys):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    assert cli.main(["build", str(sample_release.root), str(foreign)]) == 1
    assert "is not empty and holds no openvid-hf build" in capsys.readouterr().err
    assert [path.name for path in foreign.iterdir()] == ["notes.txt"]
    assert cli.main(["build", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert cli.main(["build", str(sample_release.root), str(tmp_path / "out"), "--min-aesthetic-score", "9"]) == 1
    assert "no clip to publish: 39 rows filtered out" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "size"),
    [("000000042.mp4", 1), ("000000042.json", 0), ("123456789.mp4", 3_500_000), ("x" * 100, 511), ("é" * 50, 7)],
)
def test_shard_member_headers_are_the_bytes_tarfile_writes(name, size):
    """`member_header` packs ustar headers itself: it must stay byte-identical to `tarfile`'s for the same member."""
    import tarfile

    from openvid_hf.publish.shards import member_header, member_info

    assert member_header(name, size) == member_info(name, size).tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")


def test_a_shard_is_the_archive_tarfile_writes(tmp_path):
    """The whole shard, end blocks and record padding included, equals `tarfile`'s archive of the same members."""
    import io
    import tarfile

    from openvid_hf.publish.shards import ShardWriter, member_info

    samples = {
        f"{index:09d}": {"json": b"{}" * index, "mp4": bytes(range(256)) * (index * 7)} for index in range(1, 9)
    }
    with ShardWriter(tmp_path / "ours.tar") as writer:
        for key, members in samples.items():
            writer.add_sample(key, members)
    with tarfile.open(tmp_path / "tarfile.tar", "w", format=tarfile.USTAR_FORMAT) as archive:
        for key, members in samples.items():
            for extension, data in members.items():
                archive.addfile(member_info(f"{key}.{extension}", len(data)), io.BytesIO(data))
    assert (tmp_path / "ours.tar").read_bytes() == (tmp_path / "tarfile.tar").read_bytes()
