"""`probe_video` on mp4s read from their index alone (`openvid_hf.video.mp4_header`), checked against FFmpeg.

The reference is what FFmpeg reports once it has opened the file: PyAV's stream header (the probe's former
implementation, `avformat_find_stream_info` included) and torchcodec's metadata. `fps` and `seconds` are compared
exactly: FFmpeg and the reader compute the same rational number (frames x timescale / ticks, ticks / timescale) and
round it once to a double, so any difference would be a different rule, not rounding.
"""

from __future__ import annotations

import io
import random
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from sample_truth import member_bytes
from torchcodec.decoders import VideoDecoder

from openvid_hf.testing.sample_release import SampleClip, clip_frames, encode_h264
from openvid_hf.video.decoding import VideoDecodeError, VideoProbe, probe_video


def make_clip(width: int, height: int, num_frames: int, fps: int = 25) -> SampleClip:
    return SampleClip(f"{width}x{height}.mp4", "", width, height, fps, num_frames, 5, 5, 1, "static", False)


def frames_of(width: int = 320, height: int = 240, num_frames: int = 30) -> list[np.ndarray]:
    return list(clip_frames(make_clip(width, height, num_frames)))


def as_tuple(probe: VideoProbe) -> tuple:
    return (probe.width, probe.height, probe.num_frames, probe.fps, probe.seconds)


