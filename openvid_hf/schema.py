"""The data contract: one table of fields, and every `datasets.Features` derived from it.

Nothing else in the project names a CSV column or a field type: readers, writers, cards and loaders
all ask this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets


@dataclass(frozen=True)
class Field:
    name: str
    dtype: str
    source: str
    description: str
    csv_column: str | None = None


FIELDS: tuple[Field, ...] = (
    Field("key", "string", "build", "9-digit position of the clip after the seeded global shuffle"),
    Field("video", "string", "CSV", "original mp4 file name", "video"),
    Field("caption", "string", "CSV", "the clip's caption", "caption"),
    Field("aesthetic_score", "float32", "CSV", "aesthetic score", "aesthetic score"),
    Field("motion_score", "float32", "CSV", "motion score (optical flow)", "motion score"),
    Field(
        "temporal_consistency_score",
        "float32",
        "CSV",
        "temporal consistency score (CLIP similarity of adjacent frames)",
        "temporal consistency score",
    ),
    Field("camera_motion", "string", "CSV", "camera motion class", "camera motion"),
    Field("frame", "int32", "CSV", "frame count given by the release", "frame"),
    Field("fps", "float32", "CSV", "frames per second given by the release", "fps"),
    Field("seconds", "float32", "CSV", "duration in seconds given by the release", "seconds"),
    Field("width", "int32", "container", "width in pixels, probed from the container header"),
    Field("height", "int32", "container", "height in pixels, probed from the container header"),
    Field("num_frames", "int32", "container", "frame count, probed from the container header"),
    Field("hd", "bool", "OpenVidHD.csv", "the clip is in the OpenVidHD subset"),
    Field("sha256", "string", "mp4 bytes", "SHA-256 of the original mp4 bytes"),
)

FIELDS_BY_NAME = {field.name: field for field in FIELDS}
FIELD_NAMES = tuple(field.name for field in FIELDS)
FLOAT32_FIELDS = frozenset(field.name for field in FIELDS if field.dtype == "float32")

#: The original CSV header, in order, and its mapping to field names.
CSV_HEADER: tuple[str, ...] = tuple(field.csv_column for field in FIELDS if field.csv_column)
CSV_TO_FIELD = {field.csv_column: field.name for field in FIELDS if field.csv_column}
CSV_FIELDS = tuple(CSV_TO_FIELD.values())

#: The `camera motion` classes of OpenVid-1M (arXiv 2407.02371): the values the camera motion filter accepts.
CAMERA_MOTIONS: tuple[str, ...] = (
    "static",
    "pan_left",
    "pan_right",
    "tilt_up",
    "tilt_down",
    "zoom_in",
    "zoom_out",
    "Undetermined",
)

#: Extra columns of the metadata table (`metadata/{split}.parquet`): where each clip lives in the shards.
METADATA_LOCATION_FIELDS = (
    Field("shard", "string", "build", "path of the WebDataset shard in the repository"),
    Field("member", "string", "build", "name of the clip's mp4 member inside the shard"),
)

#: Extra column of the loading script's `metadata` config: the zip part holding the video.
ARCHIVE_FIELD = Field("archive", "string", "release", "zip part that holds the video (null when missing)")

#: Column names plain `datasets` gives a WebDataset shard: `{key}.mp4` and `{key}.json` members.
VIDEO_COLUMN = "mp4"
RECORD_COLUMN = "json"

#: The members of a published sample, in the order a shard holds them.
MEMBER_EXTENSIONS = (RECORD_COLUMN, VIDEO_COLUMN)


def member_offset_column(extension: str) -> str:
    """The metadata column holding where the `{key}.{extension}` member's data starts inside its shard."""
    return f"{extension}_offset"


def member_size_column(extension: str) -> str:
    """The metadata column holding the byte size of the `{key}.{extension}` member's data."""
    return f"{extension}_size"


