"""Fuzzing the release reader: damaged CSVs and zip parts end in a counted skip or one clear error, never worse.

Each case damages one file of a copy of the sample release (random byte flips, truncations, re-encodings, lying
zip records), then reads it as `openvid-hf inspect` does (`default`, with every video read and probed), through
the `hd` config's reader, and, for every third case, builds it. Allowed ends: success whose skips are all counted
in the summary, or one `OpenVidError` (`UsageError` included) of one line; for a build, a complete output folder
or none. A fixed seed makes every case reproducible from its number.
"""

from __future__ import annotations

import os
import random
import struct
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from openvid_hf.errors import OpenVidError
from openvid_hf.publish.build import build_dataset
from openvid_hf.publish.journal import JOURNAL_DIR
from openvid_hf.publish.layout import MANIFEST_FILE
from openvid_hf.publish.plan import BuildOptions
from openvid_hf.release.inspect import inspect_release
from openvid_hf.release.layout import HD_CSV, HD_INDEX, MAIN_CSV, SKIP_REASONS
from openvid_hf.release.reader import ReleaseReader
from openvid_hf.release.source import Release

SEED = 16
CASES = 300
BUILD_EVERY = 3
ZIPS = ("OpenVid_part0.zip", "OpenVid_part1.zip", "OpenVid_part2_partaa", "OpenVid_part2_partab")
HD_ZIP = "OpenVidHD/OpenVidHD_part_1.zip"
_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
#: Offsets of fields in the end-of-central-directory record: entries on this disk, entries, size, offset, comment.
_EOCD_FIELDS = ((8, "<H"), (10, "<H"), (12, "<L"), (16, "<L"), (20, "<H"))
#: Offsets of fields in a central directory header: version needed, flags, method, CRC, sizes, name and extra
#: lengths, local header offset.
_CENTRAL_FIELDS = (
    (6, "<H"),
    (8, "<H"),
    (10, "<H"),
    (16, "<L"),
    (20, "<L"),
    (24, "<L"),
    (28, "<H"),
    (30, "<H"),
    (42, "<L"),
)
#: Offsets of fields in a local file header: flags, method, sizes, name and extra lengths.
_LOCAL_FIELDS = ((6, "<H"), (8, "<H"), (18, "<L"), (22, "<L"), (26, "<H"), (28, "<H"))

Mutation = Callable[[random.Random, bytes], bytes]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def delete_range(rng: random.Random, data: bytes) -> bytes:
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 200) :]


def insert_nuls(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 5)):
        out[rng.randrange(len(out)) : 0] = b"\x00" * rng.randint(1, 3)
    return bytes(out)


def re_encode(rng: random.Random, data: bytes) -> bytes:
    encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "latin-1", "cp1252", "utf-32"])
    return data.decode("utf-8").encode(encoding, errors="replace")


def add_bom(rng: random.Random, data: bytes) -> bytes:
    return b"\xef\xbb\xbf" * rng.randint(1, 2) + data


def change_line_breaks(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b"\r\r\n"]))


def move_quotes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    quotes = [index for index, byte in enumerate(out) if byte == ord('"')]
    for index in sorted(rng.sample(quotes, min(len(quotes), rng.randint(1, 3))), reverse=True):
        del out[index]
    for _ in range(rng.randint(0, 2)):
        out[rng.randrange(len(out)) : 0] = b'"'
    return bytes(out)


