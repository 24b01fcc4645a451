"""Bad release CSVs: each one is one line naming the file, the row and the line, from the library and the CLI."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest

from openvid_hf.commands import cli
from openvid_hf.errors import OpenVidError
from openvid_hf.release.csv_table import MAX_FIELD_CHARS
from openvid_hf.release.layout import MAIN_CSV
from openvid_hf.release.source import Release

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def release_copy(sample_release, tmp_path) -> Path:
    """A private copy of the sample release, for tests that damage its CSV."""
    return Path(shutil.copytree(sample_release.root, tmp_path / "release"))


def record_lines(data: bytes) -> list[tuple[int, int]]:
    """(first line, last line) of every record of a good CSV, the header first; lines count from 1."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    spans = []
    while True:
        first = reader.line_num + 1
        if next(reader, None) is None:
            return spans
        spans.append((first, reader.line_num))


def line_start(data: bytes, line: int) -> int:
    """The byte offset where `line` (from 1) begins."""
    return sum(len(piece) for piece in data.splitlines(keepends=True)[: line - 1])


def corrupt_row(path: Path, row: int, last_line: bool = False) -> int:
    """Insert a byte that is not UTF-8 into `row` (0: the header) after its line's first comma; its line."""
    data = path.read_bytes()
    first, last = record_lines(data)[row]
    line = last if last_line else first
    start = line_start(data, line)
    at = data.index(b",", start) + 1 if not last_line or first == last else start + 1
    path.write_bytes(data[:at] + b"\xff" + data[at:])
    return line


def add_rows(path: Path, count: int) -> None:
    """Append `count` rows whose videos are in no archive, one in three with a caption of two lines."""
    with path.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        for index in range(count):
            caption = f"Extra clip {index}, a field of wheat" + (",\nswaying in the wind." if index % 3 == 0 else ".")
            writer.writerow([f"extra_{index:04d}.mp4", caption, 5.0, 10.0, 0.95, "static", 48, 24.0, 2.0])


def cli_error(argv: list[str], capsys) -> str:
    """The CLI's one error line (exit status 1): no traceback, nothing else but progress bars."""
    assert cli.main(argv) == 1
    lines = [line for line in re.split(r"[\r\n]+", capsys.readouterr().err) if line.strip()]
    (error,) = [line for line in lines if not line.startswith("Indexing ")]
    assert error.startswith(f"openvid-hf {argv[0]}: error: ")
    return error


def inspect_error(release: Path, tmp_path: Path, capsys) -> str:
    """`openvid-hf inspect`'s one error line for a bad release."""
    return cli_error(["inspect", str(release), "--index-cache", str(tmp_path / "index")], capsys)


def csv_error(release: Path) -> str:
    """The `OpenVidError` that reading every row of the main CSV raises."""
    with pytest.raises(OpenVidError) as caught:
        list(Release(release).csv_rows(MAIN_CSV))
    return str(caught.value)


@pytest.mark.parametrize("row", [0, 3], ids=["header", "row-3"])
def test_a_bad_byte_in_the_first_kilobytes_is_one_line_from_inspect_and_build(release_copy, tmp_path, capsys, row):
    line = corrupt_row(release_copy / MAIN_CSV, row)
    where = "line 1 \\(the header\\)" if row == 0 else f"row {row} \\(line {line}\\)"
    expected = rf"{release_copy}/{MAIN_CSV}, {where}: not valid UTF-8 \(byte 0xff at offset \d+\)"

    assert re.search(expected, inspect_error(release_copy, tmp_path, capsys))
    out = tmp_path / "built"
    message = cli_error(["build", str(release_copy), str(out), "--index-cache", str(tmp_path / "index")], capsys)
    assert re.search(expected, message)
    assert not out.exists()


def test_a_bad_byte_far_into_the_file_names_its_own_row_and_line(release_copy, tmp_path, capsys):
    csv_path = release_copy / MAIN_CSV
    add_rows(csv_path, 400)
    assert csv_path.stat().st_size > 40_000  # well past the 8 KB a text decoder reads ahead
    spans = record_lines(csv_path.read_bytes())
    row = next(row for row in range(216, len(spans)) if spans[row][0] < spans[row][1])  # a two-line caption
    line = corrupt_row(csv_path, row, last_line=True)
    assert line == spans[row][1] > 200
    offset = csv_path.read_bytes().index(b"\xff")

    message = inspect_error(release_copy, tmp_path, capsys)
    assert f"{MAIN_CSV}, row {row} (line {line}): not valid UTF-8 (byte 0xff at offset {offset})" in message


def test_a_utf16_csv_says_so(release_copy):
    csv_path = release_copy / MAIN_CSV
    csv_path.write_bytes(csv_path.read_text(encoding="utf-8").encode("utf-16"))
    message = csv_error(release_copy)
    assert "line 1 (the header): not valid UTF-8 (byte 0xff at offset 0)" in message
    assert "UTF-16" in message


def test_a_caption_over_128_kib_is_read_whole(release_copy):
    csv_path = release_copy / MAIN_CSV
    data = csv_path.read_bytes()
    caption = 'A very long caption, with commas and "quotes". ' * 4000
    assert len(caption) > 128 * 1024
    start = line_start(data, record_lines(data)[2][0])
    row = data[start : data.index(b",", start) + 1] + b'"' + caption.replace('"', '""').encode() + b'"'
    rest = data.index(b'",', start) + 1  # the row's fields after its caption
    csv_path.write_bytes(data[:start] + row + data[rest:])

    rows = list(Release(release_copy).csv_rows(MAIN_CSV))
    assert rows[1]["caption"] == caption
    assert len(rows) == len(record_lines(data)) - 1


def test_a_field_over_the_limit_is_named_too_large(release_copy):
    csv_path = release_copy / MAIN_CSV
    data = csv_path.read_bytes()
    first, _ = record_lines(data)[2]
    start = line_start(data, first)
    video_end = data.index(b",", start) + 1
    huge = b'"' + b"x" * (MAX_FIELD_CHARS + 1) + b'"'
    rest = data.index(b'",', start) + 1
    csv_path.write_bytes(data[:video_end] + huge + data[rest:])

    message = csv_error(release_copy)
    assert f"{MAIN_CSV}, row 2 (line {first}): a field is longer than {MAX_FIELD_CHARS:,} characters" in message
    assert "UTF-8" not in message


@pytest.mark.parametrize("where", ["middle", "last"])
def test_an_unclosed_quote_is_named_where_it_opens(release_copy, tmp_path, capsys, where):
    csv_path = release_copy / MAIN_CSV
    data = csv_path.read_bytes()
    spans = record_lines(data)
    row = 5 if where == "middle" else len(spans) - 1
    first, _ = spans[row]
    start = line_start(data, first)
    closing = data.index(b'",', start)  # the quote closing the row's caption, removed
    csv_path.write_bytes(data[:closing] + data[closing + 1 :])

    message = inspect_error(release_copy, tmp_path, capsys)
    assert f"{MAIN_CSV}, row {row} (line {first}): a quoted field is not closed" in message
