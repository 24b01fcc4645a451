"""Frame sampling, decoding and the training transform, on real H.264 clips whose frames carry their index."""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import subprocess
import sys
import textwrap

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from openvid_hf.errors import UsageError
from openvid_hf.testing.sample_release import SampleClip, clip_frames, encode_h264, read_frame_index
from openvid_hf.video.clips import (
    ClipLoader,
    ClipTooShortError,
    ClipTransform,
    FrameSampler,
    cover_scale,
    sample_rng,
)
from openvid_hf.video.decoding import VIDEO_BACKENDS, VideoDecodeError, open_video, probe_video, read_frames

# decord 0.6 can hang in native code; the thread method still ends the run where a signal could not.
decord_timeout = pytest.mark.timeout(120, method="thread")
backends = pytest.mark.parametrize(
    "backend", [pytest.param(name, marks=decord_timeout) if name == "decord" else name for name in VIDEO_BACKENDS]
)


def make_clip(width: int, height: int, num_frames: int, fps: int = 25) -> SampleClip:
    return SampleClip(
        f"{width}x{height}_{num_frames}.mp4", "", width, height, fps, num_frames, 5, 5, 1, "static", False
    )


def full_decode(data: bytes) -> np.ndarray:
    """The reference: every frame, in presentation order, decoded by PyAV to RGB24 (the original's way)."""
    with av.open(io.BytesIO(data)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def as_hwc(frames: torch.Tensor) -> np.ndarray:
    return frames.permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def clips() -> dict[str, bytes]:
    """Real clips: a keyframe every 12 frames without and with B-frames, and a short 1080p one."""
    small = make_clip(320, 240, 75)
    hd = make_clip(1920, 1080, 14, fps=30)
    return {
        "gop12": encode_h264(clip_frames(small), small.fps, gop=12),
        "gop12_bframes": encode_h264(clip_frames(small), small.fps, gop=12, bframes=3),
        "1080p": encode_h264(clip_frames(hd), hd.fps, gop=5),
    }


@pytest.fixture(scope="module")
def references(clips) -> dict[str, np.ndarray]:
    return {name: full_decode(data) for name, data in clips.items()}


def test_the_b_frame_clip_stores_frames_out_of_presentation_order(clips):
    for name, reordered in (("gop12", False), ("gop12_bframes", True)):
        with av.open(io.BytesIO(clips[name])) as container:
            pts = [packet.pts for packet in container.demux(video=0) if packet.size]
        assert (pts != sorted(pts)) is reordered


# Frame sampling ---------------------------------------------------------------------------------------


def original_indices(total_frames: int, num_frames: int, frame_interval: int, rng: random.Random) -> list[int]:
    """The original loader's sampling (`TemporalRandomCrop`, then `np.linspace(..., dtype=int)`)."""
    size = num_frames * frame_interval
    begin = rng.randint(0, max(0, total_frames - size - 1))
    end = min(begin + size, total_frames)
    return np.linspace(begin, end - 1, num_frames, dtype=int).tolist()


@pytest.mark.parametrize("total_frames", [16, 30, 48, 49, 50, 100, 301])
@pytest.mark.parametrize(("num_frames", "frame_interval"), [(16, 3), (16, 1), (8, 5)])
def test_sampler_draws_what_the_original_draws(total_frames, num_frames, frame_interval):
    if total_frames < num_frames:
        pytest.skip("shorter than a clip")
    sampler = FrameSampler(num_frames, frame_interval)
    for seed in range(200):
        expected = original_indices(total_frames, num_frames, frame_interval, random.Random(seed))
        assert sampler(total_frames, random.Random(seed)) == expected


def test_sampler_window_bounds_and_spacing_on_a_long_clip():
    sampler = FrameSampler(16, 3)
    starts = set()
    for seed in range(3000):
        indices = sampler(100, random.Random(seed))
        starts.add(indices[0])
        # The window is 48 frames: its first and last frame are both kept, steps are 3 or 4 (47 / 15).
        assert indices[-1] == indices[0] + 47
        assert {b - a for a, b in itertools.pairwise(indices)} <= {3, 4}
    # Every start the original allows, and none it does not (it never reaches frame 99).
    assert starts == set(range(0, 100 - 48))


def test_sampler_uses_the_whole_of_a_short_clip():
    sampler = FrameSampler(16, 3)
    for total_frames in (16, 17, 30, 48):
        for seed in range(20):
            indices = sampler(total_frames, random.Random(seed))
            assert indices[0] == 0 and indices[-1] == total_frames - 1
            assert len(set(indices)) == 16
    assert sampler(16, random.Random(0)) == list(range(16))


def test_sampler_rejects_a_clip_shorter_than_num_frames():
    with pytest.raises(ClipTooShortError, match=r"short\.mp4: 15 frames, fewer than the 16"):
        FrameSampler(16, 3)(15, random.Random(0), name="short.mp4")


@pytest.mark.parametrize(("arguments", "name"), [((0, 3), "num_frames"), ((16, 0), "frame_interval")])
def test_sampler_rejects_bad_arguments(arguments, name):
    with pytest.raises(UsageError, match=name):
        FrameSampler(*arguments)


def test_sample_rng_is_a_pure_function_of_seed_epoch_and_key():
    draws = [sample_rng(7, 2, "000000042").random() for _ in range(2)]
    assert draws[0] == draws[1]
    others = {sample_rng(8, 2, "000000042").random(), sample_rng(7, 3, "000000042").random()}
    others.add(sample_rng(7, 2, "000000043").random())
    assert draws[0] not in others and len(others) == 3
    # Independent of the process (no use of `hash`): a fresh interpreter with another hash seed agrees.
    code = "from openvid_hf.video.clips import sample_rng; print(repr(sample_rng(7, 2, '000000042').random()))"
    environment = {**os.environ, "PYTHONHASHSEED": "123"}
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=environment)
    assert float(output.stdout) == draws[0]


