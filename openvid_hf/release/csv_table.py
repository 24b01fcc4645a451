"""The release's CSVs: the original header checked, rows typed (`schema.CSV_TO_FIELD`), errors naming the row.

The file is read as bytes and decoded in blocks of whole lines: memory stays bounded (a block, or one line of at
most `MAX_LINE_BYTES`), and a byte that is not UTF-8 is reported on its own row and line, not wherever a text
decoder reading ahead happened to be. A field may hold up to `MAX_FIELD_CHARS` characters (Python's `csv` stops at
128 KiB unless told otherwise, process-wide: reading a release raises that limit to ours when it is lower).
Quoting is strict, so an unclosed quote is named as such.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, Any

import fsspec

from ..errors import OpenVidError
from ..schema import CSV_HEADER, CSV_TO_FIELD, csv_parser

#: The most characters one CSV field (a caption) may hold.
MAX_FIELD_CHARS = 16 << 20
#: The most bytes one physical line may hold (a field of `MAX_FIELD_CHARS` characters, 4 bytes each in UTF-8).
MAX_LINE_BYTES = 4 * MAX_FIELD_CHARS
BLOCK_BYTES = 1 << 20
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def check_csv_header(fs: fsspec.AbstractFileSystem, path: str, label: str) -> None:
    """Fail fast when the CSV lacks a column of the original header."""
    with _open_csv(fs, path) as reader:
        _columns(label, _next_record(label, reader, 0))


def read_csv_rows(fs: fsspec.AbstractFileSystem, path: str, label: str) -> Iterator[dict[str, Any]]:
    """The CSV's rows as typed field values, in file order; `label` names the file in errors."""
    with _open_csv(fs, path) as reader:
        columns = _columns(label, _next_record(label, reader, 0))
        parsers = [(name, index, csv_parser(name)) for name, index in columns.items()]
        position = 0
        while (cells := _next_record(label, reader, position + 1)) is not None:
            if not cells:
                continue
            position += 1
            if len(cells) < len(columns):
                raise OpenVidError(
                    f"{label}, row {position} (line {reader.line_num}): {len(cells)} fields, expected "
                    f"at least {len(columns)}"
                )
            try:
                yield {name: parse(cells[index]) for name, index, parse in parsers}
            except ValueError as error:
                raise OpenVidError(f"{label}, row {position} (line {reader.line_num}): {error}") from error


class _LineError(Exception):
    """A physical line that cannot be read as text: its number (from 1) and what is wrong with it."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line = line
        self.reason = reason


class _Lines:
    """The file's lines as text, split as universal newlines split them (`\\n`, `\\r\\n`, `\\r`, kept), BOM dropped.

    Iterating raises `_LineError` for the first line that is not UTF-8 or is longer than `MAX_LINE_BYTES`, once
    every line before it has been handed out.
    """

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._offset = 0
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces():
            try:
                lines: Iterable[str] = io.StringIO(piece.decode("utf-8"), newline="")
            except UnicodeDecodeError:
                lines = self._decoded(piece)
            for line in lines:
                self.count += 1
                yield line.removeprefix("\ufeff") if self.count == 1 else line
            self._offset += len(piece)

    def _pieces(self) -> Iterator[bytes]:
        """The file in blocks of whole lines (a line break is never UTF-8's, so they cut between characters)."""
        pending = bytearray()
        while block := self._raw.read(BLOCK_BYTES):
            pending += block
            # A trailing `\r` waits for the next block, where a `\n` may follow it.
            end = max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1)) + 1
            if not end and len(pending) > MAX_LINE_BYTES:
                raise _LineError(self.count + 1, f"over {MAX_LINE_BYTES:,} bytes without a line break")
            if end:
                yield bytes(pending[:end])
                del pending[:end]
        if pending:
            yield bytes(pending)

    def _decoded(self, piece: bytes) -> Iterator[str]:
        """The lines of a block that is not all UTF-8, one by one, up to the bad one."""
        offset = self._offset
        for line in piece.splitlines(keepends=True):
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise _LineError(self.count + 1, _not_utf8(line, error, offset)) from error
            offset += len(line)


def _not_utf8(line: bytes, error: UnicodeDecodeError, offset: int) -> str:
    """What is wrong with a line that is not UTF-8, at which byte of the file; UTF-16 named when it is that."""
    reason = f"not valid UTF-8 (byte 0x{line[error.start]:02x} at offset {offset + error.start})"
    if offset == 0 and line.startswith(_UTF16_BOMS):
        reason += "; the file starts with a UTF-16 or UTF-32 byte order mark: save it as UTF-8"
    return reason


@contextmanager
def _open_csv(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[Any]:
    """A strict `csv.reader` over the file's lines (UTF-8, a BOM tolerated, newlines inside quoted fields kept)."""
    if csv.field_size_limit() < MAX_FIELD_CHARS:
        csv.field_size_limit(MAX_FIELD_CHARS)
    with fs.open(path, "rb") as raw:
        yield csv.reader(_Lines(raw), strict=True)


def _next_record(label: str, reader: Any, row: int) -> list[str] | None:
    """The next record's cells (None at the end); `row` (0: the header) names it in errors."""
    first_line = reader.line_num + 1
    try:
        return next(reader, None)
    except _LineError as error:
        raise OpenVidError(f"{_where(label, row, error.line)}: {error.reason}") from error
    except csv.Error as error:
        raise OpenVidError(f"{_where(label, row, first_line)}: {_csv_problem(error, reader.line_num)}") from error


def _where(label: str, row: int, line: int) -> str:
    return f"{label}, row {row} (line {line})" if row else f"{label}, line {line} (the header)"


def _csv_problem(error: csv.Error, line: int) -> str:
    """`csv`'s complaint about a record, said in terms of the file."""
    message = str(error)
    if message.startswith("field larger than field limit"):
        return f"a field is longer than {csv.field_size_limit():,} characters, the most one field may hold"
    if message == "unexpected end of data":
        return "a quoted field is not closed: the file ends inside it"
    if "expected after" in message:
        return (
            f"a quoted field is not closed, or a quote inside it is not doubled (the quote on line {line} is "
            "followed by neither a comma nor a line break)"
        )
    return f"not a valid CSV record ({message})"


def _columns(label: str, header: list[str] | None) -> dict[str, int]:
    """Each field's column in the header; an error naming the missing columns and showing what the header is."""
    header = header or []
    missing = [column for column in CSV_HEADER if column not in header]
    if missing:
        found = ",".join(header)
        shown = f"it is {found[:200]!r}" if header else "the file is empty"
        if "\x00" in found:
            shown += ", with NUL characters: is the file UTF-16 or UTF-32? Save it as UTF-8"
        raise OpenVidError(
            f"{label}: missing column(s) {', '.join(map(repr, missing))}; the header must hold "
            f"{','.join(CSV_HEADER)}, {shown}"
        )
    return {CSV_TO_FIELD[column]: header.index(column) for column in CSV_HEADER}
