"""`manifest.json`: what a build published, file by file, and what it left out of the release and why.

`verify` checks a local folder or a Hub repository against it (paths, sizes, SHA-256), the dataset card takes
its totals and skips from it, and a re-run of `build` compares its plan fingerprint to know it is up to date.
The card (`README.md`) is not listed: `push` renders it again for the repository it is pushed to.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..cards import CARD_FILE
from ..errors import OpenVidError
from ..release.skips import Skip
from ..schema import METADATA_FORMAT_VERSION
from .layout import DATA_DIR, MANIFEST_FILE, METADATA_DIR, shard_split_and_subset
from .shards import file_sha256

FORMAT_VERSION = 1


@dataclass(frozen=True)
class FileEntry:
    """One published file: its path in the repository, size, SHA-256 and how many samples or rows it holds."""

    path: str
    bytes: int
    sha256: str
    samples: int


@dataclass(frozen=True)
class TreeFile:
    """A file of a local folder or a Hub repository: its size, and how to get its SHA-256 (only when needed)."""

    size: int
    sha256: Callable[[], str]


def local_tree(root: str | Path) -> dict[str, TreeFile]:
    """Every file under `root` by its POSIX path, hidden files and folders (`.build/`, `.cache/`) left out."""
    root = Path(root)
    tree = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            tree[relative.as_posix()] = TreeFile(path.stat().st_size, partial(file_sha256, path))
    return tree


@dataclass
class Manifest:
    source: str
    tool_version: str
    build: dict[str, Any]
    shards: list[FileEntry]
    metadata: list[FileEntry]
    skipped: list[Skip] = field(default_factory=list)
    filtered_out: int = 0
    #: Columns of the metadata tables (`schema.METADATA_FORMAT_VERSION`); 1 before they held byte ranges.
    metadata_format: int = METADATA_FORMAT_VERSION

    @property
    def files(self) -> list[FileEntry]:
        """Every file `verify` checks: shards and metadata tables."""
        return self.shards + self.metadata

    @property
    def samples(self) -> int:
        return sum(entry.samples for entry in self.shards)

    @property
    def bytes(self) -> int:
        return sum(entry.bytes for entry in self.files)

    def totals(self) -> dict[str, Any]:
        """Samples, bytes and shards in all, and per split and subset."""
        splits: dict[str, dict[str, dict[str, int]]] = {}
        for entry in self.shards:
            split, subset = shard_split_and_subset(entry.path)
            counts = splits.setdefault(split, {}).setdefault(subset, {"samples": 0, "bytes": 0, "shards": 0})
            counts["samples"] += entry.samples
            counts["bytes"] += entry.bytes
            counts["shards"] += 1
        return {"samples": self.samples, "bytes": self.bytes, "shards": len(self.shards), "splits": splits}

    def split_totals(self, split: str, subsets: tuple[str, ...]) -> dict[str, int]:
        """Samples, bytes and shards of one split's `subsets` (the sd and hd shards a config reads)."""
        per_subset = self.totals()["splits"].get(split, {})
        return {
            name: sum(per_subset.get(subset, {}).get(name, 0) for subset in subsets)
            for name in ("samples", "bytes", "shards")
        }

    def skipped_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(item.reason for item in self.skipped).items()))

    def mismatches(self, tree: dict[str, TreeFile]) -> list[str]:
        """Every difference between `tree` and the manifest, one line each (empty when the tree matches).

        Checked: the card and the manifest are present; every listed file is present with its size and SHA-256
        (hashed only when the size matches); no other file under data/ or metadata/ (a config's glob would load a
        stray shard).
        """
        from ..progress import progress_bar

        problems = [f"missing: {path}" for path in (CARD_FILE, MANIFEST_FILE) if path not in tree]
        with progress_bar(total=self.bytes, desc="Checking files", unit="B", unit_scale=True) as progress:
            for entry in self.files:
                found = tree.get(entry.path)
                if found is None:
                    problems.append(f"missing: {entry.path}")
                elif found.size != entry.bytes:
                    problems.append(f"size differs: {entry.path} (manifest {entry.bytes} bytes, found {found.size})")
                elif (sha256 := found.sha256()) != entry.sha256:
                    problems.append(f"sha256 differs: {entry.path} (manifest {entry.sha256}, found {sha256})")
                progress.update(entry.bytes)
        listed = {entry.path for entry in self.files}
        problems += [
            f"unexpected: {path} (not in {MANIFEST_FILE})"
            for path in sorted(tree)
            if path.split("/", 1)[0] in (DATA_DIR, METADATA_DIR) and path not in listed
        ]
        return problems

    def to_json(self) -> str:
        payload = {
            "format_version": FORMAT_VERSION,
            "tool": {"name": "openvid-hf", "version": self.tool_version},
            "source": self.source,
            "build": self.build,
            "totals": self.totals(),
            "shards": [asdict(entry) for entry in self.shards],
            "metadata": [asdict(entry) for entry in self.metadata],
            "metadata_format": self.metadata_format,
            "filtered_out": self.filtered_out,
            "skipped": {"counts": self.skipped_counts(), "items": [asdict(item) for item in self.skipped]},
        }
        return json.dumps(payload, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, origin: str = MANIFEST_FILE) -> Manifest:
        """Parse a manifest; anything else is an `OpenVidError` naming `origin`."""
        try:
            payload = json.loads(text)
            if payload.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {payload.get('format_version')!r}, expected {FORMAT_VERSION}")
            return cls(
                source=payload["source"],
                tool_version=payload["tool"]["version"],
                build=payload["build"],
                shards=[FileEntry(**entry) for entry in payload["shards"]],
                metadata=[FileEntry(**entry) for entry in payload["metadata"]],
                skipped=[Skip(**item) for item in payload["skipped"]["items"]],
                filtered_out=payload["filtered_out"],
                metadata_format=payload.get("metadata_format", 1),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise OpenVidError(f"{origin}: not a manifest written by openvid-hf build ({error})") from error


def complete_folder_manifest(out_dir: Path, plan_fingerprint: str) -> Manifest | None:
    """The manifest of `out_dir` when the folder is a complete output of the plan `plan_fingerprint` (its manifest's
    `build.plan`) whose every file still matches: what a re-run of `build` or `encode` leaves as it is."""
    path = out_dir / MANIFEST_FILE
    try:
        manifest = Manifest.from_json(path.read_bytes(), str(path))
    except (OSError, OpenVidError):
        return None
    if manifest.build.get("plan") != plan_fingerprint or manifest.mismatches(local_tree(out_dir)):
        return None
    return manifest
