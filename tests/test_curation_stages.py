"""The curation's weight-free stages on videos written with known properties: cuts at known frames, known camera
moves and speeds, known blur; and the thresholds that decide what is kept."""

from __future__ import annotations

import numpy as np
import pytest

from openvid_hf.curation.clarity import clarity_of
from openvid_hf.curation.filters import Thresholds, drop_reason
from openvid_hf.curation.motion import motion_of
from openvid_hf.curation.scenes import SceneOptions, detect_scenes, split_video
from openvid_hf.errors import UsageError
from openvid_hf.testing.synthetic_videos import MOVES, blurred, camera_frames, write_shots, write_video
from openvid_hf.video.decoding import VideoDecodeError, read_frames

#: Three shots: hard cuts at frames 30 and 55; keyframes every 30 frames (0, 30, 60).
SHOTS = [30, 25, 25]


def frames_of(path, count) -> np.ndarray:
    return read_frames(path, range(count), backend="pyav").numpy().astype(np.int16)


def test_cuts_are_found_at_the_exact_frames(tmp_path):
    video = write_shots(tmp_path / "shots.mp4", SHOTS, gop=30)
    assert detect_scenes(video) == [(0, 30), (30, 55), (55, 80)]


def test_scenes_are_copied_where_keyframes_allow_and_reencoded_otherwise(tmp_path):
    video = write_shots(tmp_path / "shots.mp4", SHOTS, gop=30)
    rows = split_video(video, "shots.mp4", tmp_path, SceneOptions())
    assert [(row["start_frame"], row["end_frame"], row["cut"]) for row in rows] == [
        (0, 30, "copy"),  # keyframe to keyframe
        (30, 55, "copy"),  # starts on a keyframe; no B-frames, so nothing refers past frame 54
        (55, 80, "reencode"),  # frame 55 is not a keyframe
    ]
    source = frames_of(video, sum(SHOTS))
    for row in rows:
        clip = frames_of(tmp_path / row["clip"], row["num_frames"])
        assert row["num_frames"] == row["end_frame"] - row["start_frame"]
        error = np.abs(clip - source[row["start_frame"] : row["end_frame"]]).mean()
        # A copy holds the original bytes; a re-encoded clip the same frames within compression error.
        assert error == 0 if row["cut"] == "copy" else 0 < error < 6, row


def test_a_scene_ending_inside_a_gop_with_b_frames_is_reencoded(tmp_path):
    from openvid_hf.testing.sample_release import encode_h264

    def frames():
        for shot, count in enumerate(SHOTS):
            yield from camera_frames("pan_right", count, speed=1.0, seed=100 + shot)

    video = tmp_path / "bframes.mp4"
    video.write_bytes(encode_h264(frames(), 25, gop=30, bframes=2))
    rows = split_video(video, "bframes.mp4", tmp_path, SceneOptions())
    assert [row["cut"] for row in rows] == ["copy", "reencode", "reencode"]
    # The copied scene ends on a keyframe, so its B-frames refer to nothing it left out.
    assert np.array_equal(frames_of(tmp_path / rows[0]["clip"], 30), frames_of(video, 30))


def test_an_undecodable_video_is_one_clear_error(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(2000))
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        split_video(broken, "broken.mp4", tmp_path, SceneOptions())


@pytest.fixture(scope="module")
def moves(tmp_path_factory):
    folder = tmp_path_factory.mktemp("moves")
    return {move: write_video(folder / f"{move}.mp4", camera_frames(move, 24, speed=2.0, seed=1)) for move in MOVES}


@pytest.mark.parametrize("algorithm", ["farneback", "dis"])
@pytest.mark.parametrize("move", MOVES)
def test_camera_motion_class_of_known_moves(moves, move, algorithm):
    assert motion_of(moves[move], algorithm)["camera_motion"] == move


def test_motion_score_grows_with_the_pan_speed(tmp_path):
    scores = [
        motion_of(write_video(tmp_path / f"{speed}.mp4", camera_frames("pan_left", 16, speed=speed, seed=2)))[
            "motion_score"
        ]
        for speed in (1.0, 2.0, 4.0)
    ]
    # Pixels a frame at the analysis size (shorter side 256, the video's 120 scaled by 256/120).
    assert scores == pytest.approx([256 / 120 * speed for speed in (1.0, 2.0, 4.0)], rel=0.1)


def test_subject_motion_on_a_still_background_is_undetermined(tmp_path):
    def frames():
        rng = np.random.default_rng(0)
        for _ in range(16):  # every frame a new random texture: no global motion explains the flow
            yield (rng.uniform(0, 255, (120, 160, 3))).astype(np.uint8)

    assert motion_of(write_video(tmp_path / "noise.mp4", frames()))["camera_motion"] == "Undetermined"


def test_clarity_orders_sharp_above_blurred(tmp_path):
    scores = [
        clarity_of(write_video(tmp_path / f"{sigma}.mp4", blurred(camera_frames("pan_right", 12, seed=3), sigma)))[
            "clarity_score"
        ]
        for sigma in (0, 1, 2, 4)
    ]
    assert scores == sorted(scores, reverse=True) and scores[0] > 10 * scores[-1]


def test_thresholds_parse_over_the_defaults():
    thresholds = Thresholds.parse("min_motion_score=1.5, max-motion-score=none")
    assert thresholds.min_motion_score == 1.5 and thresholds.max_motion_score is None
    assert thresholds.min_clarity_score == Thresholds().min_clarity_score
    for bad in ("nope=1", "min_motion_score", "min_motion_score=fast", "min_motion_score=nan"):
        with pytest.raises(UsageError, match="--thresholds"):
            Thresholds.parse(bad)


def test_every_drop_names_the_first_failed_threshold_and_its_score():
    thresholds = Thresholds(min_seconds=1.0, min_motion_score=0.5, min_clarity_score=50.0)
    row = {"clip": "a.mp4", "seconds": 2.0, "motion_score": 0.1, "clarity_score": 10.0}
    drop = drop_reason(row, thresholds)
    assert (drop.reason, drop.score, drop.bound) == ("low_motion", 0.1, 0.5)
    assert "low_motion" in drop.line() and "a.mp4" in drop.line()
    # A score its stage did not compute never drops the clip.
    assert drop_reason({"clip": "b.mp4", "seconds": 2.0}, thresholds) is None
    assert drop_reason({**row, "motion_score": 3.0, "clarity_score": 80.0}, thresholds) is None
