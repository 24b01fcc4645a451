"""Where every file of a published dataset repository lives (DESIGN.md's layout), and the configs over it.

`openvid-hf build` writes this layout, the dataset card declares its configs, `push`/`verify` check it and
`load_metadata` reads it: all of them take paths and patterns from here.
"""

from __future__ import annotations

from collections.abc import Iterable

MANIFEST_FILE = "manifest.json"
DATA_DIR = "data"
METADATA_DIR = "metadata"
SPLITS = ("train", "validation")
#: Shard folders by quality: `hd` holds the clips of OpenVidHD.csv, `sd` every other clip.
SUBSETS = ("sd", "hd")
#: Config name -> the subsets whose shards it reads. `default` is every clip, `hd` the HD subset.
CONFIG_SUBSETS = {"default": ("sd", "hd"), "hd": ("hd",)}
DEFAULT_CONFIG = "default"
#: Shards per numbered folder: the Hub recommends fewer than 10,000 files a folder, DESIGN.md 5,000.
SHARDS_PER_FOLDER = 1000
SHARD_SUFFIX = ".tar"

# Build defaults, here so that the CLI parser shows them without importing the build's dependencies.
#: `datasets.load_dataset("openvid-1m")` loads a default build from the folder it was run in.
DEFAULT_OUT_DIR = "openvid-1m"
DEFAULT_SHARD_SIZE = "1GB"
DEFAULT_SEED = 42
#: Default validation split: this many clips, at most 1 % of the rows.
DEFAULT_VALIDATION_SIZE = 1000


def subset_of(hd: bool) -> str:
    return "hd" if hd else "sd"


def shard_path(split: str, subset: str, index: int) -> str:
    """`data/train/sd/0000/train-sd-000042.tar`: self-describing names, `SHARDS_PER_FOLDER` a folder."""
    return f"{DATA_DIR}/{split}/{subset}/{index // SHARDS_PER_FOLDER:04d}/{split}-{subset}-{index:06d}{SHARD_SUFFIX}"


def shard_pattern(split: str, subset: str) -> str:
    return f"{DATA_DIR}/{split}/{subset}/*/*{SHARD_SUFFIX}"


def metadata_path(split: str) -> str:
    return f"{METADATA_DIR}/{split}.parquet"


def shard_split_and_subset(path: str) -> tuple[str, str]:
    """`(split, subset)` of a path made by `shard_path`."""
    _, split, subset, *_ = path.split("/")
    return split, subset


def config_data_files(shard_paths: Iterable[str]) -> dict[str, list[dict[str, str | list[str]]]]:
    """Each config's YAML `data_files`: its splits, each with the patterns of the subsets that have shards.

    Splits and configs without any shard are left out: `datasets` fails on a pattern that matches nothing.
    """
    present = {shard_split_and_subset(path) for path in shard_paths}
    configs = {}
    for config, subsets in CONFIG_SUBSETS.items():
        data_files = []
        for split in SPLITS:
            patterns = [shard_pattern(split, subset) for subset in subsets if (split, subset) in present]
            if patterns:
                data_files.append({"split": split, "path": patterns if len(patterns) > 1 else patterns[0]})
        if data_files:
            configs[config] = data_files
    return configs