def ffmpeg_header(data: bytes) -> tuple:
    """What PyAV reports after opening the file (FFmpeg's header probe, which decodes a frame)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        seconds = float(stream.duration * stream.time_base)
        context = stream.codec_context
        return (context.width, context.height, stream.frames, float(stream.average_rate), seconds)


def torchcodec_header(data: bytes) -> tuple:
    metadata = VideoDecoder(data, seek_mode="approximate").metadata
    return (
        metadata.width,
        metadata.height,
        metadata.num_frames_from_header,
        metadata.average_fps_from_header,
        metadata.duration_seconds_from_header,
    )


def encode(
    path: Path,
    frames: list[np.ndarray],
    codec: str = "libx264",
    rate: int | Fraction = 25,
    container_options: dict | None = None,
    sample_aspect_ratio: Fraction | None = None,
    audio: bool = False,
) -> bytes:
    """Frames encoded with PyAV into a file (FFmpeg's faststart rewrites the file, so not into memory)."""
    with av.open(str(path), "w", options=container_options or {}) as container:
        audio_stream = container.add_stream("aac", rate=48000) if audio else None
        stream = container.add_stream(codec, rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        if sample_aspect_ratio:
            stream.codec_context.sample_aspect_ratio = sample_aspect_ratio
        for index, frame in enumerate(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            if audio_stream is not None:
                sound = av.AudioFrame.from_ndarray(np.zeros((1, 1920), np.float32), format="fltp", layout="mono")
                sound.sample_rate, sound.pts = 48000, index * 1920
                container.mux(audio_stream.encode(sound))
        container.mux(stream.encode())
        if audio_stream is not None:
            container.mux(audio_stream.encode())
    return path.read_bytes()


def remux(data: bytes, path: Path, container_options: dict | None = None) -> bytes:
    """The same packets in another container (the format follows `path`'s extension)."""
    with av.open(io.BytesIO(data)) as source, av.open(str(path), "w", options=container_options or {}) as target:
        stream = source.streams.video[0]
        output = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = output
                target.mux(packet)
    return path.read_bytes()


# An independent, minimal box walker, to craft files: 32-bit sizes, as FFmpeg writes small files.
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def box_at(data: bytes, path: str) -> tuple[int, int]:
    """`(start, end)` of the first box at `path` ("moov/trak/mdia"), header included."""
    start, end = 0, len(data)
    for name in path.split("/"):
        position = start
        while True:
            size, box_type = struct.unpack_from(">I4s", data, position)
            if box_type == name.encode():
                start, end = position, position + size
                break
            position += size
        if name != path.split("/")[-1]:
            start += 8
    return start, end


def replace_box(data: bytes, path: str, box: bytes) -> bytes:
    """`data` with the box at `path` replaced by `box`, its ancestors' sizes adjusted."""
    start, end = box_at(data, path)
    grown = len(box) - (end - start)
    result = bytearray(data[:start] + box + data[end:])
    parts = path.split("/")
    for depth in range(1, len(parts)):
        ancestor, _ = box_at(data, "/".join(parts[:depth]))
        (size,) = struct.unpack_from(">I", result, ancestor)
        struct.pack_into(">I", result, ancestor, size + grown)
    return bytes(result)


def full_box(box_type: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + 4 + len(payload), box_type) + b"\x00\x00\x00\x00" + payload


def sample_sizes(data: bytes) -> list[int]:
    start, _ = box_at(data, "moov/trak/mdia/minf/stbl/stsz")
    constant, count = struct.unpack_from(">II", data, start + 12)
    assert constant == 0
    return list(struct.unpack_from(f">{count}I", data, start + 20))


@pytest.fixture(scope="module")
def clip() -> bytes:
    """A clip as the sample release writes it: H.264 in mp4, `moov` after `mdat` (FFmpeg's default)."""
    return encode_h264(frames_of(), 25)


# Agreement with FFmpeg ------------------------------------------------------------------------------------


def test_the_sample_release_clips_probe_as_ffmpeg_and_the_plan_say(sample_release):
    data = member_bytes(sample_release)
    checked = set()
    for planned in sample_release.decodable_clips:
        probe = probe_video(data[planned.video], name=planned.video)
        assert as_tuple(probe) == ffmpeg_header(data[planned.video]) == torchcodec_header(data[planned.video])
        assert (probe.width, probe.height, probe.num_frames, probe.fps) == (
            planned.width,
            planned.height,
            planned.num_frames,
            planned.fps,
        )
        checked.add((planned.width, planned.height, planned.fps))
    assert {(width, height) for width, height, _ in checked} >= {(1920, 1080), (320, 240), (360, 640)}
    assert {fps for _, _, fps in checked} == {24, 25, 30}


@pytest.mark.parametrize("bframes", [0, 3])
@pytest.mark.parametrize(("width", "height", "fps"), [(426, 240, 24), (640, 360, 30), (1920, 1080, 25)])
def test_h264_clips_with_and_without_b_frames_probe_as_ffmpeg_says(width, height, fps, bframes):
    """B-frames add a composition offset table and an edit list that shifts the start: no effect on the header."""
    data = encode_h264(clip_frames(make_clip(width, height, 37, fps)), fps, gop=12, bframes=bframes)
    assert (b"ctts" in data) is bool(bframes)
    probe = probe_video(data)
    assert as_tuple(probe) == ffmpeg_header(data) == torchcodec_header(data)
    assert (probe.width, probe.height, probe.num_frames, probe.fps) == (width, height, 37, fps)


def test_a_benchmark_clip_probes_as_ffmpeg_says():
    """The build benchmark's clips: 640x360 noise at 24 fps, 3.5 MB for 24 frames."""
    rng = np.random.default_rng(0)
    data = encode_h264((rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(24)), 24)
    assert as_tuple(probe_video(data)) == ffmpeg_header(data) == torchcodec_header(data) == (640, 360, 24, 24.0, 1.0)


@pytest.mark.parametrize(
    ("codec", "entry"), [("libx265", b"hev1"), ("mpeg4", b"mp4v"), ("libvpx-vp9", b"vp09"), ("libsvtav1", b"av01")]
)
def test_other_codecs_sample_entries_probe_as_ffmpeg_says(codec, entry, tmp_path):
    data = encode(tmp_path / "clip.mp4", frames_of(num_frames=12), codec=codec)
    assert entry in data
    assert as_tuple(probe_video(data)) == ffmpeg_header(data) == torchcodec_header(data)


def test_ntsc_rate_mov_container_and_an_audio_track_first_probe_as_ffmpeg_says(tmp_path):
    ntsc = encode(tmp_path / "ntsc.mp4", frames_of(), rate=Fraction(30000, 1001))
    mov = encode(tmp_path / "clip.mov", frames_of())
    with_audio = encode(tmp_path / "audio.mp4", frames_of(), audio=True)
    for data in (ntsc, mov, with_audio):
        assert as_tuple(probe_video(data)) == ffmpeg_header(data) == torchcodec_header(data)
    assert probe_video(ntsc).fps == 30000 / 1001


def test_variable_frame_rate_gives_ffmpegs_average_rate(clip, tmp_path):
    """Frames 33, 40 or 50 ms apart: fps is frames over the summed sample durations, as FFmpeg's average rate."""
    source = tmp_path / "vfr.mp4"
    steps = [random.Random(index).choice([33, 40, 50]) for index in range(29)]
    with av.open(io.BytesIO(clip)) as container, av.open(str(source), "w") as target:
        stream = container.streams.video[0]
        output = target.add_stream_from_template(stream)
        output.time_base = Fraction(1, 1000)
        for index, packet in enumerate(packet for packet in container.demux(stream) if packet.dts is not None):
            packet.pts = packet.dts = sum(steps[:index])
            packet.time_base, packet.stream = Fraction(1, 1000), output
            target.mux(packet)
    data = source.read_bytes()
    probe = probe_video(data)
    assert as_tuple(probe) == ffmpeg_header(data)
    assert probe.fps != 25.0 and probe.num_frames == 30


def test_frame_size_is_the_coded_size_not_the_display_size(clip, tmp_path):
    """`stsd`'s size, not `tkhd`'s: FFmpeg's decoders output coded pictures, whatever the display should do."""
    # Pixels 4:3 wide (a `pasp` box), so the track's display width is 426.67 (FFmpeg 8 leaves it at 320: set here).
    anamorphic = bytearray(encode(tmp_path / "sar.mp4", frames_of(), sample_aspect_ratio=Fraction(4, 3)))
    tkhd, _ = box_at(anamorphic, "moov/trak/tkhd")
    struct.pack_into(">I", anamorphic, tkhd + 84, round(320 * 4 / 3 * 65536))
    anamorphic = bytes(anamorphic)
    assert b"pasp" in anamorphic
    assert as_tuple(probe_video(anamorphic)) == ffmpeg_header(anamorphic) == torchcodec_header(anamorphic)
    assert (probe_video(anamorphic).width, probe_video(anamorphic).height) == (320, 240)

    # A display matrix turning the picture 90 degrees: PyAV (and decord) decode 320x240 pictures; torchcodec
    # applies the rotation, reports 240x320 and returns rotated frames. The probe keeps the stored size.
    rotated = bytearray(clip)
    tkhd, _ = box_at(clip, "moov/trak/tkhd")
    struct.pack_into(">9i", rotated, tkhd + 48, 0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30)
    rotated = bytes(rotated)
    assert as_tuple(probe_video(rotated)) == ffmpeg_header(rotated)
    assert (probe_video(rotated).width, probe_video(rotated).height) == (320, 240)
    decoder = VideoDecoder(rotated)
    assert (decoder.metadata.rotation, decoder.metadata.width, decoder.metadata.height) == (-90.0, 240, 320)


# Layouts of the boxes ------------------------------------------------------------------------------------


class RecordingFile(io.BytesIO):
    """A file that records the byte ranges read from it."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.ranges: list[tuple[int, int]] = []

    def read(self, size: int | None = -1) -> bytes:
        start = self.tell()
        data = super().read(size)
        self.ranges.append((start, start + len(data)))
        return data


@pytest.mark.parametrize("faststart", [False, True], ids=["moov_at_end", "faststart"])
def test_only_box_headers_and_moov_are_read_wherever_moov_is(clip, faststart, tmp_path):
    data = remux(clip, tmp_path / "clip.mp4", {"movflags": "faststart"}) if faststart else clip
    moov_start, moov_end = box_at(data, "moov")
    mdat_start, mdat_end = box_at(data, "mdat")
    assert (moov_start < mdat_start) is faststart
    file = RecordingFile(data)
    file.seek(0)
    assert as_tuple(probe_video(file)) == as_tuple(probe_video(clip)) == ffmpeg_header(data)
    assert file.tell() == 0, "the file object is left where it was given"
    for start, end in file.ranges:
        assert end <= mdat_start + 8 or start >= mdat_end, f"read bytes {start}-{end} of the media data"
    assert sum(end - start for start, end in file.ranges) < (moov_end - moov_start) + 100


def test_64_bit_box_sizes_and_a_last_box_of_size_0(clip):
    """FFmpeg writes `free` before `mdat` so that `mdat` can take a 64-bit size in place; so do we, and `moov` too."""
    free_start, free_end = box_at(clip, "free")
    mdat_start, mdat_end = box_at(clip, "mdat")
    moov_start, moov_end = box_at(clip, "moov")
    assert free_end == mdat_start and moov_end == len(clip)
    large_mdat = struct.pack(">I4sQ", 1, b"mdat", mdat_end - free_start)
    large_moov = struct.pack(">I4sQ", 1, b"moov", moov_end - moov_start + 8)
    large = clip[:free_start] + large_mdat + clip[mdat_start + 8 : moov_start] + large_moov + clip[moov_start + 8 :]
    size_0 = clip[:moov_start] + struct.pack(">I", 0) + clip[moov_start + 4 :]
    for data in (large, size_0):
        assert as_tuple(probe_video(data)) == as_tuple(probe_video(clip)) == ffmpeg_header(data)


def test_compact_sample_sizes_and_64_bit_chunk_offsets(clip):
    """`stz2` (16-bit sample sizes) for `stsz` and `co64` for `stco`, which FFmpeg reads as well."""
    sizes = sample_sizes(clip)
    stz2 = full_box(b"stz2", struct.pack(">3xBI", 16, len(sizes)) + struct.pack(f">{len(sizes)}H", *sizes))
    compact = replace_box(clip, "moov/trak/mdia/minf/stbl/stsz", stz2)
    stco, _ = box_at(clip, "moov/trak/mdia/minf/stbl/stco")
    (chunks,) = struct.unpack_from(">I", clip, stco + 12)
    offsets = struct.unpack_from(f">{chunks}I", clip, stco + 16)
    co64 = full_box(b"co64", struct.pack(">I", chunks) + struct.pack(f">{chunks}Q", *offsets))
    wide = replace_box(clip, "moov/trak/mdia/minf/stbl/stco", co64)
    for data in (compact, wide):
        assert as_tuple(probe_video(data)) == as_tuple(probe_video(clip)) == ffmpeg_header(data)


@pytest.mark.parametrize("bits", [4, 8])
def test_samples_must_end_within_the_file_to_the_byte(clip, bits):
    """The last chunk's end: its offset plus its samples' sizes, here 4- or 8-bit `stz2` fields and 5-sample chunks."""
    count = len(sample_sizes(clip))
    sizes = [index % 15 + 1 for index in range(count)]
    if bits == 4:
        table = bytes((high << 4) | low for high, low in zip(sizes[0::2], [*sizes[1::2], 0], strict=False))
    else:
        table = bytes(sizes)
    stbl = "moov/trak/mdia/minf/stbl"
    data = replace_box(clip, f"{stbl}/stsz", full_box(b"stz2", struct.pack(">3xBI", bits, count) + table))
    data = replace_box(data, f"{stbl}/stsc", full_box(b"stsc", struct.pack(">4I", 1, 1, 5, 1)))
    chunks = -(-count // 5)
    last_chunk_bytes = sum(sizes[count - 5 :])

    def with_last_offset(offset: int) -> bytes:
        offsets = [0] * (chunks - 1) + [offset]
        stco = full_box(b"stco", struct.pack(f">{chunks + 1}I", chunks, *offsets))
        return replace_box(data, f"{stbl}/stco", stco)

    file_size = len(with_last_offset(0))
    assert probe_video(with_last_offset(file_size - last_chunk_bytes)).num_frames == count
    with pytest.raises(VideoDecodeError, match=rf"end at byte {file_size + 1}, past the end of the file"):
        probe_video(with_last_offset(file_size - last_chunk_bytes + 1), name="clip.mp4")


# Broken files ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("faststart", [False, True], ids=["moov_at_end", "faststart"])
def test_truncated_files_are_undecodable(clip, faststart, tmp_path):
    """Cut inside every box and at the box boundaries, the file end of a faststart file included."""
    data = remux(clip, tmp_path / "clip.mp4", {"movflags": "faststart"}) if faststart else clip
    boxes = [box_at(data, name) for name in ("ftyp", "moov", "mdat")]
    cuts = {4, len(data) - 1}
    for start, end in boxes:
        cuts |= {start + 8, (start + end) // 2, end}
    cuts.discard(len(data))
    for cut in sorted(cuts):
        with pytest.raises(VideoDecodeError, match=r"^bad\.mp4: cannot (open|read)") as error:
            probe_video(data[:cut], name="bad.mp4")
        if cut > 8:
            assert "truncated" in str(error.value)


def test_garbage_is_undecodable(clip):
    moov_start, moov_end = box_at(clip, "moov")
    cases = {
        # The sample release's undecodable member: an ftyp box, then noise.
        "noise after ftyp": b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00" + random.Random(1).randbytes(4096),
        "noise in moov": clip[: moov_start + 8] + random.Random(2).randbytes(moov_end - moov_start - 8),
        "box smaller than its header": clip[:moov_start] + struct.pack(">I", 4) + clip[moov_start + 4 :],
        "noise": random.Random(3).randbytes(4096),
        "empty": b"",
    }
    for data in cases.values():
        with pytest.raises(VideoDecodeError, match=r"^bad\.mp4: cannot (open|read)"):
            probe_video(data, name="bad.mp4")
    with pytest.raises(VideoDecodeError, match=r"'moov' has an impossible size of 4 bytes"):
        probe_video(cases["box smaller than its header"], name="bad.mp4")


def test_an_mp4_without_a_video_track(tmp_path):
    path = tmp_path / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        for index in range(10):
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            sound.sample_rate, sound.pts = 48000, index * 1024
            container.mux(stream.encode(sound))
        container.mux(stream.encode())
    with pytest.raises(VideoDecodeError, match=r"^audio\.mp4: cannot read the mp4 header \(no video track"):
        probe_video(path.read_bytes(), name="audio.mp4")


def test_sample_tables_that_disagree_are_undecodable(clip):
    stts = full_box(b"stts", struct.pack(">III", 1, 29, 512))
    data = replace_box(clip, "moov/trak/mdia/minf/stbl/stts", stts)
    with pytest.raises(VideoDecodeError, match=r"stts gives durations to 29 samples, but stsz holds 30"):
        probe_video(data, name="bad.mp4")


# Paths, file objects, and what FFmpeg reads instead ---------------------------------------------------------


def test_paths_and_file_objects(clip, tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    expected = as_tuple(probe_video(clip))
    assert as_tuple(probe_video(path)) == as_tuple(probe_video(str(path))) == expected
    with open(path, "rb") as file:
        assert as_tuple(probe_video(file)) == expected
        assert file.tell() == 0
    with pytest.raises(VideoDecodeError, match=r"missing\.mp4: cannot open the video stream"):
        probe_video(tmp_path / "missing.mp4")


@pytest.mark.parametrize(
    ("name", "container_options"),
    [("clip.mkv", None), ("clip.webm", None), ("fragmented.mp4", {"movflags": "frag_keyframe+empty_moov"})],
)
def test_other_containers_and_fragmented_mp4s_are_probed_by_ffmpeg(name, container_options, tmp_path):
    """No frame count in these headers: FFmpeg's probe counts the packets (demuxed, not decoded)."""
    if name.endswith(".webm"):
        data = encode(tmp_path / name, frames_of(), codec="libvpx-vp9")
    else:
        data = remux(encode_h264(frames_of(), 25), tmp_path / name, container_options)
    if container_options:
        assert b"mvex" in data and b"moof" in data
    probe = probe_video(data)
    decoder = VideoDecoder(data, seek_mode="exact")
    assert (probe.width, probe.height, probe.num_frames) == (320, 240, len(decoder)) == (320, 240, 30)
    assert (probe.fps, probe.seconds) == (25.0, 1.2)
