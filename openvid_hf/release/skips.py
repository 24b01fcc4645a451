"""What a pass over the release left out, and why: one `Skip` per row or video, and their tally."""

from __future__ import annotations

from dataclasses import dataclass, field

from .layout import SKIP_REASONS


@dataclass(frozen=True)
class Skip:
    """A row or a video of the release left out, and why (`SKIP_REASONS`).

    `detail` says where, or what failed. The release reader reports them; a build's manifest lists them.
    """

    video: str
    reason: str
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"video": self.video, "reason": self.reason}


def skipped_phrase(counts: dict[str, int]) -> str:
    """`"4 skipped (missing 1, undecodable 3)"`: a summary line's account of skips by reason."""
    reasons = ", ".join(f"{reason} {count}" for reason, count in counts.items() if count)
    return f"{sum(counts.values())} skipped" + (f" ({reasons})" if reasons else "")


@dataclass
class SkipReport:
    """What a pass over the release yielded, filtered out and skipped."""

    yielded: int = 0
    filtered: int = 0
    without_video: int = 0
    skipped: list[Skip] = field(default_factory=list)

    def add(self, video: str, reason: str, detail: str = "") -> None:
        self.skipped.append(Skip(video, reason, detail))

    def counts(self) -> dict[str, int]:
        return {reason: sum(skip.reason == reason for skip in self.skipped) for reason in SKIP_REASONS}

    def summary(self, label: str, seconds: float) -> str:
        parts = [f"{label}: {self.yielded} rows", f"{self.filtered} filtered out"]
        if self.without_video:
            parts.append(f"{self.without_video} without video (archive null)")
        parts.append(skipped_phrase(self.counts()))
        return ", ".join(parts) + f" in {seconds:.1f} s"
