"""The video track of an ISO base media file (mp4, mov), read from its box headers and its `moov` box alone.

`decoding.probe_video` reads OpenVid's mp4s with this instead of FFmpeg, whose `avformat_find_stream_info`
decodes a frame of every file it opens: about as much CPU as hashing the file, for numbers the index already holds.
Here only the top-level box headers and the `moov` box (the index) are read, wherever `moov` is: before the media
data (a "faststart" file) or after it (what muxers write by default). No sample byte is read.

What is read, chosen to agree with what FFmpeg (PyAV, torchcodec) reports for the same file (`docs/video.md`):

- the track: the first `trak` whose `mdia/hdlr` handler is `vide`, FFmpeg's first video stream;
- `width`, `height`: the visual sample entry of `stsd` (the coded picture size, which decoders output), not `tkhd`
  (the display size: pixel aspect ratio applied, and a rotation matrix beside it);
- `num_frames`: the sample count of `stsz` (or `stz2`), which must equal the samples `stts` gives durations to;
- `fps`: samples per second of summed `stts` durations in `mdhd`'s timescale, FFmpeg's average frame rate;
- `seconds`: the smaller of `mdhd`'s duration and the summed `stts` durations, FFmpeg's stream duration.

A file whose `moov` does not hold its samples (a fragmented mp4: `mvex`, samples in `moof` boxes) or is compressed
(`cmov`) gives None, like a file that is not ISO-BMFF at all: the caller asks FFmpeg instead. A broken file raises
`Mp4HeaderError`: a box that runs past the end of the file or of its parent box, no `moov`, an index that
contradicts itself, or samples that lie past the end of the file (a truncated faststart file).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_BOX_HEADER = struct.Struct(">I4s")
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_U16_PAIR = struct.Struct(">HH")
_U32_PAIR = struct.Struct(">II")
#: `stz2` after its version and flags: 3 reserved bytes, the field size in bits, the sample count.
_STZ2_HEADER = struct.Struct(">3xBI")
#: Box types an ISO-BMFF or QuickTime file starts with; a file that starts otherwise is not one.
_FIRST_BOX_TYPES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid", b"pdin", b"sidx", b"junk"}
)
#: `moov` children that put samples or the index out of this reader's reach: fragments, a compressed `moov`.
_NOT_AN_INDEX = (b"mvex", b"cmov")
#: Bytes of a VisualSampleEntry before its width: reserved 6, data_reference_index 2, pre_defined and reserved 16.
_VISUAL_ENTRY_SIZE_AT = 24


class Mp4HeaderError(Exception):
    """An ISO-BMFF file whose boxes or sample index are broken: truncated, corrupt, or contradicting themselves."""


@dataclass(frozen=True)
class Mp4VideoTrack:
    """The first video track's frame size, frame count and timing, in the units of its media header."""

    width: int
    height: int
    num_frames: int
    timescale: int
    #: Ticks of all samples' `stts` durations.
    sample_ticks: int
    #: Ticks of the track: the smaller of `mdhd`'s duration and `sample_ticks` (as FFmpeg's stream duration).
    duration_ticks: int

    @property
    def fps(self) -> float:
        return self.timescale * self.num_frames / self.sample_ticks if self.sample_ticks else 0.0

    @property
    def seconds(self) -> float:
        return self.duration_ticks / self.timescale if self.timescale else 0.0


