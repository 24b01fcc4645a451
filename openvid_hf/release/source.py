"""Where the files of one release are, locally or on the Hub: CSVs, main zip parts (split ones joined), HD copy."""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec

from ..errors import OpenVidError, UsageError
from .archives import Archive, ArchivePart
from .csv_table import check_csv_header, read_csv_rows
from .layout import HD_DIR, HD_INDEX, MAIN_CSV, SPLIT_PART, natural_key, part_suffix

logger = logging.getLogger(__name__)


class Release:
    """Where the files of one release are: its CSVs, its main zip parts and its HD copy."""

    def __init__(self, source: str | Path, storage_options: dict | None = None):
        self.source = str(source)
        options = dict(storage_options or {})
        if self.source.startswith("hf://"):
            from huggingface_hub import constants

            # fsspec caches filesystems by their arguments: name the endpoint, so HF_ENDPOINT is the one used.
            if "endpoint" not in options and "endpoint" not in options.get("hf", {}):
                options["endpoint"] = constants.ENDPOINT
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.source, **options)
            self.root = self.root.rstrip("/")
            top = self.fs.ls(self.root, detail=True)
        except (FileNotFoundError, NotADirectoryError) as error:
            raise OpenVidError(f"{self.source}: no such folder or dataset repository") from error
        except ValueError as error:
            raise UsageError(f"{self.source}: not a folder or an hf://datasets/ORG/NAME URL ({error})") from error
        if not self.fs.isdir(self.root):
            raise OpenVidError(f"{self.source}: not a folder")
        if not self.exists(MAIN_CSV):
            raise OpenVidError(
                f"{self.source}: no {MAIN_CSV}; an OpenVid-1M release folder holds data/train/OpenVid-1M.csv, "
                "data/train/OpenVidHD.csv and the OpenVid_part*.zip parts"
            )
        self.main_archives = self._archives(top)
        self.hd_archives = self._archives(self.fs.ls(self.path(HD_DIR), detail=True)) if self.exists(HD_DIR) else ()
        self.hd_listing = self._read_hd_listing()

    def path(self, relative: str) -> str:
        return posixpath.join(self.root, relative)

    def exists(self, relative: str) -> bool:
        return self.fs.exists(self.path(relative))

    def relative(self, path: str) -> str:
        return posixpath.relpath(path, self.root)

    def _archives(self, listing: list[dict]) -> tuple[Archive, ...]:
        """Zip parts among the listed files: `*.zip`, and `STEM_partaa`, `STEM_partab`, ... joined as one."""
        singles, splits = [], {}
        for info in listing:
            if info["type"] != "file":
                continue
            relative = self.relative(info["name"])
            part = ArchivePart(path=info["name"], size=int(info["size"]), version=_file_version(info))
            match = SPLIT_PART.match(posixpath.basename(relative))
            if relative.endswith(".zip"):
                singles.append(Archive(relative, (part,)))
            elif match:
                stem = posixpath.join(posixpath.dirname(relative), match["stem"])
                splits.setdefault(stem, []).append((match["suffix"], relative, part))
        for stem, pieces in splits.items():
            pieces.sort()
            suffixes = [suffix for suffix, _, _ in pieces]
            expected = [part_suffix(index) for index in range(len(pieces))]
            if suffixes != expected:
                missing = sorted(set(expected) - set(suffixes)) or [part_suffix(len(pieces))]
                raise OpenVidError(
                    f"{self.source}: split archive {stem} has parts {', '.join(suffixes)}; "
                    f"missing {stem}_part{missing[0]}"
                )
            singles.append(Archive(pieces[0][1], tuple(part for _, _, part in pieces)))
        return tuple(sorted(singles, key=lambda archive: natural_key(archive.name)))

    def _read_hd_listing(self) -> dict[str, list[str]] | None:
        """`OpenVidHD/OpenVidHD.json` (HD zip name -> member names), or None when absent or unreadable."""
        if not self.exists(HD_INDEX):
            return None
        try:
            listing = json.loads(self.fs.cat_file(self.path(HD_INDEX)))
            if not isinstance(listing, dict) or not all(isinstance(names, list) for names in listing.values()):
                raise ValueError("expected an object mapping zip names to lists of member names")
        except (ValueError, UnicodeDecodeError) as error:
            logger.warning("%s/%s is not usable (%s); the HD zips are scanned instead", self.source, HD_INDEX, error)
            return None
        return listing

    def check_csv(self, relative: str) -> None:
        """Fail fast when the CSV is absent or lacks a column of the original header."""
        if not self.exists(relative):
            raise OpenVidError(f"{self.source}: no {relative}")
        check_csv_header(self.fs, self.path(relative), f"{self.source}/{relative}")

    def csv_rows(self, relative: str) -> Iterator[dict[str, Any]]:
        """The CSV's rows as typed field values (`schema.CSV_TO_FIELD`), in file order; errors name the row."""
        return read_csv_rows(self.fs, self.path(relative), f"{self.source}/{relative}")


def _file_version(info: dict) -> str:
    """What changes when a file's content does: the Hub's blob id, or the modification time."""
    for key in ("blob_id", "xet_hash", "mtime", "ETag", "etag", "last_modified"):
        if info.get(key):
            return str(info[key])
    return ""
