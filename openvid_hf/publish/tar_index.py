"""Where each member of a tar lies, read from its headers alone: one 512-byte range read per header, bodies skipped.

This is what lets `openvid-hf index` add byte ranges to a WebDataset repository this tool did not build: a tar is a
chain of headers, each followed by its member's data padded to 512-byte blocks, so the next header's position
follows from the size in the current one. pax (`x`, `g`) and GNU long-name (`L`, `K`) headers are read in full
(they are small) and applied to the member that follows them.
"""

from __future__ import annotations

import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import OpenVidError
from .shards import padded_size

_BLOCK = tarfile.BLOCKSIZE
#: Header types that describe the next member instead of being one.
_PAX_TYPES = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE)
_GLOBAL_PAX_TYPE = tarfile.XGLTYPE
_GNU_NAME_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)

#: `read(start, end)`: the bytes `[start, end)` of one tar file (a range request on the Hub).
RangeReader = Callable[[int, int], bytes]


@dataclass(frozen=True)
class TarMember:
    """A regular file of a tar: its name and where its data lies."""

    name: str
    offset: int
    size: int


def tar_members(read: RangeReader, size: int, origin: str) -> list[TarMember]:
    """The regular files of the tar of `size` bytes that `read` reads, from their headers only."""
    members: list[TarMember] = []
    position = 0
    pending_name: str | None = None
    pending_size: int | None = None
    while position + _BLOCK <= size:
        block = read(position, position + _BLOCK)
        if block == bytes(_BLOCK):  # the end-of-archive marker
            break
        try:
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as error:
            raise OpenVidError(f"{origin}: not a tar file (bad header at byte {position}: {error})") from None
        data_offset = position + _BLOCK
        data_size = info.size
        if info.type in _PAX_TYPES or info.type == _GLOBAL_PAX_TYPE or info.type in _GNU_NAME_TYPES:
            payload = read(data_offset, data_offset + data_size)
            if info.type == tarfile.GNUTYPE_LONGNAME:
                pending_name = payload.rstrip(b"\0").decode("utf-8", "surrogateescape")
            elif info.type in _PAX_TYPES:
                fields = _pax_fields(payload, origin)
                pending_name = fields.get("path", pending_name)
                pending_size = int(fields["size"]) if "size" in fields else pending_size
        else:
            data_size = info.size if pending_size is None else pending_size
            if info.isreg():
                members.append(TarMember(pending_name or info.name, data_offset, data_size))
            pending_name = pending_size = None
        position = data_offset + padded_size(data_size)
    return members


def _pax_fields(payload: bytes, origin: str) -> dict[str, str]:
    """The `length key=value\\n` records of a pax extended header."""
    fields = {}
    position = 0
    while position < len(payload) and payload[position] != 0:
        length_text, _, _ = payload[position:].partition(b" ")
        try:
            length = int(length_text)
        except ValueError:
            raise OpenVidError(f"{origin}: malformed pax header record at {position}") from None
        key, _, value = payload[position + len(length_text) + 1 : position + length - 1].partition(b"=")
        fields[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        position += length
    return fields


READ_ATTEMPTS = 3


@dataclass(frozen=True)
class Read:
    """The bytes `[start, end)` of a file."""

    start: int
    end: int


def read_range(fs: Any, path: str, read: Read) -> bytes:
    """Bytes `[start, end)` of `path` on an fsspec filesystem, exactly (no read-ahead cache), retried on a failed or
    short read (`HfFileSystem` already retries server errors with backoff; this covers a dropped connection)."""
    problem = ""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            with fs.open(path, "rb", cache_type="none") as handle:
                handle.seek(read.start)
                data = handle.read(read.end - read.start)
            if len(data) == read.end - read.start:
                return data
            problem = f"got {len(data)} of {read.end - read.start} bytes"
        except OSError as error:
            problem = str(error)
        if attempt < READ_ATTEMPTS:
            time.sleep(0.5 * attempt)
    raise OpenVidError(f"{path}: cannot read bytes {read.start}-{read.end} after {READ_ATTEMPTS} attempts ({problem})")
