"""The per-clip results of each stage, kept in the work folder so a re-run skips finished work.

Each stage has a folder of Parquet parts (`{stage}/part-NNNNNN.parquet`), one written per batch of finished rows
under a temporary name, so an interrupted run loses at most the batch in flight and a batch costs the same at the
millionth clip as at the first. Rows carry the settings that made them (an algorithm, a model id); a key (a clip,
or a source video for the scene stage, whose rows are the clips) redone later is read from its newest part.
Resume reads these tables from the output folder itself, not from a journal held elsewhere. `merged` joins them
into the one results table the filters read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..atomic import replacing

#: The work folder inside OUT: hidden, so the release reader (which lists zip parts and CSVs) never sees it.
WORK_DIR = ".curation"
CLIPS_DIR = "clips"
#: The table of every clip with every score and whether it was kept (`merged` + the filters' verdict).
RESULTS_TABLE = "results.parquet"


class ResultStore:
    """The stage tables of one work folder."""

    def __init__(self, work_dir: str | Path):
        self.root = Path(work_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self._parts: dict[str, list[list[dict[str, Any]]]] = {}

    def _read_parts(self, stage: str) -> list[list[dict[str, Any]]]:
        if stage not in self._parts:
            import pyarrow.parquet as pq

            folder = self.root / stage
            paths = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
            self._parts[stage] = [pq.read_table(path).to_pylist() for path in paths]
        return self._parts[stage]

    def rows(self, stage: str, key: str = "clip") -> list[dict[str, Any]]:
        """The stage's rows, each key's from the newest part that has it."""
        newest: dict[str, list[dict[str, Any]]] = {}
        for part in self._read_parts(stage):
            redone: dict[str, list[dict[str, Any]]] = {}
            for row in part:
                redone.setdefault(row[key], []).append(row)
            newest.update(redone)
        return [row for rows in newest.values() for row in rows]

    def done(self, stage: str, settings: str, key: str = "clip") -> set[str]:
        """The keys the stage finished with these `settings` (a model id, an algorithm): others are redone."""
        return {row[key] for row in self.rows(stage, key) if row.get("settings") == settings}

    def add(self, stage: str, rows: list[dict[str, Any]], settings: str) -> None:
        """Record `rows`, made with `settings`, as the stage's next part."""
        if not rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self._read_parts(stage)
        part = [{**row, "settings": settings} for row in rows]
        with replacing(self.root / stage / f"part-{len(parts):06d}.parquet") as temporary:
            pq.write_table(pa.Table.from_pylist(part), temporary)
        parts.append(part)

    def merged(self, stages: tuple[str, ...]) -> list[dict[str, Any]]:
        """One row per clip of the scene stage with the columns of every other stage (missing ones absent)."""
        by_clip = {
            row["clip"]: {key: value for key, value in row.items() if key != "settings"}
            for row in self.rows("scenes", key="source")
        }
        for stage in stages:
            for row in self.rows(stage):
                if row["clip"] in by_clip:
                    values = {key: value for key, value in row.items() if value is not None and key != "settings"}
                    by_clip[row["clip"]].update(values)
        return [by_clip[name] for name in sorted(by_clip)]

    def write_results(self, rows: list[dict[str, Any]]) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.root / RESULTS_TABLE
        with replacing(path) as temporary:
            pq.write_table(pa.Table.from_pylist(rows), temporary)
        return path
