"""Reproducible WebDataset tar shards: the same samples always give the same bytes.

Every member header is fixed (mtime, owner, mode, ustar format) and members are written in the order given,
so a shard is a pure function of its samples: a re-run, a resumed run and a run spread over several processes or
machines write identical files. The bytes are `tarfile`'s (ustar), written without it (see `member_header`). A
shard is written under a temporary name, hashed while it is written, and renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

from ..atomic import partial_path

MEMBER_MTIME = 0
MEMBER_MODE = 0o644
_COPY_BUFFER = 1 << 20
_BLOCK = tarfile.BLOCKSIZE


class _HashingSink(io.RawIOBase):
    """A write-only file that passes bytes on and keeps their SHA-256 and count (`tarfile` asks for `tell`)."""

    def __init__(self, target: BinaryIO):
        super().__init__()
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._target.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size


class ShardWriter:
    """Write one WebDataset tar at `path`: `add_sample(key, {"json": ..., "mp4": ...})`, in the order given.

    Use as a context manager: on success the file is renamed into place and `sha256`/`size` are set; on an
    exception the temporary file is removed and `path` is left as it was.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.sha256: str | None = None
        self.size = 0
        self.samples = 0

    def __enter__(self) -> ShardWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial_path, "wb", buffering=_COPY_BUFFER)  # tar writes 512-byte headers
        self._sink = _HashingSink(self._file)
        return self

    def add_sample(self, key: str, members: dict[str, bytes]) -> dict[str, tuple[int, int]]:
        """Append one sample; returns each member's `(offset, size)`: where its data lies in the tar."""
        ranges = {}
        for extension, data in members.items():
            self._sink.write(member_header(f"{key}.{extension}", len(data)))
            ranges[extension] = (self._sink.size, len(data))
            self._sink.write(data)
            if padding := -len(data) % _BLOCK:
                self._sink.write(bytes(padding))
        self.samples += 1
        return ranges

    def __exit__(self, error_type, error, traceback) -> None:
        try:
            if error_type is None:
                # The end of the archive as `tarfile` writes it: two zero blocks, then zeros to a whole record.
                self._sink.write(bytes(2 * _BLOCK))
                if remainder := self._sink.size % tarfile.RECORDSIZE:
                    self._sink.write(bytes(tarfile.RECORDSIZE - remainder))
        finally:
            self._file.close()
        if error_type is not None:
            self.partial_path.unlink(missing_ok=True)
            return
        self.sha256, self.size = self._sink.sha256.hexdigest(), self._sink.size
        os.replace(self.partial_path, self.path)


def member_header(name: str, size: int) -> bytes:
    """The ustar header of `member_info(name, size)`, byte for byte as `tarfile` writes it, built directly.

    `tarfile` spends more time on a header than the build on a small clip's other work; headers here depend only
    on the name and the size, so they are packed at once. A name or size ustar cannot hold in its plain fields
    goes through `tarfile`.
    """
    encoded = name.encode("utf-8")
    if len(encoded) > _NAME_BYTES or size >= 8**11:
        return member_info(name, size).tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    zero = b"0000000\0"
    header = bytearray(
        _USTAR.pack(
            encoded,
            b"%07o\0" % MEMBER_MODE,
            zero,  # uid
            zero,  # gid
            b"%011o\0" % size,
            b"%011o\0" % MEMBER_MTIME,
            b" " * 8,  # the checksum counts its own field as spaces
            tarfile.REGTYPE,
            b"",  # link name
            b"ustar\0",
            b"00",
            b"",  # owner name
            b"",  # group name
            b"",  # device major and minor: empty for a regular file
            b"",
            b"",  # prefix
        )
    )
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


#: A ustar header's fields (POSIX.1-1988), NUL-padded to one block.
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_NAME_BYTES = 100


def member_info(name: str, size: int) -> tarfile.TarInfo:
    """A member header that depends on nothing but the name and the size."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = MEMBER_MTIME
    info.mode = MEMBER_MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def encode_record(record: dict[str, Any]) -> bytes:
    """The `{key}.json` member: UTF-8 JSON, fields in the order given, no whitespace to vary."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_shard_records(path: str | Path) -> list[tuple[str, dict[str, Any], dict[str, tuple[int, int]]]]:
    """`(mp4 member name, record, each member's (offset, size))` of each sample of a shard (video bytes skipped)."""
    samples = []
    ranges: dict[str, dict[str, tuple[int, int]]] = {}
    with tarfile.open(path, mode="r:") as archive:
        for member in archive:
            key, extension = member.name.rsplit(".", 1)
            ranges.setdefault(key, {})[extension] = (member.offset_data, member.size)
            if extension == "json":
                samples.append((key, json.loads(archive.extractfile(member).read())))
    return [(f"{key}.mp4", record, ranges[key]) for key, record in samples]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_COPY_BUFFER):
            digest.update(chunk)
    return digest.hexdigest()


def padded_size(size: int) -> int:
    """Bytes a member's data takes in a tar: whole 512-byte blocks."""
    return -(-size // _BLOCK) * _BLOCK


def estimated_sample_bytes(video_size: int, record_size: int = 1024) -> int:
    """Tar bytes of one sample: a header and the data padded to 512-byte blocks, for the video and the record."""
    return sum(_BLOCK + padded_size(size) for size in (video_size, record_size))