def read_video_track(source: bytes | memoryview | BinaryIO) -> Mp4VideoTrack | None:
    """The first video track of an ISO-BMFF file (bytes, or a seekable binary file at its start).

    None when the file is not ISO-BMFF, or its samples are not indexed in `moov` (fragmented, compressed `moov`).
    Raises `Mp4HeaderError` for a broken file, and for a file without a video track. A file object is left at the
    position it was given at; only box headers and the `moov` box are read from it.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _read_video_track(_InMemory(source))
    start = source.tell()
    try:
        return _read_video_track(_InFile(source))
    finally:
        source.seek(start)


class _InMemory:
    def __init__(self, data: bytes | bytearray | memoryview):
        self._view = memoryview(data)
        self.size = len(self._view)

    def read(self, offset: int, length: int) -> memoryview:
        return self._view[offset : offset + length]


class _InFile:
    def __init__(self, file: BinaryIO):
        self._file = file
        self.size = file.seek(0, io.SEEK_END)

    def read(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) < min(length, self.size - offset):
            raise Mp4HeaderError(f"the file gave {len(data)} of {length} bytes at byte {offset}")
        return data


def _read_video_track(source: _InMemory | _InFile) -> Mp4VideoTrack | None:
    first = source.read(0, _BOX_HEADER.size)
    if len(first) < _BOX_HEADER.size or _BOX_HEADER.unpack(first)[1] not in _FIRST_BOX_TYPES:
        return None
    moov = _find_moov(source)
    if any(_child(moov, 0, len(moov), box_type) for box_type in _NOT_AN_INDEX):
        return None
    for box_type, start, end in _boxes(moov, 0, len(moov), "moov"):
        if box_type == b"trak" and _handler(moov, start, end) == b"vide":
            track, chunks_end = _video_track(moov, start, end)
            if chunks_end > source.size:
                raise Mp4HeaderError(
                    f"the video samples end at byte {chunks_end}, past the end of the file ({source.size} bytes): "
                    "truncated"
                )
            return track
    raise Mp4HeaderError("no video track: no trak has the handler 'vide'")


def _find_moov(source: _InMemory | _InFile) -> memoryview:
    """The payload of the first top-level `moov`; bytes after it that are not a box are ignored, as FFmpeg does."""
    position = 0
    moov: memoryview | None = None
    while position < source.size:
        header = source.read(position, _BOX_HEADER.size)
        if len(header) == _BOX_HEADER.size and _U32.unpack_from(header)[0] == 1:
            header = source.read(position, _BOX_HEADER.size + _U64.size)
        try:
            box_type, start, end = _box_header(header, 0, source.size - position)
        except Mp4HeaderError as error:
            if moov is None:
                raise Mp4HeaderError(f"at byte {position}: {error}; truncated, or not an mp4") from None
            break
        if box_type == b"moov" and moov is None:
            moov = memoryview(source.read(position + start, end - start))
        position += end
    if moov is None:
        raise Mp4HeaderError("no 'moov' box (the index of the samples): truncated, or not an mp4")
    return moov


def _box_header(buffer: memoryview | bytes, offset: int, limit: int) -> tuple[bytes, int, int]:
    """`(type, payload start, end)` of the box at `offset` of a parent that ends at `limit`."""
    if limit - offset < _BOX_HEADER.size:
        raise Mp4HeaderError(f"{limit - offset} bytes left, too few for a box header")
    size, box_type = _BOX_HEADER.unpack_from(buffer, offset)
    header = _BOX_HEADER.size
    if size == 1:
        if limit - offset < header + _U64.size:
            raise Mp4HeaderError(f"{limit - offset} bytes left, too few for the 64-bit size of box {_name(box_type)}")
        (size,) = _U64.unpack_from(buffer, offset + header)
        header += _U64.size
    elif size == 0:
        size = limit - offset
    if box_type == b"uuid":
        header += 16
    if size < header:
        raise Mp4HeaderError(f"box {_name(box_type)} has an impossible size of {size} bytes")
    if size > limit - offset:
        raise Mp4HeaderError(f"box {_name(box_type)} claims {size} bytes, but only {limit - offset} are left")
    return box_type, offset + header, offset + size


def _boxes(buffer: memoryview, start: int, end: int, path: str) -> Iterator[tuple[bytes, int, int]]:
    """`(type, payload start, end)` of each child box of the payload `[start, end)` of the box at `path`."""
    position = start
    while position < end:
        try:
            box_type, payload_start, box_end = _box_header(buffer, position, end)
        except Mp4HeaderError as error:
            raise Mp4HeaderError(f"in {path}: {error}") from None
        yield box_type, payload_start, box_end
        position = box_end


def _child(buffer: memoryview, start: int, end: int, box_type: bytes, path: str = "moov") -> tuple[int, int] | None:
    """The payload range of the first child of type `box_type`, if any."""
    for found, payload_start, payload_end in _boxes(buffer, start, end, path):
        if found == box_type:
            return payload_start, payload_end
    return None


def _required(buffer: memoryview, start: int, end: int, path: str) -> tuple[int, int]:
    """The payload range of the box at `path` (`parent/.../type`), which must exist, below `[start, end)`."""
    *parents, box_type = path.split("/")
    found = _child(buffer, start, end, box_type.encode("latin-1"), "/".join(parents))
    if found is None:
        raise Mp4HeaderError(f"no {path} box in the video track")
    return found


def _handler(moov: memoryview, start: int, end: int) -> bytes | None:
    """The handler type of a track (`mdia/hdlr`): `vide`, `soun`, ..."""
    mdia = _child(moov, start, end, b"mdia", "moov/trak")
    hdlr = mdia and _child(moov, *mdia, b"hdlr", "moov/trak/mdia")
    if hdlr is None or hdlr[1] - hdlr[0] < 12:
        return None
    return bytes(moov[hdlr[0] + 8 : hdlr[0] + 12])


def _video_track(moov: memoryview, start: int, end: int) -> tuple[Mp4VideoTrack, int]:
    """The track in `moov[start:end]` and the end of its last chunk of samples (a file offset)."""
    mdia = _required(moov, start, end, "trak/mdia")
    timescale, media_ticks = _media_header(moov, *_required(moov, *mdia, "trak/mdia/mdhd"))
    minf = _required(moov, *mdia, "trak/mdia/minf")
    stbl = _required(moov, *minf, "trak/mdia/minf/stbl")
    width, height = _frame_size(moov, *_required(moov, *stbl, "stbl/stsd"))
    samples, sample_ticks = _sample_times(moov, *_required(moov, *stbl, "stbl/stts"))
    sizes = _SampleSizes.read(moov, stbl)
    if sizes.count != samples:
        raise Mp4HeaderError(f"stts gives durations to {samples} samples, but {sizes.table} holds {sizes.count}")
    track = Mp4VideoTrack(
        width=width,
        height=height,
        num_frames=samples,
        timescale=timescale,
        sample_ticks=sample_ticks,
        duration_ticks=min(media_ticks, sample_ticks) if sample_ticks else media_ticks,
    )
    return track, _last_chunk_end(moov, stbl, sizes)


def _media_header(moov: memoryview, start: int, end: int) -> tuple[int, int]:
    """`(timescale, duration)` of `mdhd`, version 0 (32-bit times) or 1 (64-bit)."""
    version = _field(moov, start, end, 0, _U8, "mdhd")
    if version == 1:
        timescale = _field(moov, start, end, 20, _U32, "mdhd")
        duration = _field(moov, start, end, 24, _U64, "mdhd")
    else:
        timescale, duration = _field(moov, start, end, 12, _U32_PAIR, "mdhd")
    if not timescale:
        raise Mp4HeaderError("the media header (mdhd) has a timescale of 0")
    return timescale, duration


def _frame_size(moov: memoryview, start: int, end: int) -> tuple[int, int]:
    """Width and height of the first sample description (a VisualSampleEntry: avc1, hvc1, av01, vp09, ...)."""
    if _field(moov, start, end, 4, _U32, "stsd"):
        for _, entry_start, entry_end in _boxes(moov, start + 8, end, "stsd"):
            return _field(moov, entry_start, entry_end, _VISUAL_ENTRY_SIZE_AT, _U16_PAIR, "stsd entry")
    raise Mp4HeaderError("the sample description box (stsd) is empty")


def _sample_times(moov: memoryview, start: int, end: int) -> tuple[int, int]:
    """`(samples, ticks)` summed over the `stts` run-length table of (sample count, sample duration)."""
    entries = _field(moov, start, end, 4, _U32, "stts")
    table = _table(moov, start + 8, end, entries, _U32_PAIR.size * 8, "stts")
    samples = ticks = 0
    for count, duration in _U32_PAIR.iter_unpack(table):
        samples += count
        ticks += count * duration
    return samples, ticks


@dataclass(frozen=True)
class _SampleSizes:
    """`stsz` (one size for all samples, or 32 bits a sample) or `stz2` (4, 8 or 16 bits a sample)."""

    table: str
    count: int
    constant_size: int
    bits: int
    entries: memoryview

    @classmethod
    def read(cls, moov: memoryview, stbl: tuple[int, int]) -> _SampleSizes:
        stsz = _child(moov, *stbl, b"stsz", "stbl")
        if stsz is not None:
            constant_size, count = _field(moov, *stsz, 4, _U32_PAIR, "stsz")
            bits = 0 if constant_size else 32
            return cls("stsz", count, constant_size, bits, _table(moov, stsz[0] + 12, stsz[1], count, bits, "stsz"))
        stz2 = _child(moov, *stbl, b"stz2", "stbl")
        if stz2 is None:
            raise Mp4HeaderError("no stbl/stsz or stbl/stz2 box in the video track")
        bits, count = _field(moov, *stz2, 4, _STZ2_HEADER, "stz2")
        if bits not in (4, 8, 16):
            raise Mp4HeaderError(f"stz2 has a field size of {bits} bits (4, 8 or 16 allowed)")
        return cls("stz2", count, 0, bits, _table(moov, stz2[0] + 12, stz2[1], count, bits, "stz2"))

    def total(self, first: int) -> int:
        """Bytes of the samples from index `first` to the last."""
        if not self.bits:
            return self.constant_size * (self.count - first)
        if self.bits == 4:
            nibbles = [nibble for byte in self.entries[first // 2 :] for nibble in (byte >> 4, byte & 15)]
            return sum(nibbles[first % 2 : first % 2 + self.count - first])
        width = self.bits // 8
        tail = self.entries[first * width : self.count * width]
        return sum(value for (value,) in struct.iter_unpack(">" + {1: "B", 2: "H", 4: "I"}[width], tail))


def _last_chunk_end(moov: memoryview, stbl: tuple[int, int], sizes: _SampleSizes) -> int:
    """Where the track's last chunk of samples ends: its offset (`stco`/`co64`) plus its samples' sizes (`stsc`)."""
    start, end = _required(moov, *stbl, "stbl/stsc")
    runs = _field(moov, start, end, 4, _U32, "stsc")
    if not runs:
        return 0
    last_run = _table(moov, start + 8, end, runs, 12 * 8, "stsc")[-12:]
    samples_in_last_chunk = _U32.unpack_from(last_run, 4)[0]
    if samples_in_last_chunk > sizes.count:
        raise Mp4HeaderError(f"stsc puts {samples_in_last_chunk} samples in a chunk of a {sizes.count}-sample track")
    offsets = _child(moov, *stbl, b"stco", "stbl")
    offset_layout = _U32
    if offsets is None:
        offsets, offset_layout = _required(moov, *stbl, "stbl/co64"), _U64
    chunks = _field(moov, *offsets, 4, _U32, "chunk offset table")
    if not chunks:
        return 0
    table = _table(moov, offsets[0] + 8, offsets[1], chunks, offset_layout.size * 8, "chunk offset table")
    (last_offset,) = offset_layout.unpack_from(table, len(table) - offset_layout.size)
    return last_offset + sizes.total(sizes.count - samples_in_last_chunk)


def _field(buffer: memoryview, start: int, end: int, at: int, layout: struct.Struct, box: str) -> int | tuple:
    """The value (or tuple of values) of `layout` at `at` in a box payload `[start, end)`."""
    if start + at + layout.size > end:
        raise Mp4HeaderError(f"the {box} box is too short ({end - start} bytes)")
    values = layout.unpack_from(buffer, start + at)
    return values[0] if len(values) == 1 else values


def _table(buffer: memoryview, start: int, end: int, entries: int, entry_bits: int, box: str) -> memoryview:
    """The `entries` fixed-size entries of a table that starts at `start` and must fit before `end`."""
    length = -(-entries * entry_bits // 8)
    if start + length > end:
        raise Mp4HeaderError(f"the {box} box lists {entries} entries but has room for fewer")
    return buffer[start : start + length]


def _name(box_type: bytes) -> str:
    return repr(box_type.decode("latin-1"))
