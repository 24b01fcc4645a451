"""Which clips to keep, by their CSV scores and camera motion and their probed height.

Kept apart from the release reader so that the CLI and the training script declare the filter options
(`add_filter_arguments`) without importing it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..schema import CAMERA_MOTIONS

if TYPE_CHECKING:
    from ..video.decoding import VideoProbe

#: Clips with fewer frames are skipped as `too_short`; 1 keeps every decodable clip.
DEFAULT_MIN_FRAMES = 1


@dataclass(frozen=True)
class ClipFilter:
    """Which clips to keep: CSV scores and camera motion, and the height probed from the container."""

    min_aesthetic_score: float | None = None
    min_motion_score: float | None = None
    max_motion_score: float | None = None
    min_temporal_consistency_score: float | None = None
    camera_motion: frozenset[str] | None = None
    min_height: int | None = None

    def __post_init__(self):
        if isinstance(self.camera_motion, str):
            object.__setattr__(self, "camera_motion", frozenset({self.camera_motion}))
        elif self.camera_motion is not None:
            object.__setattr__(self, "camera_motion", frozenset(self.camera_motion))
        for value in sorted(self.camera_motion or ()):
            if value not in CAMERA_MOTIONS:
                raise UsageError(
                    f"unknown camera motion {value!r}; the classes of OpenVid-1M: {', '.join(CAMERA_MOTIONS)}"
                )
        for name in ("min_aesthetic_score", "min_motion_score", "max_motion_score", "min_temporal_consistency_score"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UsageError(f"{name} must be a number (got {value!r})")
        if self.min_height is not None and (isinstance(self.min_height, bool) or not isinstance(self.min_height, int)):
            raise UsageError(f"min_height must be an integer (got {self.min_height!r})")
        low, high = self.min_motion_score, self.max_motion_score
        if low is not None and high is not None and low > high:
            raise UsageError(f"min_motion_score ({low}) is above max_motion_score ({high})")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(item.name for item in fields(cls))

    @classmethod
    def from_object(cls, source: Any) -> ClipFilter:
        """The filter set on `source` (a builder config or a namespace) under the same attribute names."""
        return cls(**{name: getattr(source, name, None) for name in cls.names()})

    def accepts_row(self, row: dict[str, Any]) -> bool:
        return (
            _at_least(row["aesthetic_score"], self.min_aesthetic_score)
            and _at_least(row["motion_score"], self.min_motion_score)
            and _at_most(row["motion_score"], self.max_motion_score)
            and _at_least(row["temporal_consistency_score"], self.min_temporal_consistency_score)
            and (self.camera_motion is None or row["camera_motion"] in self.camera_motion)
        )

    def expression(self) -> str | None:
        """The same filter as a metadata filter expression (`load_subset`'s `where`), or None when it keeps all."""
        terms = [
            f"{column} {operator} {bound!r}"
            for column, operator, bound in (
                ("aesthetic_score", ">=", self.min_aesthetic_score),
                ("motion_score", ">=", self.min_motion_score),
                ("motion_score", "<=", self.max_motion_score),
                ("temporal_consistency_score", ">=", self.min_temporal_consistency_score),
                ("camera_motion", "in", None if self.camera_motion is None else sorted(self.camera_motion)),
                ("height", ">=", self.min_height),
            )
            if bound is not None
        ]
        return " and ".join(terms) or None

    def accepts_video(self, probe: VideoProbe) -> bool:
        return _at_least(probe.height, self.min_height)

    def accepts_record(self, record: dict[str, Any]) -> bool:
        """A published clip's record, which carries the scores and the probed height together."""
        return self.accepts_row(record) and _at_least(record["height"], self.min_height)


def _at_least(value: float | None, bound: float | None) -> bool:
    """A missing score (an empty CSV field) never meets a bound."""
    return bound is None or (value is not None and value >= bound)


def _at_most(value: float | None, bound: float | None) -> bool:
    return bound is None or (value is not None and value <= bound)


def kebab_case(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_filter_arguments(group: argparse._ActionsContainer, option_name: Callable[[str], str] = kebab_case) -> None:
    """The clip filters of `ClipFilter` as options (bounds inclusive).

    `option_name` spells each option: kebab-case for our commands, snake_case for the training script, whose
    arguments follow the diffusers examples. Either way the parsed attribute is the filter's own name.
    """
    for name in ClipFilter.names():
        option = option_name(name)
        if name == "camera_motion":
            group.add_argument(option, dest=name, nargs="+", default=None, metavar="CLASS", help="keep these classes")
        elif name == "min_height":
            help_text = "keep videos at least this tall (probed from the header)"
            group.add_argument(option, dest=name, type=int, default=None, metavar="PIXELS", help=help_text)
        else:
            bound = "lowest" if name.startswith("min_") else "highest"
            help_text = f"{bound} {name[4:].replace('_', ' ')} kept"
            group.add_argument(option, dest=name, type=float, default=None, metavar="X", help=help_text)
