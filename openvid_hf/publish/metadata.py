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
    """The metadata table of `split` (every clip field, its shard and member) from a built folder or a Hub repo."""
    from datasets import Dataset

    location = parse_target(repo_or_dir)
    relative = metadata_path(split)
    if isinstance(location, Path):
        path = location / relative
        if not path.is_file():
            splits = sorted(found.stem for found in (location / METADATA_DIR).glob("*.parquet"))
            raise OpenVidError(f"{location}: no {relative} (splits: {', '.join(splits) or 'none'})")
    else:
        from huggingface_hub import HfApi

        api = HfApi()
        path = download(api, location, relative, commit_sha(api, location, revision))
    return Dataset.from_parquet(str(path), features=metadata_table_features())
