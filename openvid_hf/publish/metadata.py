"""`load_metadata`: the metadata table of a split as a `datasets.Dataset`, to filter by score without videos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OpenVidError
from ..schema import metadata_table_features
from .layout import METADATA_DIR, metadata_path
from .verify import commit_sha, download, parse_target

if TYPE_CHECKING:
    import datasets


def load_metadata(
    repo_or_dir: str | os.PathLike, split: str = "train", revision: str | None = None
) -> datasets.Dataset:
    """The metadata table of `split` (clip fields, shard, member, byte ranges) from a folder or a Hub repo."""
    import pyarrow.parquet as pq
    from datasets import Dataset

    location = parse_target(repo_or_dir)
    if not isinstance(location, Path):
        from huggingface_hub import HfApi

        revision = commit_sha(HfApi(), location, revision)
    path = metadata_file(location, split, revision)
    # A table of metadata format 1 (before `openvid-hf index`) has no byte ranges: load what it has.
    with_ranges = set(metadata_table_features()).issubset(pq.read_schema(path).names)
    return Dataset.from_parquet(str(path), features=metadata_table_features(with_ranges))


def metadata_file(location: Path | str, split: str, commit: str | None = None) -> Path:
    """The local path of `metadata/{split}.parquet` of a folder, or of a Hub repo at `commit` (downloaded)."""
    relative = metadata_path(split)
    if isinstance(location, Path):
        path = location / relative
        if not path.is_file():
            splits = sorted(found.stem for found in (location / METADATA_DIR).glob("*.parquet"))
            raise OpenVidError(f"{location}: no {relative} (splits: {', '.join(splits) or 'none'})")
        return path
    from huggingface_hub import HfApi

    return Path(download(HfApi(), location, relative, commit))
