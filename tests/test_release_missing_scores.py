"""Empty score fields (a release curated without the model stages) read as missing values, and filters on them."""

from __future__ import annotations

import pytest

from openvid_hf.release.filters import ClipFilter
from openvid_hf.schema import OPTIONAL_SCORE_FIELDS, csv_parser, rounded_to_float32


def parse_csv_value(name: str, text: str):
    return csv_parser(name)(text)


@pytest.mark.parametrize("name", sorted(OPTIONAL_SCORE_FIELDS))
def test_an_empty_score_is_missing(name):
    assert parse_csv_value(name, "") is None
    assert parse_csv_value(name, " ") is None
    assert parse_csv_value(name, "4.5") == 4.5


@pytest.mark.parametrize(("name", "text"), [("frame", ""), ("fps", ""), ("aesthetic_score", "n/a")])
def test_other_empty_or_bad_numbers_are_still_errors(name, text):
    with pytest.raises(ValueError, match="not a number"):
        parse_csv_value(name, text)


def test_missing_scores_pass_through_rounding_and_never_meet_a_bound():
    row = rounded_to_float32(
        {"aesthetic_score": None, "motion_score": 3.0, "temporal_consistency_score": None, "camera_motion": ""}
    )
    assert row["aesthetic_score"] is None and row["motion_score"] == 3.0
    assert ClipFilter().accepts_row(row)
    assert ClipFilter(min_motion_score=1.0, max_motion_score=5.0).accepts_row(row)
    assert not ClipFilter(min_aesthetic_score=1.0).accepts_row(row)
    assert not ClipFilter(max_motion_score=5.0).accepts_row({**row, "motion_score": None})
