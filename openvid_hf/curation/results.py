"""The per-clip results of each stage, kept in the work folder so a re-run skips finished work.

Each stage has one Parquet table (`{stage}.parquet`) keyed by `clip` (by `source` for the scene stage, whose rows
are the clips). Finished rows are appended in batches and the table rewritten under a temporary name, so an
interrupted run loses at most the batch in flight. Resume reads these tables from the output folder itself, not
from a journal held elsewhere. `merged` joins them into the one results table the filters read.
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
        self._rows: dict[str, list[dict[str, Any]]] = {}

    def path(self, stage: str) -> Path:
        return self.root / f"{stage}.parquet"

    def rows(self, stage: str) -> list[dict[str, Any]]:
        if stage not in self._rows:
            import pyarrow.parquet as pq

            path = self.path(stage)
            self._rows[stage] = pq.read_table(path).to_pylist() if path.is_file() else []
        return self._rows[stage]

    def done(self, stage: str, settings: str, key: str = "clip") -> set[str]:
        """The keys the stage finished with these `settings` (a model id, an algorithm): others are redone."""
        return {row[key] for row in self.rows(stage) if row.get("settings") == settings}

    def add(self, stage: str, rows: list[dict[str, Any]], settings: str, key: str = "clip") -> None:
        """Record `rows`, made with `settings`, replacing earlier rows of the same keys, and write the table out."""
        if not rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        replaced = {row[key] for row in rows}
        kept = [row for row in self.rows(stage) if row[key] not in replaced]
        self._rows[stage] = kept + [{**row, "settings": settings} for row in rows]
        with replacing(self.path(stage)) as temporary:
            pq.write_table(pa.Table.from_pylist(self.rows(stage)), temporary)

    def merged(self, stages: tuple[str, ...]) -> list[dict[str, Any]]:
        """One row per clip of the scene stage with the columns of every other stage (missing ones absent)."""
        by_clip = {row["clip"]: {k: v for k, v in row.items() if k != "settings"} for row in self.rows("scenes")}
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
