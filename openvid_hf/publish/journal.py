"""The resume journal of an unfinished build (`OUT_DIR/.build/`): each finished shard with its SHA-256, for one plan.

A re-run reuses a shard whose file still has the recorded checksum; the journal is removed when the build completes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..release.skips import Skip
from .manifest import FileEntry
from .shards import file_sha256

#: Where an unfinished build records its finished shards.
JOURNAL_DIR = ".build"


@dataclass
class ShardResult:
    """A written (or reused) shard: what the manifest lists, what it dropped, and its metadata rows."""

    path: str
    samples: int = 0
    bytes: int = 0
    sha256: str = ""
    filtered: int = 0
    skipped: list[Skip] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)
    reused: bool = False

    def entry(self) -> FileEntry:
        return FileEntry(self.path, self.bytes, self.sha256, self.samples)

    def is_intact(self, folder: Path) -> bool:
        """Whether the shard's file in `folder` still has this result's size and SHA-256: a finished shard to reuse."""
        path = folder / self.path
        return path.is_file() and path.stat().st_size == self.bytes and file_sha256(path) == self.sha256

    def to_journal(self) -> dict[str, Any]:
        payload = asdict(self.entry()) | {"filtered": self.filtered}
        return payload | {"skipped": [asdict(skip) for skip in self.skipped]}

    @classmethod
    def from_journal(cls, payload: dict[str, Any]) -> ShardResult:
        payload = dict(payload)
        skipped = [Skip(**skip) for skip in payload.pop("skipped")]
        return cls(**payload, skipped=skipped)


class BuildJournal:
    """The shards an unfinished build has completed, for the plan it was building (`OUT_DIR/.build/`)."""

    def __init__(self, out_dir: Path):
        self.directory = out_dir / JOURNAL_DIR

    def exists(self) -> bool:
        return self.directory.is_dir()

    def start(self, fingerprint: str) -> dict[str, ShardResult]:
        """The finished shards of this plan; a journal of another plan is discarded."""
        plan_file = self.directory / "plan.json"
        try:
            same_plan = json.loads(plan_file.read_text(encoding="utf-8"))["plan"] == fingerprint
        except (OSError, ValueError, KeyError, TypeError):
            same_plan = False
        if not same_plan:
            self.remove()
            write_text(plan_file, json.dumps({"plan": fingerprint}) + "\n")
            return {}
        finished = {}
        for path in sorted((self.directory / "shards").glob("*.json")):
            try:
                result = ShardResult.from_journal(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            finished[result.path] = result
        return finished

    def record(self, result: ShardResult) -> None:
        name = result.path.replace("/", "--") + ".json"
        write_text(self.directory / "shards" / name, json.dumps(result.to_journal(), ensure_ascii=False))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
