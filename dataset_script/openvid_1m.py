"""`datasets` builder for the original OpenVid-1M release, read in place from a folder or a Hub dataset repo.

datasets 4 and later no longer run loading scripts through `load_dataset(path)`, so the builder is used as a
class, or through `openvid_hf.load_release`:

    builder = OpenVid1M(config_name="hd", data_dir="hf://datasets/nkp37/OpenVid-1M", min_aesthetic_score=5.0)
    builder.download_and_prepare()
    dataset = builder.as_dataset(split="train")

Configs: `default` (every CSV row whose video is found and decodable, with the original mp4 bytes), `hd` (the
rows of OpenVidHD.csv) and `metadata` (every CSV row and the zip part holding its video, no video bytes).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
from datasets.exceptions import DatasetGenerationError

from openvid_hf.errors import OpenVidError, UsageError
from openvid_hf.release.archives import INDEX_CACHE_SUBDIR
from openvid_hf.release.filters import DEFAULT_MIN_FRAMES, ClipFilter
from openvid_hf.release.layout import CONFIGS
from openvid_hf.release.reader import ReleaseReader, check_config
from openvid_hf.release.skips import SkipReport
from openvid_hf.release.source import Release
from openvid_hf.schema import VIDEO_COLUMN, release_metadata_features, release_video_features

logger = logging.getLogger(__name__)

_VERSION = datasets.Version("1.0.0")
_HOMEPAGE = "https://huggingface.co/datasets/nkp37/OpenVid-1M"
_LICENSE = "cc-by-4.0"
_CITATION = """\
@article{nan2024openvid,
  title={OpenVid-1M: A Large-Scale High-Quality Dataset for Text-to-video Generation},
  author={Nan, Kepan and Xie, Rui and Zhou, Penghao and Fan, Tiehan and Yang, Zhenheng and Chen, Zhijie and Li,
          Xiang and Yang, Jian and Tai, Ying},
  journal={arXiv preprint arXiv:2407.02371},
  year={2024}
}
"""
_DESCRIPTIONS = {
    "default": "Every OpenVid-1M.csv row whose video is found and decodable, with the original mp4 bytes.",
    "hd": "The OpenVidHD.csv rows (1080p), read from the OpenVidHD zips, with the original mp4 bytes.",
    "metadata": "Every OpenVid-1M.csv row and the zip part holding its video; no video bytes are read.",
}


@dataclass
class OpenVid1MConfig(datasets.BuilderConfig):
    """A config plus the filters: scores and camera motion from the CSV, height and frames from the header."""

    min_aesthetic_score: float | None = None
    min_motion_score: float | None = None
    max_motion_score: float | None = None
    min_temporal_consistency_score: float | None = None
    camera_motion: frozenset[str] | tuple[str, ...] | None = None
    min_height: int | None = None
    min_frames: int = DEFAULT_MIN_FRAMES


class OpenVid1M(datasets.GeneratorBasedBuilder):
    """The original OpenVid-1M release (zip parts, split parts, HD copy, CSVs) as a `datasets` dataset.

    `data_dir` is the release: a local folder or `hf://datasets/ORG/NAME`. After a generation pass,
    `report` holds what was yielded, filtered out and skipped (reasons: `openvid_hf.release.layout.SKIP_REASONS`).
    """

    VERSION = _VERSION
    BUILDER_CONFIG_CLASS = OpenVid1MConfig
    BUILDER_CONFIGS = [
        OpenVid1MConfig(name=name, version=_VERSION, description=_DESCRIPTIONS[name]) for name in CONFIGS
    ]
    DEFAULT_CONFIG_NAME = "default"

    report: SkipReport | None = None

    def _info(self) -> datasets.DatasetInfo:
        features = release_metadata_features() if self.config.name == "metadata" else release_video_features()
        return datasets.DatasetInfo(
            description=self.config.description,
            features=features,
            homepage=_HOMEPAGE,
            license=_LICENSE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager) -> list[datasets.SplitGenerator]:
        if not self.config.data_dir:
            raise UsageError("data_dir is required: the release folder or hf://datasets/ORG/NAME")
        reader = ReleaseReader(
            Release(self.config.data_dir, storage_options=self.storage_options),
            config=self.config.name,
            filters=ClipFilter.from_object(self.config),
            min_frames=self.config.min_frames,
            index_cache_dir=Path(self._cache_dir_root) / INDEX_CACHE_SUBDIR,
        )
        reader.scan()
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"reader": reader})]

    def _generate_examples(self, reader: ReleaseReader):
        started = time.perf_counter()
        with_video = self.config.name != "metadata"
        for clip in reader.clips(read_videos=with_video):
            if with_video:
                example = {**clip.record(), VIDEO_COLUMN: {"bytes": clip.data, "path": None}}
            else:
                example = clip.metadata_record()
            yield clip.key, example
        self.report = reader.report
        summary = reader.report.summary(f"OpenVid-1M {self.config.name}", time.perf_counter() - started)
        logger.log(logging.WARNING if reader.report.skipped else logging.INFO, summary)


def load_release(
    source: str | os.PathLike,
    config: str = "default",
    streaming: bool = False,
    *,
    min_frames: int = DEFAULT_MIN_FRAMES,
    cache_dir: str | os.PathLike | None = None,
    storage_options: dict | None = None,
    download_mode: datasets.DownloadMode | str | None = None,
    **filters: Any,
) -> datasets.Dataset | datasets.IterableDataset:
    """The train split of the release at `source` (a folder or `hf://datasets/ORG/NAME`), prepared or streamed.

    Filters: `min_aesthetic_score`, `min_motion_score`, `max_motion_score`, `min_temporal_consistency_score`,
    `camera_motion` (a set of classes) and `min_height`; `min_frames` skips shorter clips as `too_short`.
    """
    check_config(config)
    unknown = sorted(set(filters) - set(ClipFilter.names()))
    if unknown:
        raise UsageError(f"unknown filter(s) {', '.join(unknown)}; the filters are {', '.join(ClipFilter.names())}")
    chosen = ClipFilter(**filters)
    if chosen.camera_motion is not None:
        filters["camera_motion"] = tuple(sorted(chosen.camera_motion))
    source = str(source)
    if "://" not in source:
        source = os.path.abspath(source)
    builder = OpenVid1M(
        config_name=config,
        data_dir=source,
        cache_dir=None if cache_dir is None else str(cache_dir),
        storage_options=storage_options,
        **({} if min_frames == DEFAULT_MIN_FRAMES else {"min_frames": min_frames}),
        **{name: value for name, value in filters.items() if value is not None},
    )
    if streaming:
        return builder.as_streaming_dataset(split=datasets.Split.TRAIN)
    try:
        builder.download_and_prepare(download_mode=download_mode)
    except DatasetGenerationError as error:
        if isinstance(error.__cause__, OpenVidError):
            raise error.__cause__ from None
        raise
    return builder.as_dataset(split=datasets.Split.TRAIN)
