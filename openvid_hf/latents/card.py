"""The card of a latent dataset: the published layout's configs, the latent features, and what produced them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..cards import CARD_FILE, format_bytes, render_card, write_card
from ..publish.dataset_card import dataset_infos, size_category
from ..publish.layout import DEFAULT_CONFIG, config_data_files
from .layout import LatentSettings, latent_features

if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

    from ..publish.manifest import Manifest

LATENT_CARD_TEMPLATE = "latent_dataset_card.md.jinja"


def latent_card(repo_id: str, manifest: Manifest) -> DatasetCard:
    """The card of a latent dataset, its snippets naming `repo_id` (a Hub repo id or a local path)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    settings = LatentSettings.from_manifest(manifest, repo_id)
    data_files = config_data_files(entry.path for entry in manifest.shards)
    card_data = DatasetCardData(
        pretty_name="OpenVid-1M latents",
        license="cc-by-4.0",
        language=["en"],
        task_categories=["text-to-video"],
        size_categories=[size_category(manifest.samples)],
        tags=["video", "webdataset", "latents"],
        configs=[
            {"config_name": name, "data_files": files} | ({"default": True} if name == DEFAULT_CONFIG else {})
            for name, files in data_files.items()
        ],
    )
    dataset_infos(manifest, data_files, latent_features(settings)).to_dataset_card_data(card_data)
    source = settings.source
    return render_card(
        DatasetCard,
        LATENT_CARD_TEMPLATE,
        card_data,
        repo_id=repo_id,
        manifest=manifest,
        settings=settings,
        source=source,
        source_url=source["dataset"] if Path(source["dataset"]).exists() else f"../{source['dataset']}",
        latent_shape=str(settings.latent_shape),
        format_bytes=format_bytes,
        skip_counts=manifest.skipped_counts(),
    )


def write_latent_card(out_dir: str | Path, repo_id: str, manifest: Manifest) -> bool:
    return write_card(latent_card(repo_id, manifest), Path(out_dir) / CARD_FILE)
