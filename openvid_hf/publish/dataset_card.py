"""The dataset card of a built folder: configs and features for its YAML, statistics computed from the metadata
tables, and the skips and build settings recorded in `manifest.json`.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..cards import CARD_FILE, format_bytes, render_card, write_card
from ..schema import FIELDS, RECORD_COLUMN, VIDEO_COLUMN, published_features
from .layout import CONFIG_SUBSETS, DEFAULT_CONFIG, MANIFEST_FILE, config_data_files
from .manifest import Manifest

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa
    from huggingface_hub import DatasetCard

DATASET_CARD_TEMPLATE = "dataset_card.md.jinja"
PRETTY_NAME = "OpenVid-1M"
#: The Hub's size categories, by their upper bound.
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
)
SKIP_REASON_MEANINGS = {
    "missing": "a CSV row whose video is in no zip part",
    "not_in_csv": "a video in the zip parts with no CSV row",
    "undecodable": "a member that cannot be extracted, or whose container header cannot be read",
    "too_short": "fewer frames than the build's minimum",
    "unsafe_name": "a zip member named with an absolute path or `..` (never used)",
}
#: Skipped items listed one by one in the card; `manifest.json` lists them all.
LISTED_SKIPS = 20
DISTRIBUTION_FIELDS = ("aesthetic_score", "motion_score", "temporal_consistency_score", "seconds", "num_frames", "fps")
#: The metadata columns the card's statistics read (captions and hashes are left on disk).
STATISTICS_COLUMNS = ("width", "height", "camera_motion", "hd", *DISTRIBUTION_FIELDS)
LISTED_RESOLUTIONS = 10


def size_category(count: int) -> str:
    return next((name for bound, name in SIZE_CATEGORIES if count < bound), "n>100M")


def dataset_card(out_dir: str | Path, repo_id: str, manifest: Manifest | None = None) -> DatasetCard:
    """The card of a built folder, its loading snippets naming `repo_id` (a Hub repo id or a local path).

    `manifest` defaults to the folder's `manifest.json`; the build passes the one it is about to write.
    """
    import pyarrow.parquet as pq
    from huggingface_hub import DatasetCard, DatasetCardData

    out_dir = Path(out_dir)
    if manifest is None:
        manifest = Manifest.from_json((out_dir / MANIFEST_FILE).read_bytes(), str(out_dir / MANIFEST_FILE))
    tables = {
        PurePosixPath(entry.path).stem: pq.read_table(out_dir / entry.path, columns=list(STATISTICS_COLUMNS))
        for entry in manifest.metadata
    }
    data_files = config_data_files(entry.path for entry in manifest.shards)
    card_data = DatasetCardData(
        pretty_name=PRETTY_NAME,
        license="cc-by-4.0",
        language=["en"],
        task_categories=["text-to-video"],
        size_categories=[size_category(manifest.samples)],
        tags=["video", "webdataset"],
        configs=[
            {"config_name": name, "data_files": files} | ({"default": True} if name == DEFAULT_CONFIG else {})
            for name, files in data_files.items()
        ],
    )
    dataset_infos(manifest, data_files, published_features()).to_dataset_card_data(card_data)
    return render_card(
        DatasetCard,
        DATASET_CARD_TEMPLATE,
        card_data,
        repo_id=repo_id,
        manifest=manifest,
        contents=_contents(manifest, tables, data_files),
        total_hours=sum(_hours(table) for table in tables.values()),
        resolutions=_resolutions(tables.values()),
        distributions=_distributions(tables.values()),
        camera_motions=Counter(value for table in tables.values() for value in table["camera_motion"].to_pylist()),
        fields=FIELDS,
        format_bytes=format_bytes,
        video_column=VIDEO_COLUMN,
        record_column=RECORD_COLUMN,
        skip_counts=manifest.skipped_counts(),
        skip_meanings=SKIP_REASON_MEANINGS,
        listed_skips=manifest.skipped[:LISTED_SKIPS],
    )


def write_dataset_card(out_dir: str | Path, repo_id: str, manifest: Manifest | None = None) -> bool:
    return write_card(dataset_card(out_dir, repo_id, manifest), Path(out_dir) / CARD_FILE)


def dataset_infos(manifest: Manifest, data_files: dict[str, list[dict]], features: datasets.Features):
    """`dataset_info` of each config: `features` and each split's sample count and bytes."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict

    infos = DatasetInfosDict()
    for config in data_files:
        splits = SplitDict()
        for entry in data_files[config]:
            totals = manifest.split_totals(entry["split"], CONFIG_SUBSETS[config])
            splits.add(SplitInfo(name=entry["split"], num_bytes=totals["bytes"], num_examples=totals["samples"]))
        infos[config] = DatasetInfo(
            config_name=config,
            features=features,
            splits=splits,
            download_size=sum(split.num_bytes for split in splits.values()),
        )
    return infos


def _contents(manifest: Manifest, tables: dict[str, pa.Table], data_files: dict[str, list[dict]]) -> list[dict]:
    """One row per config and split: clips, hours, shards and bytes."""
    rows = []
    for config, entries in data_files.items():
        subsets = CONFIG_SUBSETS[config]
        for entry in entries:
            split = entry["split"]
            totals = manifest.split_totals(split, subsets)
            table = tables[split] if "sd" in subsets else tables[split].filter(tables[split]["hd"])
            rows.append(
                {
                    "config": config,
                    "split": split,
                    "clips": totals["samples"],
                    "hours": _hours(table),
                    "shards": totals["shards"],
                    "size": format_bytes(totals["bytes"]),
                }
            )
    return rows


def _hours(table: pa.Table) -> float:
    import pyarrow.compute as pc

    return (pc.sum(table["seconds"]).as_py() or 0.0) / 3600


def _resolutions(tables) -> list[dict]:
    sizes = Counter(
        f"{width}×{height}"
        for table in tables
        for width, height in zip(table["width"].to_pylist(), table["height"].to_pylist(), strict=True)
    )
    total = sum(sizes.values()) or 1
    return [
        {"resolution": size, "clips": count, "share": count / total}
        for size, count in sizes.most_common(LISTED_RESOLUTIONS)
    ]


def _distributions(tables) -> list[dict]:
    """Min, quartiles, max and mean of the scores, durations and frame counts over every published clip.

    Missing scores (a curated release without its model stages) are left out; a field with none is not listed.
    """
    import numpy as np

    tables = list(tables)
    rows = []
    for name in DISTRIBUTION_FIELDS:
        values = np.concatenate([table[name].to_numpy(zero_copy_only=False) for table in tables]).astype(np.float64)
        values = values[~np.isnan(values)]
        if not len(values):
            continue
        quantiles = np.quantile(values, (0.0, 0.25, 0.5, 0.75, 1.0))
        rows.append({"field": name, "quantiles": quantiles.tolist(), "mean": float(values.mean())})
    return rows
