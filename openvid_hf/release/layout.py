"""The original release's layout: where its CSVs, zip parts and HD copy are, and which member names are usable.

These facts come from the release on the Hub (`nkp37/OpenVid-1M`); everything that reads a release, and the
synthetic sample that imitates one, takes them from here.
"""

from __future__ import annotations

import re

MAIN_CSV = "data/train/OpenVid-1M.csv"
HD_CSV = "data/train/OpenVidHD.csv"
HD_DIR = "OpenVidHD"
#: HD zip name -> the member names it holds.
HD_INDEX = f"{HD_DIR}/OpenVidHD.json"
#: Why a row or a video is left out of what the release yields.
SKIP_REASONS = ("missing", "not_in_csv", "undecodable", "too_short", "unsafe_name")
#: The loading script's configs: clips with video, the HD subset with video, and every CSV row without video.
CONFIGS = ("default", "hd", "metadata")

#: A byte-wise split zip: `STEM_partaa`, `STEM_partab`, ... concatenated in suffix order.
SPLIT_PART = re.compile(r"^(?P<stem>.+)_part(?P<suffix>[a-z]{2})$")
_DIGITS = re.compile(r"(\d+)")


def part_suffix(index: int) -> str:
    """The suffix of the `index`-th part of a split zip (`aa`, `ab`, ...)."""
    return chr(ord("a") + index // 26) + chr(ord("a") + index % 26)


def natural_key(name: str) -> list:
    """Sorts `part2` before `part10`."""
    return [int(piece) if piece.isdigit() else piece for piece in _DIGITS.split(name)]


def base_name(member_name: str) -> str:
    return member_name.replace("\\", "/").rsplit("/", 1)[-1]


def is_unsafe_name(member_name: str) -> bool:
    """An absolute name, a drive letter or a `..` component: never usable as a path."""
    if ".." not in member_name and ":" not in member_name[:2] and not member_name.startswith(("/", "\\")):
        return False  # the common case, decided without a regular expression
    normalized = member_name.replace("\\", "/")
    return normalized.startswith("/") or bool(re.match(r"^[A-Za-z]:", normalized)) or ".." in normalized.split("/")
