"""Random access to the members of zip archives on any fsspec filesystem, through their central directories.

An OpenVid-1M part is tens of GB, and the largest are split byte-wise into `_partaa`/`_partab`; reading one
clip must neither download, join nor unzip a whole part. Here an archive is a list of parts read as one
virtual file (`JoinedFile`); its central directory costs a few range requests at its end and is cached on
disk under a key made of the parts' names, sizes and versions (mtime or blob id), so a second run does not
read it again; a member then costs two range requests: its local header, and exactly its bytes.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import json
import os
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import fsspec

from ..errors import OpenVidError

_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"
_CACHE_FORMAT = 1
#: Where the central directory listings are cached, under a `datasets` cache root.
INDEX_CACHE_SUBDIR = "openvid_hf/zip_index"
_READ_ATTEMPTS = 3


class MemberReadError(OpenVidError):
    """A member whose bytes cannot be extracted (bad local header, unsupported method, CRC mismatch)."""


@dataclass(frozen=True)
class ArchivePart:
    """One file of an archive: its path on the filesystem, size, and a marker that changes with its content."""

    path: str
    size: int
    version: str


@dataclass(frozen=True)
class Archive:
    """A zip archive stored as one or more byte-wise parts, named by its first part relative to the release."""

    name: str
    parts: tuple[ArchivePart, ...]

    @property
    def size(self) -> int:
        return sum(part.size for part in self.parts)

    def cache_key(self) -> str:
        identity = [(Path(part.path).name, part.size, part.version) for part in self.parts]
        return hashlib.sha256(json.dumps([_CACHE_FORMAT, identity]).encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)  # slots: a release has a million of them
class ZipMember:
    """What the central directory says about one member: enough to read it without the archive's listing."""

    name: str
    header_offset: int
    compressed_size: int
    size: int
    compression: int
    crc32: int
    encrypted: bool

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


class JoinedFile(io.RawIOBase):
    """The parts of an archive as one read-only, seekable file that fetches only the byte ranges read."""

    def __init__(self, fs: fsspec.AbstractFileSystem, archive: Archive):
        super().__init__()
        self._fs = fs
        self._parts = archive.parts
        self._starts = [0]
        for part in archive.parts:
            self._starts.append(self._starts[-1] + part.size)
        self._position = 0

    @property
    def size(self) -> int:
        return self._starts[-1]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer) -> int:
        data = self.read_range(self._position, len(buffer))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def read_range(self, start: int, length: int) -> bytes:
        """Bytes `[start, start + length)` (fewer at the end), one range request per part they span."""
        end = min(start + length, self.size)
        pieces = []
        index = bisect.bisect_right(self._starts, start) - 1
        while start < end:
            part, part_start = self._parts[index], self._starts[index]
            stop = min(end, self._starts[index + 1])
            pieces.append(self._read_part(part, start - part_start, stop - part_start))
            start, index = stop, index + 1
        return b"".join(pieces)

    def _read_part(self, part: ArchivePart, start: int, end: int) -> bytes:
        """Exactly `[start, end)` of one part; a short answer (a dropped connection) is asked again."""
        for _ in range(_READ_ATTEMPTS):
            data = self._fs.cat_file(part.path, start=start, end=end, cache_type="none")
            if len(data) == end - start:
                return data
        raise OSError(
            f"{part.path}: bytes {start}-{end - 1} came back short ({len(data)} bytes) {_READ_ATTEMPTS} times"
        )


def scan_members(fs: fsspec.AbstractFileSystem, archive: Archive) -> list[ZipMember]:
    """Read the archive's central directory (zip64 included) without touching the members' bytes."""
    try:
        with zipfile.ZipFile(JoinedFile(fs, archive)) as listing:
            infos = listing.infolist()
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, ValueError) as error:
        parts = ", ".join(Path(part.path).name for part in archive.parts)
        raise OpenVidError(
            f"{archive.name}: not a readable zip archive ({error}); read as the concatenation of: {parts}. "
            "Is a part missing or truncated?"
        ) from error
    return [
        ZipMember(
            name=info.filename,
            header_offset=info.header_offset,
            compressed_size=info.compress_size,
            size=info.file_size,
            compression=info.compress_type,
            crc32=info.CRC,
            encrypted=bool(info.flag_bits & 0x1),
        )
        for info in infos
    ]


def read_member(fs: fsspec.AbstractFileSystem, archive: Archive, member: ZipMember) -> bytes:
    """The member's original bytes: its local header, then exactly its data range, inflated and CRC-checked."""
    label = f"{archive.name}: {member.name}"
    if member.encrypted:
        raise MemberReadError(f"{label}: encrypted members are not supported")
    if member.compression not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MemberReadError(f"{label}: unsupported compression method {member.compression}")
    joined = JoinedFile(fs, archive)
    # zipfile shifts every offset by what the end record says precedes the directory: a lying record can make it
    # negative (or past the end), and a negative start would read from the wrong part.
    if not 0 <= member.header_offset < joined.size:
        raise MemberReadError(
            f"{label}: its local header offset {member.header_offset} is outside the archive ({joined.size} bytes)"
        )
    header = joined.read_range(member.header_offset, _LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_HEADER_SIGNATURE:
        raise MemberReadError(f"{label}: no local file header at offset {member.header_offset}")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    data = joined.read_range(
        member.header_offset + _LOCAL_HEADER.size + name_length + extra_length, member.compressed_size
    )
    if len(data) < member.compressed_size:
        raise MemberReadError(f"{label}: truncated ({len(data)} of {member.compressed_size} bytes)")
    if member.compression == zipfile.ZIP_DEFLATED:
        try:
            data = zlib.decompress(data, wbits=-zlib.MAX_WBITS)
        except zlib.error as error:
            raise MemberReadError(f"{label}: cannot inflate ({error})") from error
    if len(data) != member.size or zlib.crc32(data) != member.crc32:
        raise MemberReadError(f"{label}: size or CRC-32 does not match the central directory")
    return data


class MemberIndexCache:
    """Central directory listings on local disk, one JSON file per archive under `Archive.cache_key`."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def _path(self, archive: Archive) -> Path:
        return self.directory / f"{archive.cache_key()}.json"

    def load(self, archive: Archive) -> list[ZipMember] | None:
        try:
            columns = json.loads(self._path(archive).read_text(encoding="utf-8"))
            return [ZipMember(*values) for values in zip(*(columns[name] for name in _MEMBER_FIELDS), strict=True)]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save(self, archive: Archive, members: list[ZipMember]) -> None:
        columns = {name: [getattr(member, name) for member in members] for name in _MEMBER_FIELDS}
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=self.directory, suffix=".partial", delete=False
        ) as handle:
            handle.write(json.dumps(columns, ensure_ascii=False))  # in one piece: json.dump encodes in Python
        os.replace(handle.name, self._path(archive))


_MEMBER_FIELDS = tuple(ZipMember.__dataclass_fields__)


def default_index_cache_dir() -> Path:
    """The listing cache under the default `datasets` cache, which the loading script uses too."""
    from datasets import config

    return Path(config.HF_DATASETS_CACHE) / INDEX_CACHE_SUBDIR