def member_range_fields(extensions: tuple[str, ...] = MEMBER_EXTENSIONS) -> tuple[Field, ...]:
    """Byte offset and size of each member's data in its tar, so a subset is read with range requests."""
    fields: list[Field] = []
    for extension in extensions:
        fields.append(
            Field(
                member_offset_column(extension), "int64", "build", f"byte offset of the .{extension} data in the shard"
            )
        )
        fields.append(Field(member_size_column(extension), "int64", "build", f"byte size of the .{extension} member"))
    return tuple(fields)


def ranged_extensions(column_names: list[str]) -> list[str]:
    """The member extensions whose offset and size columns a metadata table has, in column order."""
    suffix = member_offset_column("")
    return [
        name[: -len(suffix)]
        for name in column_names
        if name.endswith(suffix) and member_size_column(name[: -len(suffix)]) in column_names
    ]


#: Version of the metadata table's columns, recorded in the manifest: 1 had no byte ranges, 2 has
#: `member_range_fields()` (`openvid-hf index` brings a version-1 repository to version 2).
METADATA_FORMAT_VERSION = 2

_PYTHON_TYPES = {"string": str, "float32": float, "int32": int, "bool": bool}


def _features(fields: tuple[Field, ...]) -> datasets.Features:
    from datasets import Features, Value

    return Features({field.name: Value(field.dtype) for field in fields})


def record_features() -> datasets.Features:
    """The fields of one clip: the `json` struct of a published shard."""
    return _features(FIELDS)


def published_features() -> datasets.Features:
    """What plain `datasets.load_dataset` gives for a published repository (both configs)."""
    from datasets import Features, Value, Video

    return Features(
        {
            "__key__": Value("string"),
            "__url__": Value("string"),
            VIDEO_COLUMN: Video(),
            RECORD_COLUMN: record_features(),
        }
    )


def metadata_table_features(with_ranges: bool = True) -> datasets.Features:
    """The metadata table: every clip field, its shard path and member name and (format 2) its members' byte ranges."""
    return _features(FIELDS + METADATA_LOCATION_FIELDS + (member_range_fields() if with_ranges else ()))


def release_video_features() -> datasets.Features:
    """The loading script's `default` and `hd` configs: the clip fields and the video itself."""
    from datasets import Video

    features = record_features()
    features[VIDEO_COLUMN] = Video()
    return features


def release_metadata_features() -> datasets.Features:
    """The loading script's `metadata` config: CSV fields, `hd` and the archive, no video bytes."""
    names = ("key", *CSV_FIELDS, "hd")
    return _features((*tuple(FIELDS_BY_NAME[name] for name in names), ARCHIVE_FIELD))


#: Scores a release may leave empty, read as missing (None, a null in Arrow): those a curation run did not compute
#: (`openvid-hf curate --skip-model-stages` or `--steps`). An empty caption or camera motion stays "".
OPTIONAL_SCORE_FIELDS = frozenset({"aesthetic_score", "motion_score", "temporal_consistency_score"})


def csv_parser(field_name: str) -> Callable[[str], str | float | int | None]:
    """The function converting the field's CSV cells to its Python type (looked up once, used for every row); it
    raises ValueError naming the column. An empty optional score is None."""
    python_type = _PYTHON_TYPES[FIELDS_BY_NAME[field_name].dtype]
    if python_type is str:
        return str
    column = FIELDS_BY_NAME[field_name].csv_column
    optional = field_name in OPTIONAL_SCORE_FIELDS

    def parse(text: str) -> float | int | None:
        if optional and not text.strip():
            return None
        try:
            return int(float(text)) if python_type is int else python_type(text)
        except ValueError as error:
            raise ValueError(f"column {column!r}: not a number: {text!r}") from error

    return parse


def rounded_to_float32(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with its float32 fields rounded to float32, as Arrow stores them.

    Records carry the rounded values everywhere (shards' JSON, the loading script's examples), so a stream, which
    `datasets` does not cast, yields the same numbers as a prepared dataset.
    """
    import numpy as np

    return {
        name: float(np.float32(value)) if name in FLOAT32_FIELDS and value is not None else value
        for name, value in values.items()
    }


def format_key(index: int) -> str:
    """The 9-digit key of the clip at `index`."""
    return f"{index:09d}"