# Decoding ------------------------------------------------------------------------------------------------

INDEX_SETS = {
    "window across keyframes": list(range(20, 68, 3)),
    "start": list(range(16)),
    "end, last frame included": list(range(59, 75)),
    "unsorted with repeats": [50, 3, 3, 74, 12, 0, 50],
    "single": [37],
}


@backends
@pytest.mark.parametrize("clip", ["gop12", "gop12_bframes"])
def test_backend_frames_equal_the_full_decode(backend, clip, clips, references):
    with open_video(clips[clip], backend) as video:
        assert video.num_frames == len(references[clip]) == 75
        for indices in INDEX_SETS.values():
            frames = video.read(indices)
            assert frames.dtype == torch.uint8 and frames.shape == (len(indices), 3, 240, 320)
            assert [read_frame_index(frame) for frame in as_hwc(frames)] == indices
            np.testing.assert_array_equal(as_hwc(frames), references[clip][indices])


@backends
def test_backend_frames_equal_the_full_decode_at_1080p(backend, clips, references):
    indices = [0, 4, 5, 9, 13]
    frames = read_frames(clips["1080p"], indices, backend)
    assert [read_frame_index(frame) for frame in as_hwc(frames)] == indices
    np.testing.assert_array_equal(as_hwc(frames), references["1080p"][indices])


