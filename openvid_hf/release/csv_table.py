"""The release's CSVs: the original header checked, rows typed (`schema.CSV_TO_FIELD`), errors naming the row."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec

from ..errors import OpenVidError
from ..schema import CSV_HEADER, CSV_TO_FIELD, parse_csv_value


def check_csv_header(fs: fsspec.AbstractFileSystem, path: str, label: str) -> None:
    """Fail fast when the CSV lacks a column of the original header."""
    with _open_csv(fs, path) as reader:
        _columns(label, next(reader, None))


def read_csv_rows(fs: fsspec.AbstractFileSystem, path: str, label: str) -> Iterator[dict[str, Any]]:
    """The CSV's rows as typed field values, in file order; `label` names the file in errors."""
    with _open_csv(fs, path) as reader:
        columns = _columns(label, next(reader, None))
        position = 0
        try:
            for cells in reader:
                if not cells:
                    continue
                position += 1
                if len(cells) < len(columns):
                    raise OpenVidError(
                        f"{label}, row {position} (line {reader.line_num}): {len(cells)} fields, expected "
                        f"at least {len(columns)}"
                    )
                try:
                    yield {name: parse_csv_value(name, cells[index]) for name, index in columns.items()}
                except ValueError as error:
                    raise OpenVidError(f"{label}, row {position} (line {reader.line_num}): {error}") from error
        except (csv.Error, UnicodeDecodeError) as error:
            raise OpenVidError(f"{label}, after row {position}: not valid UTF-8 CSV ({error})") from error


@contextmanager
def _open_csv(fs: fsspec.AbstractFileSystem, path: str) -> Iterator[Iterator[list[str]]]:
    """A `csv.reader` over the file (UTF-8, a BOM tolerated, newlines inside quoted fields kept)."""
    with fs.open(path, "rb") as raw, io.TextIOWrapper(raw, "utf-8-sig", newline="") as text:
        yield csv.reader(text)


def _columns(label: str, header: list[str] | None) -> dict[str, int]:
    header = header or []
    missing = [column for column in CSV_HEADER if column not in header]
    if missing:
        raise OpenVidError(
            f"{label}: missing column(s) {', '.join(map(repr, missing))}; the header must hold {','.join(CSV_HEADER)}"
        )
    return {CSV_TO_FIELD[column]: header.index(column) for column in CSV_HEADER}
