"""What a latent dataset holds: its members, their declared features, and the settings that produced it.

A latent dataset mirrors the published dataset it was encoded from: the same paths (`data/{split}/{sd,hd}/...`),
configs (`default`, `hd`), manifest and card, with these members per sample instead of the mp4:

- `json`: the source clip's record (every field of the data contract) and `prompt_length`, its caption's tokens;
- `latent_mean.npy`, `latent_logvar.npy`: the VAE posterior of each frame, `[C, T, h, w]`, unscaled;
- `prompt_embeds.npy`: T5's hidden states of the caption's real tokens, `[prompt_length, D]` (padding is zeros
  with a zero mask: the transformer never attends to it).

`datasets` decodes `.npy` members itself, so the declared features load with plain `load_dataset(repo)`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OpenVidError
from ..publish.layout import MANIFEST_FILE
from ..schema import RECORD_COLUMN, record_features
from .encoders import EncoderIdentity

if TYPE_CHECKING:
    import datasets

    from ..publish.manifest import Manifest

LATENT_MEAN = "latent_mean.npy"
LATENT_LOGVAR = "latent_logvar.npy"
PROMPT_EMBEDS = "prompt_embeds.npy"
#: The record's count of the caption's real tokens (the rows of `prompt_embeds.npy`).
PROMPT_LENGTH = "prompt_length"
#: `manifest.json`'s `build.kind` of a latent dataset (a published dataset of clips has none).
KIND = "latents"
#: numpy has no bfloat16: float32 keeps the posterior bit for bit, float16 halves the size.
STORAGE_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class LatentSettings:
    """Everything that decides a latent dataset's content: sampling, encoders, shapes, and the source dataset.

    Recorded in the manifest's `build` and in the card; a trainer refuses latents whose settings do not fit it.
    """

    num_frames: int
    frame_interval: int
    resolution: int
    seed: int
    dtype: str
    latent_channels: int
    latent_size: int
    scaling_factor: float
    text_channels: int
    max_text_length: int
    vae: EncoderIdentity
    text_encoder: EncoderIdentity
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def latent_shape(self) -> tuple[int, int, int, int]:
        """`[C, T, h, w]` of a posterior's mean or log-variance."""
        return (self.latent_channels, self.num_frames, self.latent_size, self.latent_size)

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.update(kind=KIND, vae=self.vae.to_json(), text_encoder=self.text_encoder.to_json())
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> LatentSettings:
        values = {name: value for name, value in payload.items() if name in cls.__dataclass_fields__}
        values["vae"] = EncoderIdentity.from_json(values["vae"])
        values["text_encoder"] = EncoderIdentity.from_json(values["text_encoder"])
        return cls(**values)

    @classmethod
    def from_manifest(cls, manifest: Manifest, origin: str) -> LatentSettings:
        """The settings a latent dataset's manifest records; an `OpenVidError` naming `origin` for any other."""
        if manifest.build.get("kind") != KIND:
            raise OpenVidError(f"{origin}: not a latent dataset (written by `openvid-hf build`, not `encode`)")
        try:
            return cls.from_json(manifest.build)
        except (KeyError, TypeError) as error:
            raise OpenVidError(f"{origin}: unreadable latent settings in its manifest ({error})") from None

    def fingerprint(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


def is_latent_folder(folder: str | os.PathLike) -> bool:
    """True when `folder` holds a latent dataset's manifest (False for anything else: the caller reports that)."""
    try:
        return json.loads(Path(folder, MANIFEST_FILE).read_text(encoding="utf-8"))["build"].get("kind") == KIND
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def record_with_prompt_features() -> datasets.Features:
    from datasets import Value

    features = record_features()
    features[PROMPT_LENGTH] = Value("int32")
    return features


def latent_features(settings: LatentSettings) -> datasets.Features:
    """The declared columns of a latent dataset (what `load_dataset` gives, with `__key__` and `__url__`)."""
    from datasets import Array2D, Array4D, Features, Value

    return Features(
        {
            "__key__": Value("string"),
            "__url__": Value("string"),
            RECORD_COLUMN: record_with_prompt_features(),
            LATENT_MEAN: Array4D(settings.latent_shape, settings.dtype),
            LATENT_LOGVAR: Array4D(settings.latent_shape, settings.dtype),
            PROMPT_EMBEDS: Array2D((None, settings.text_channels), settings.dtype),
        }
    )


def read_settings(name: str, revision: str | None = None) -> LatentSettings:
    """The settings of the latent dataset at `name` (a folder or a Hub dataset repository), from its manifest."""
    from ..publish.manifest import Manifest
    from ..publish.verify import download, parse_target

    location = parse_target(name)
    if isinstance(location, Path):
        path = location / MANIFEST_FILE
        if not path.is_file():
            raise OpenVidError(f"{name}: no {MANIFEST_FILE}; not a latent dataset written by `openvid-hf encode`")
    else:
        from huggingface_hub import HfApi

        path = Path(download(HfApi(), location, MANIFEST_FILE, revision or "main", "; not a latent dataset"))
    return LatentSettings.from_manifest(Manifest.from_json(path.read_bytes(), str(path)), name)