def flip_tail(rng: random.Random, data: bytes) -> bytes:
    """Byte flips where zipfile looks first: the central directory and the end records."""
    out = bytearray(data)
    tail = max(1, len(out) // 50)
    for _ in range(rng.randint(1, 6)):
        out[len(out) - 1 - rng.randrange(tail)] = rng.randrange(256)
    return bytes(out)


def lying_value(rng: random.Random, old: int, fmt: str) -> int:
    top = (1 << (8 * struct.calcsize(fmt))) - 1
    return rng.choice([0, 1, top, top - 1, rng.randint(0, top), max(0, old - rng.randint(1, 64)), min(top, old + 1)])


def edit_record(rng: random.Random, data: bytes, signature: bytes, fields: tuple[tuple[int, str], ...]) -> bytes:
    """One field of one record (found by its signature) set to a lying value."""
    starts, at = [], data.find(signature)
    while at != -1:
        starts.append(at)
        at = data.find(signature, at + 1)
    if not starts:
        return flip_bytes(rng, data)
    start = rng.choice(starts)
    offset, fmt = rng.choice(fields)
    position = start + offset
    if position + struct.calcsize(fmt) > len(data):
        return truncate(rng, data)
    (old,) = struct.unpack_from(fmt, data, position)
    out = bytearray(data)
    struct.pack_into(fmt, out, position, lying_value(rng, old, fmt))
    return bytes(out)


def lie_in_eocd(rng: random.Random, data: bytes) -> bytes:
    return edit_record(rng, data, _EOCD, _EOCD_FIELDS)


def lie_in_central_directory(rng: random.Random, data: bytes) -> bytes:
    return edit_record(rng, data, _CENTRAL, _CENTRAL_FIELDS)


def lie_in_local_header(rng: random.Random, data: bytes) -> bytes:
    return edit_record(rng, data, _LOCAL, _LOCAL_FIELDS)


CSV_MUTATIONS: tuple[Mutation, ...] = (
    flip_bytes,
    truncate,
    delete_range,
    insert_nuls,
    re_encode,
    add_bom,
    change_line_breaks,
    move_quotes,
)
ZIP_MUTATIONS: tuple[Mutation, ...] = (
    flip_bytes,
    flip_tail,
    truncate,
    delete_range,
    lie_in_eocd,
    lie_in_central_directory,
    lie_in_local_header,
)


def plan_case(rng: random.Random) -> tuple[str, Mutation | None]:
    """Which file of the release to damage, and how (None: delete it)."""
    kind = rng.random()
    if kind < 0.4:
        return rng.choice([MAIN_CSV, MAIN_CSV, HD_CSV]), rng.choice(CSV_MUTATIONS)
    if kind < 0.95:
        return rng.choice([*ZIPS, HD_ZIP]), rng.choice(ZIP_MUTATIONS)
    if kind < 0.98:
        return HD_INDEX, rng.choice([flip_bytes, truncate])
    return rng.choice([HD_CSV, HD_INDEX, HD_ZIP, ZIPS[3]]), None


def damaged_copy(root: Path, target: Path, damaged: str, mutation: Mutation | None, rng: random.Random) -> None:
    """`root` linked file by file into `target`, but `damaged` written anew (mutated) or left out."""
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        relative = path.relative_to(root).as_posix()
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if relative != damaged:
            os.link(path, destination)
        elif mutation is not None:
            destination.write_bytes(mutation(rng, path.read_bytes()))


def check_clean_error(error: OpenVidError) -> str:
    message = str(error)
    assert message.strip() and "\n" not in message and "Traceback" not in message, message
    return "error"


def read_release(release: Path) -> str:
    """Read the release as `inspect` and the `hd` config do; "ok" (skips all counted) or "error"."""
    try:
        result = inspect_release(release, min_frames=8)
        hd = ReleaseReader(Release(release), config="hd")
        hd_clips = list(hd.clips())
    except OpenVidError as error:
        return check_clean_error(error)
    assert f"{len(result['skipped'])} skipped" in result["summary"]
    assert {skip.reason for skip in result["skipped"] + hd.report.skipped} <= set(SKIP_REASONS)
    assert hd.report.yielded == len(hd_clips)
    return "ok"


def build_release(release: Path, out: Path, index: Path) -> str:
    """Build the release: "built" with a complete folder, or "error" with no folder (or only a resumable one)."""
    try:
        build_dataset(release, out, BuildOptions(index_cache_dir=index, min_frames=8))
    except OpenVidError as error:
        check_clean_error(error)
        assert not out.exists() or ((out / JOURNAL_DIR).is_dir() and not (out / MANIFEST_FILE).exists())
        return "build error"
    assert (out / MANIFEST_FILE).is_file() and not (out / JOURNAL_DIR).exists()
    assert not [path for path in out.rglob("*.partial")]
    return "built"


@pytest.mark.timeout(180)
def test_damaged_releases_end_in_counted_skips_or_one_clear_error(sample_release, tmp_path, capsys):
    started = time.perf_counter()
    outcomes: Counter[str] = Counter()
    for case in range(CASES):
        rng = random.Random(SEED * 100_000 + case)
        damaged, mutation = plan_case(rng)
        name = f"case {case}: {damaged} {mutation.__name__ if mutation else 'deleted'}"
        folder = tmp_path / f"case{case:03d}"
        release = folder / "OpenVid-1M"
        damaged_copy(sample_release.root, release, damaged, mutation, rng)
        try:
            outcomes[read_release(release)] += 1
            if case % BUILD_EVERY == 0:
                outcomes[build_release(release, folder / "built", folder / "index")] += 1
        except Exception as error:  # any other exception is a finding: name the case that made it
            raise AssertionError(f"{name}: {type(error).__name__}: {error}") from error
    seconds = time.perf_counter() - started
    with capsys.disabled():
        print(f"\nfuzzed {CASES} damaged releases in {seconds:.1f} s: {dict(sorted(outcomes.items()))}")
    assert outcomes["ok"] and outcomes["error"]
