"""`openvid-hf curate` end to end: a folder of videos with known properties becomes a release that `inspect`
reports clean, `build` publishes and `datasets.load_dataset` loads; thresholds re-apply without recomputing."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from openvid_hf.commands.cli import main
from openvid_hf.curation.results import RESULTS_TABLE, WORK_DIR
from openvid_hf.release.layout import HD_CSV, HD_INDEX, MAIN_CSV
from openvid_hf.schema import CSV_HEADER
from openvid_hf.testing.synthetic_videos import blurred, camera_frames, write_shots, write_video

#: Weight-free run; clips of at least 0.5 s kept (the test videos are short).
FAST = ["--skip-model-stages", "--flow", "dis", "--thresholds", "min_seconds=0.5"]


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory):
    """Videos with known properties, one in a subfolder, one undecodable, one file that is not a video."""
    folder = tmp_path_factory.mktemp("raw")
    write_shots(folder / "shots.mp4", [30, 25, 25], gop=30)
    write_video(folder / "pan_right.mp4", camera_frames("pan_right", 25, speed=2.0, seed=1))
    write_video(folder / "nested" / "tilt_up.mp4", camera_frames("tilt_up", 25, speed=2.0, seed=2))
    write_video(folder / "static.mp4", camera_frames("static", 25, seed=3))
    write_video(folder / "blurry.mp4", blurred(camera_frames("pan_left", 25, speed=2.0, seed=4), 3.0))
    write_video(folder / "hd.mp4", camera_frames("zoom_in", 15, width=1920, height=1080, speed=1.0, seed=5))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(3000))
    (folder / "notes.txt").write_text("not a video")
    return folder


@pytest.fixture(scope="module")
def curated(raw_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("curated") / "release"
    assert main(["curate", str(raw_folder), str(out), *FAST]) == 0
    return out


def csv_rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_release_has_the_original_layout_and_the_known_properties(curated):
    with open(curated / MAIN_CSV, encoding="utf-8") as handle:
        assert handle.readline().rstrip("\n").split(",") == list(CSV_HEADER)
    rows = {row["video"]: row for row in csv_rows(curated / MAIN_CSV)}
    assert sorted(rows) == [
        "hd_0_0to15.mp4",
        "nested_tilt_up_0_0to25.mp4",
        "pan_right_0_0to25.mp4",
        "shots_0_0to30.mp4",
        "shots_1_30to55.mp4",
        "shots_2_55to80.mp4",
    ]
    assert {name: row["camera motion"] for name, row in rows.items() if not name.startswith("shots")} == {
        "hd_0_0to15.mp4": "zoom_in",
        "nested_tilt_up_0_0to25.mp4": "tilt_up",
        "pan_right_0_0to25.mp4": "pan_right",
    }
    # Model stages skipped: their fields are empty; the weight-free ones are filled.
    assert all(
        row["caption"] == row["aesthetic score"] == row["temporal consistency score"] == "" for row in rows.values()
    )
    assert float(rows["pan_right_0_0to25.mp4"]["motion score"]) > float(rows["shots_0_0to30.mp4"]["motion score"])
    assert [row["video"] for row in csv_rows(curated / HD_CSV)] == ["hd_0_0to15.mp4"]
    assert json.loads((curated / HD_INDEX).read_text()) == {"OpenVidHD_part_1.zip": ["hd_0_0to15.mp4"]}
    assert sorted(path.name for path in curated.glob("OpenVid_part*.zip")) == ["OpenVid_part0.zip"]


def test_every_dropped_or_skipped_clip_is_reported_with_reason_and_score(curated):
    report = json.loads((curated / WORK_DIR / "report.json").read_text())
    dropped = {item["clip"]: item for item in report["dropped"]}
    assert dropped["static_0_0to25.mp4"]["reason"] == "low_motion"
    assert dropped["blurry_0_0to25.mp4"]["reason"] == "low_clarity"
    assert dropped["blurry_0_0to25.mp4"]["score"] < dropped["blurry_0_0to25.mp4"]["bound"]
    assert [(item["video"], item["reason"]) for item in report["skipped"]] == [("broken.mp4", "undecodable")]
    import pyarrow.parquet as pq

    results = {row["clip"]: row for row in pq.read_table(curated / WORK_DIR / RESULTS_TABLE).to_pylist()}
    # Clarity: the blurred clip below every sharp one.
    sharp = [row["clarity_score"] for name, row in results.items() if not name.startswith(("blurry", "hd"))]
    assert results["blurry_0_0to25.mp4"]["clarity_score"] < min(sharp) / 5
    assert results["static_0_0to25.mp4"]["camera_motion"] == "static"


def test_inspect_reports_the_curated_release_clean(curated, capsys):
    assert main(["inspect", str(curated), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["rows"], report["hd_rows"], report["videos"], report["skipped"]) == (6, 1, 6, [])


def test_build_publishes_it_and_load_dataset_reads_it(curated, tmp_path):
    import datasets

    built = tmp_path / "built"
    assert main(["build", str(curated), str(built), "--validation-size", "0"]) == 0
    dataset = datasets.load_dataset(str(built), split="train")
    records = {record["video"]: record for record in dataset["json"]}
    assert len(records) == 6
    assert records["pan_right_0_0to25.mp4"]["aesthetic_score"] is None
    assert records["pan_right_0_0to25.mp4"]["camera_motion"] == "pan_right"
    assert records["hd_0_0to15.mp4"]["hd"] and records["hd_0_0to15.mp4"]["height"] == 1080
    # The card's statistics leave the scores no stage computed out, rather than printing NaN.
    statistics = (built / "README.md").read_text().split("### Scores, durations and frame counts")[1].split("\n#")[0]
    assert "| `motion_score` |" in statistics and "`aesthetic_score`" not in statistics and "nan" not in statistics


def test_new_thresholds_reapply_without_recomputing(raw_folder, curated, capsys):
    parts = sorted((curated / WORK_DIR).glob("*/part-*.parquet"))
    args = ["curate", str(raw_folder), str(curated), *FAST[:-1], "min_seconds=0.5,min_motion_score=none"]
    assert main(args) == 0
    assert "static_0_0to25.mp4" in {row["video"] for row in csv_rows(curated / MAIN_CSV)}
    assert "dropped or skipped: 1 low_clarity, 1 undecodable" in capsys.readouterr().out
    assert sorted((curated / WORK_DIR).glob("*/part-*.parquet")) == parts  # no stage wrote anything
    # Put the defaults back for the other tests of this module.
    assert main(["curate", str(raw_folder), str(curated), *FAST]) == 0


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["--ray-address", "127.0.0.1:6379"], 2, "--ray-address applies to --executor ray"),
        (["--executor", "ray", "--device", "cuda:1"], 2, "--device cuda:1: on Ray each model actor gets a GPU"),
        (["--thresholds", "min_clarity=3"], 2, "--thresholds"),
        (["--steps", "motion,colour"], 2, "unknown step(s) colour"),
    ],
)
def test_bad_arguments_are_one_clear_line(raw_folder, tmp_path, capsys, args, status, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["curate", str(raw_folder), str(tmp_path / "out"), *args])
    assert exit_info.value.code == status
    assert message in capsys.readouterr().err


def test_an_unreachable_ray_address_is_one_clear_line(raw_folder, tmp_path, capsys):
    pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'openvid-hf[ray]'")
    from openvid_hf.testing.ray_cluster import free_port

    address = f"127.0.0.1:{free_port()}"
    assert main(["curate", str(raw_folder), str(tmp_path / "out"), "--executor", "ray", "--ray-address", address]) == 1
    assert capsys.readouterr().err.startswith(f"openvid-hf curate: error: --ray-address {address}: no Ray head node")


def test_a_missing_or_empty_input_folder_is_one_clear_line(tmp_path, capsys):
    assert main(["curate", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["curate", str(tmp_path / "empty"), str(tmp_path / "out")]) == 1
    assert "no videos" in capsys.readouterr().err


def test_clips_are_frame_exact(curated, raw_folder):
    from openvid_hf.video.decoding import read_frames

    source = read_frames(raw_folder / "shots.mp4", range(80), backend="pyav").numpy()
    clip = read_frames(curated / WORK_DIR / "clips" / "shots_1_30to55.mp4", range(25), backend="pyav").numpy()
    assert np.array_equal(clip, source[30:55])


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    write_shots(folder / "shots.mp4", [30, 25, 25], gop=30)
    write_video(folder / "pan.mp4", camera_frames("pan_left", 20, speed=2.0, seed=6))
    return folder


def test_a_process_pool_writes_the_same_release_byte_for_byte(small_folder, tmp_path):
    releases = []
    for num_proc in ("1", "2"):
        out = tmp_path / f"proc{num_proc}"
        assert main(["curate", str(small_folder), str(out), *FAST, "--num-proc", num_proc]) == 0
        releases.append(
            {
                path.relative_to(out): path.read_bytes()
                for path in out.rglob("*")
                if ".curation" not in path.parts and path.is_file()
            }
        )
    assert releases[0] == releases[1] and len(releases[0]) == 3


def test_an_fsspec_url_is_an_input(small_folder, tmp_path):
    import fsspec

    memory = fsspec.filesystem("memory")
    memory.put(str(small_folder / "pan.mp4"), "/curate-input/pan.mp4")
    try:
        assert main(["curate", "memory://curate-input", str(tmp_path / "out"), *FAST]) == 0
    finally:
        memory.rm("/curate-input", recursive=True)
    assert [row["video"] for row in csv_rows(tmp_path / "out" / MAIN_CSV)] == ["pan_0_0to20.mp4"]


def test_a_rerun_does_only_new_or_changed_work(small_folder, tmp_path):
    import shutil

    folder = tmp_path / "raw"
    shutil.copytree(small_folder, folder)
    out = tmp_path / "out"
    assert main(["curate", str(folder), str(out), *FAST]) == 0
    work = out / WORK_DIR
    before = {path.name: path.stat().st_mtime_ns for path in (work / "clips").iterdir()}
    write_video(folder / "tilt.mp4", camera_frames("tilt_down", 20, speed=2.0, seed=7))
    args = ["curate", str(folder), str(out), *FAST]
    args[args.index("dis")] = "farneback"  # a new flow algorithm redoes the motion stage only
    assert main(args) == 0
    after = {path.name: path.stat().st_mtime_ns for path in (work / "clips").iterdir()}
    assert set(after) - set(before) == {"tilt_0_0to20.mp4"}
    assert all(after[name] == before[name] for name in before)  # the old sources were not cut again
    import pyarrow.parquet as pq

    motion = [pq.read_table(path).to_pylist() for path in sorted((work / "motion").iterdir())]
    assert [len(part) for part in motion] == [4, 5]  # every clip redone with the new algorithm, in a new part
    assert {row["settings"] for row in motion[1]} == {"farneback"}
    clarity = [pq.read_table(path).to_pylist() for path in sorted((work / "clarity").iterdir())]
    assert [[row["clip"] for row in part] for part in clarity][1] == ["tilt_0_0to20.mp4"]  # only the new clip
    assert "tilt_0_0to20.mp4" in {row["video"] for row in csv_rows(out / MAIN_CSV)}