@backends
def test_backends_read_bytes_paths_and_file_objects(backend, clips, references, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(clips["gop12"])
    indices = [10, 40]
    with open(path, "rb") as handle:
        for source in (clips["gop12"], path, str(path), handle):
            frames = read_frames(source, indices, backend)
            np.testing.assert_array_equal(as_hwc(frames), references["gop12"][indices])


def corrupt_packets(data: bytes, first: int, last: int) -> bytes:
    """Zero the NAL payloads of the packets of frames `first..last` (decode order), keeping the container."""
    corrupted = bytearray(data)
    with av.open(io.BytesIO(data)) as container:
        packets = [(packet.pos, packet.size) for packet in container.demux(video=0) if packet.size]
    for position, size in packets[first : last + 1]:
        corrupted[position + 4 : position + size] = bytes(size - 4)
    return bytes(corrupted)


@backends
def test_backends_seek_instead_of_decoding_from_the_start(backend, clips, references):
    """With the first GOP destroyed a full decode fails, yet a later window reads back exactly."""
    damaged = corrupt_packets(clips["gop12"], 1, 10)
    with pytest.raises(av.FFmpegError):
        full_decode(damaged)
    indices = list(range(30, 60, 2))
    np.testing.assert_array_equal(as_hwc(read_frames(damaged, indices, backend)), references["gop12"][indices])


def broken_inputs(good: bytes) -> dict[str, bytes]:
    """Undecodable variants of a good clip (its `moov` index is at the end, after the `mdat` payload)."""
    payload_start, payload_end = good.find(b"mdat") + 4, good.rfind(b"moov") - 4
    scrambled = random.Random(0).randbytes(payload_end - payload_start)
    return {
        "garbage": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + random.Random(1).randbytes(4096),
        "empty": b"",
        "truncated": good[: len(good) // 2],
        "scrambled packets": good[:payload_start] + scrambled + good[payload_end:],
    }


BROKEN_KINDS = ("garbage", "empty", "truncated", "scrambled packets")


@pytest.mark.parametrize("backend", ["torchcodec", "pyav"])
@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_broken_input_raises_video_decode_error(backend, kind, clips):
    data = broken_inputs(clips["gop12"])[kind]
    with pytest.raises(VideoDecodeError, match=r"^bad\.mp4: cannot (open|decode)"):
        read_frames(data, range(0, 48, 3), backend, name="bad.mp4")


@decord_timeout
def test_broken_input_raises_video_decode_error_with_decord(clips, tmp_path):
    """decord on broken files runs in a child process: a native hang there cannot take the tests down."""
    for kind, data in broken_inputs(clips["gop12"]).items():
        (tmp_path / f"{kind}.mp4").write_bytes(data)
    script = textwrap.dedent(
        f"""
        import json, pathlib
        from openvid_hf.video.decoding import VideoDecodeError, read_frames
        outcomes = {{}}
        for path in sorted(pathlib.Path({str(tmp_path)!r}).glob("*.mp4")):
            try:
                read_frames(path, range(0, 48, 3), "decord", name="bad.mp4")
                outcomes[path.stem] = "decoded"
            except VideoDecodeError as error:
                outcomes[path.stem] = str(error)
        print(json.dumps(outcomes))
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=90)
    assert completed.returncode == 0, completed.stderr
    outcomes = json.loads(completed.stdout.splitlines()[-1])
    assert sorted(outcomes) == sorted(BROKEN_KINDS)
    for message in outcomes.values():
        assert message.startswith("bad.mp4: cannot "), outcomes


def test_reader_checks_indices_and_backend_names(clips):
    with open_video(clips["gop12"], name="clip.mp4") as video:
        with pytest.raises(IndexError, match=r"clip\.mp4: frame indices \[75\] are outside the video \(75 frames\)"):
            video.read([3, 75])
        with pytest.raises(ValueError, match="no frame indices"):
            video.read([])
    with pytest.raises(UsageError, match="backend must be one of torchcodec, decord, pyav"):
        open_video(clips["gop12"], backend="opencv")


def test_probe_video_still_reads_the_header_only(clips):
    probe = probe_video(clips["gop12"], name="clip.mp4")
    assert (probe.width, probe.height, probe.num_frames, probe.fps) == (320, 240, 75, 25.0)
    with pytest.raises(VideoDecodeError, match=r"^bad\.mp4: cannot open the video stream \(.+\)$"):
        probe_video(b"not a video", name="bad.mp4")


# The training transform ------------------------------------------------------------------------------------


def original_transform(frames: torch.Tensor, size: int, flip: bool) -> torch.Tensor:
    """The original's `ToTensorVideo`, `RandomHorizontalFlipVideo`, `UCFCenterCropVideo`, `Normalize`."""
    clip = frames.float() / 255.0
    if flip:
        clip = clip.flip(-1)
    height, width = clip.shape[-2:]
    clip = F.interpolate(clip, scale_factor=size / min(height, width), mode="bilinear", align_corners=False)
    height, width = clip.shape[-2:]
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    clip = clip[..., top : top + size, left : left + size]
    return ((clip - 0.5) / 0.5).permute(1, 0, 2, 3)


def decoded_frames(width: int, height: int) -> torch.Tensor:
    clip = make_clip(width, height, 4)
    return read_frames(encode_h264(clip_frames(clip), clip.fps), range(4))


ONE_LEVEL = 2 / 255 + 1e-6  # one uint8 step, in [-1, 1]


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (640, 360), (360, 640), (426, 240), (320, 320)])
def test_transform_matches_the_original_within_one_uint8_level(width, height):
    frames = decoded_frames(width, height)
    ours = ClipTransform(256, flip_probability=0.0)(frames, random.Random(0))
    reference = original_transform(frames, 256, flip=False)
    assert ours.shape == (3, 4, 256, 256) and ours.dtype == torch.float32 and ours.is_contiguous()
    assert (ours - reference).abs().max() <= ONE_LEVEL
    assert ours.min() >= -1.0 and ours.max() <= 1.0


def test_flip_mirrors_the_clip_with_the_given_probability():
    frames = decoded_frames(480, 270)
    upright = ClipTransform(128, flip_probability=0.0)(frames, random.Random(0))
    mirrored = ClipTransform(128, flip_probability=1.0)(frames, random.Random(0))
    assert torch.equal(mirrored, upright.flip(-1))
    assert not torch.equal(mirrored, upright)
    noise = torch.randint(0, 256, (1, 3, 16, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    unflipped = ClipTransform(16, flip_probability=0.0)(noise, random.Random(0))
    flips = sum(not torch.equal(ClipTransform(16)(noise, random.Random(seed)), unflipped) for seed in range(400))
    assert 150 < flips < 250


def test_non_square_size_covers_then_crops_the_centre():
    frames = decoded_frames(1920, 1080)
    wide = ClipTransform((256, 448), flip_probability=0.0)(frames, random.Random(0))
    widest = ClipTransform((256, 455), flip_probability=0.0)(frames, random.Random(0))
    assert wide.shape == (3, 4, 256, 448)
    # Both scale 1080 -> 256 (455 columns); 448 of them are the centre, offset round(7 / 2) == 4.
    assert torch.equal(wide, widest[..., 4:452])
    tall = ClipTransform((448, 256), flip_probability=0.0)(frames, random.Random(0))
    assert tall.shape == (3, 4, 448, 256)


def test_cover_scale_never_leaves_the_output_a_pixel_short():
    # floor(322 * (256 / 322)) == 255 in floating point: the original then squashed the whole frame.
    assert int(322 * (256 / 322)) == 255
    scale = cover_scale((322, 500), (256, 256))
    assert int(322 * scale) == 256 and scale - 256 / 322 < 1e-15
    frames = torch.zeros(2, 3, 322, 500, dtype=torch.uint8)
    assert ClipTransform(256)(frames, random.Random(0)).shape == (3, 2, 256, 256)


def test_antialias_is_off_by_default_like_the_original():
    frames = decoded_frames(1920, 1080)
    default = ClipTransform(256, flip_probability=0.0)(frames, random.Random(0))
    smoothed = ClipTransform(256, flip_probability=0.0, antialias=True)(frames, random.Random(0))
    reference = original_transform(frames, 256, flip=False)
    assert (smoothed - reference).abs().max() > 10 * ONE_LEVEL >= (default - reference).abs().max()


@pytest.mark.parametrize(
    ("arguments", "name"), [({"size": 0}, "size"), ({"size": (1, 2, 3)}, "size"), ({"flip_probability": 2}, "flip")]
)
def test_transform_rejects_bad_arguments(arguments, name):
    with pytest.raises(UsageError, match=name):
        ClipTransform(**arguments)


def test_transform_rejects_frames_that_are_not_uint8_rgb():
    with pytest.raises(ValueError, match="uint8 RGB"):
        ClipTransform(16)(torch.zeros(2, 3, 32, 32), random.Random(0))


# The clip loader ---------------------------------------------------------------------------------------------


def test_clip_loader_is_sampler_then_decode_then_transform(clips):
    loader = ClipLoader(FrameSampler(8, 3), ClipTransform(64))
    for seed in range(3):
        expected_rng = random.Random(seed)
        indices = loader.sampler(75, expected_rng)
        expected = loader.transform(read_frames(clips["gop12_bframes"], indices), expected_rng)
        assert torch.equal(loader(clips["gop12_bframes"], random.Random(seed)), expected)


@backends
def test_clip_loader_gives_the_same_clip_with_every_backend(backend, clips):
    loader = ClipLoader(FrameSampler(16, 3), ClipTransform(96), backend=backend)
    reference = ClipLoader(FrameSampler(16, 3), ClipTransform(96))
    for key in ("000000001", "000000002"):
        clip = loader(clips["gop12_bframes"], sample_rng(0, 1, key))
        assert clip.shape == (3, 16, 96, 96)
        assert torch.equal(clip, reference(clips["gop12_bframes"], sample_rng(0, 1, key)))


def test_clip_loader_reports_short_and_undecodable_clips(clips):
    short = make_clip(320, 240, 10)
    loader = ClipLoader()
    with pytest.raises(ClipTooShortError, match=r"^short\.mp4: 10 frames"):
        loader(encode_h264(clip_frames(short), short.fps), random.Random(0), name="short.mp4")
    with pytest.raises(VideoDecodeError, match=r"^bad\.mp4: "):
        loader(b"\x00" * 100, random.Random(0), name="bad.mp4")
    with pytest.raises(UsageError, match="backend"):
        ClipLoader(backend="cv2")
