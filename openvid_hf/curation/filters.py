"""Which curated clips are kept: the thresholds, their defaults, and one reported reason for every dropped clip.

Thresholds compare a stage's score with a bound; a clip whose stage did not run (its score is missing) is never
dropped by that stage's thresholds. The first failed threshold, in `THRESHOLDS` order, is the reason reported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ..errors import UsageError


@dataclass(frozen=True)
class Thresholds:
    """Inclusive bounds on the per-clip scores (docs/curation.md gives each default's origin)."""

    min_seconds: float | None = 2.0
    max_seconds: float | None = None
    min_motion_score: float | None = 0.3
    max_motion_score: float | None = 20.0
    min_clarity_score: float | None = 50.0
    min_aesthetic_score: float | None = 4.5
    min_temporal_consistency_score: float | None = 0.9
    max_temporal_consistency_score: float | None = 0.9995

    @classmethod
    def parse(cls, text: str | None) -> Thresholds:
        """`name=value,...` over the defaults; `name=none` switches a threshold off."""
        thresholds = cls()
        names = {item.name for item in fields(cls)}
        for item in (text or "").split(","):
            if not item.strip():
                continue
            name, _, value = item.partition("=")
            name = name.strip().replace("-", "_")
            if name not in names or not value:
                raise UsageError(
                    f"--thresholds: {item.strip()!r} is not NAME=VALUE with NAME one of {', '.join(sorted(names))}"
                )
            try:
                number = None if value.strip().lower() == "none" else float(value)
            except ValueError:
                raise UsageError(f"--thresholds: {name}={value!r} is not a number or 'none'") from None
            if number is not None and not math.isfinite(number):
                raise UsageError(f"--thresholds: {name}={value!r} is not finite")
            thresholds = replace(thresholds, **{name: number})
        return thresholds

    def to_json(self) -> dict[str, float | None]:
        return asdict(self)


#: (threshold, score column, reason when the bound fails), in the order drops are reported.
THRESHOLDS: tuple[tuple[str, str, str], ...] = (
    ("min_seconds", "seconds", "too_short"),
    ("max_seconds", "seconds", "too_long"),
    ("min_motion_score", "motion_score", "low_motion"),
    ("max_motion_score", "motion_score", "high_motion"),
    ("min_clarity_score", "clarity_score", "low_clarity"),
    ("min_aesthetic_score", "aesthetic_score", "low_aesthetic"),
    ("min_temporal_consistency_score", "temporal_consistency_score", "low_temporal_consistency"),
    ("max_temporal_consistency_score", "temporal_consistency_score", "high_temporal_consistency"),
)


@dataclass(frozen=True)
class Drop:
    """A clip left out of the release: which threshold it failed, its score and the bound."""

    clip: str
    reason: str
    score: float
    threshold: str
    bound: float

    def line(self) -> str:
        relation = "<" if self.threshold.startswith("min_") else ">"
        score = self.threshold.removeprefix("min_").removeprefix("max_")
        return f"{self.reason:<26} {self.clip}  ({score} {self.score:.4g} {relation} {self.bound:g})"


def drop_reason(row: dict[str, Any], thresholds: Thresholds) -> Drop | None:
    """The first threshold `row` fails, or None when the clip is kept."""
    for name, column, reason in THRESHOLDS:
        bound = getattr(thresholds, name)
        score = row.get(column)
        if bound is None or score is None or (isinstance(score, float) and math.isnan(score)):
            continue
        if (score < bound) if name.startswith("min_") else (score > bound):
            return Drop(clip=row["clip"], reason=reason, score=float(score), threshold=name, bound=bound)
    return None
