"""`OUTPUT_DIR/training_log.jsonl`: one JSON line per optimizer step, written by the main process.

Each line has the step, the loss terms averaged over the global batch (every process and accumulated micro-batch),
the learning rate, and for each process (`[rank]`) the pass over its data it is in (`epochs`) and the keys of the
clips it trained on (`clips`). A resumed run first drops the lines after the checkpoint's step, so the file always
describes one run from step 1.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..atomic import write_text

LOG_FILE = "training_log.jsonl"


def read_step_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a step log; safe to call while a run appends (an unfinished last line is left out)."""
    path = Path(path)
    if not path.is_file():
        return []
    complete, _, _ = path.read_text(encoding="utf-8").rpartition("\n")
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


class StepLog:
    """Appends step records to `output_dir/training_log.jsonl`, keeping those up to `resumed_step`."""

    def __init__(self, output_dir: Path, resumed_step: int = 0) -> None:
        self.path = output_dir / LOG_FILE
        kept = [record for record in read_step_log(self.path) if record["step"] <= resumed_step]
        write_text(self.path, "".join(json.dumps(record) + "\n" for record in kept))
        self.losses = [record["loss"] for record in kept]

    def append(self, record: dict[str, Any]) -> None:
        self.losses.append(record["loss"])
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def mean_loss(self, last: int) -> float | None:
        """Mean loss of the last `last` steps (None before the first)."""
        losses = self.losses[-last:]
        return sum(losses) / len(losses) if losses else None
