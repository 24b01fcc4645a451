"""The curated clips written as a release in the original layout, so `inspect`, `build` and the loading script
read it unchanged.

Zip parts `OpenVid_part{n}.zip` (members under `OpenVid_part{n}/`, stored: mp4 is compressed already) of at most
`part_bytes` each, `data/train/OpenVid-1M.csv` with the original header, and for clips whose shorter side is at
least `HD_SHORT_SIDE` the HD copy (`OpenVidHD/OpenVidHD_part_1.zip`, its JSON index) and `data/train/OpenVidHD.csv`.
A score a stage did not compute is an empty CSV field (the release reader reads it as missing). Every file is
written under a temporary name and renamed; parts left from an earlier run with more clips are removed.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..atomic import replacing, write_text
from ..release.layout import HD_CSV, HD_DIR, HD_INDEX, MAIN_CSV
from ..schema import CSV_HEADER, FIELDS_BY_NAME

HD_SHORT_SIDE = 1080
DEFAULT_PART_BYTES = 4 << 30
_ZIP_DATE = (2024, 7, 1, 0, 0, 0)


def is_hd(row: dict[str, Any]) -> bool:
    return min(row["width"], row["height"]) >= HD_SHORT_SIDE


def write_release(out_dir: Path, clips_dir: Path, rows: list[dict[str, Any]], part_bytes: int = DEFAULT_PART_BYTES):
    """Write the release of `rows` (kept clips, sorted by name) into `out_dir`; returns (parts, hd clips)."""
    parts = list(_parts(clips_dir, rows, part_bytes))
    names = set()
    for number, members in enumerate(parts):
        name = f"OpenVid_part{number}.zip"
        names.add(name)
        _write_zip(
            out_dir / name, [(f"OpenVid_part{number}/{row['clip']}", clips_dir / row["clip"]) for row in members]
        )
    for stale in out_dir.glob("OpenVid_part*.zip"):
        if stale.name not in names:
            stale.unlink()
    hd_rows = [row for row in rows if is_hd(row)]
    hd_zip = "OpenVidHD_part_1.zip"
    if hd_rows:
        _write_zip(out_dir / HD_DIR / hd_zip, [(row["clip"], clips_dir / row["clip"]) for row in hd_rows])
        write_text(out_dir / HD_INDEX, json.dumps({hd_zip: [row["clip"] for row in hd_rows]}, indent=2) + "\n")
    else:
        (out_dir / HD_DIR / hd_zip).unlink(missing_ok=True)
        (out_dir / HD_INDEX).unlink(missing_ok=True)
    write_text(out_dir / MAIN_CSV, csv_text(rows))
    write_text(out_dir / HD_CSV, csv_text(hd_rows))
    return len(parts), len(hd_rows)


def csv_text(rows: list[dict[str, Any]]) -> str:
    """The CSV of `rows` with the original header; missing values are empty fields."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        values = {**row, "video": row["clip"], "frame": row["num_frames"]}
        writer.writerow(_cell(column, values.get(_field(column))) for column in CSV_HEADER)
    return buffer.getvalue()


def _field(column: str) -> str:
    return next(name for name, field in FIELDS_BY_NAME.items() if field.csv_column == column)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}" if column in ("fps", "seconds") else f"{value:.6f}"
    return str(value)


def _parts(clips_dir: Path, rows: list[dict[str, Any]], part_bytes: int) -> Iterator[list[dict[str, Any]]]:
    part: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        clip_bytes = (clips_dir / row["clip"]).stat().st_size
        if part and size + clip_bytes > part_bytes:
            yield part
            part, size = [], 0
        part.append(row)
        size += clip_bytes
    if part:
        yield part


def _write_zip(path: Path, members: list[tuple[str, Path]]) -> None:
    """A stored zip of `members` with fixed dates, so the same clips give the same bytes."""
    with replacing(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
        for name, source in members:
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            large = source.stat().st_size >= 1 << 31
            with open(source, "rb") as data, archive.open(info, "w", force_zip64=large) as member:
                while chunk := data.read(1 << 20):
                    member.write(chunk)
