"""What the frozen encoders compute for training: a clip's VAE posterior and a caption's T5 embeddings.

Training from videos and encoding a latent dataset call the same functions, so a latent dataset holds exactly what
a training step would have computed, and a step from latents draws its posterior sample exactly as one from videos.
The encoders of a latent dataset are named by `EncoderIdentity`: where they were loaded from and a digest of their
weight files, which a trainer can compare without loading them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..errors import OpenVidError

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

    from ..pipelines import MVDiTPipeline

#: The weight files an encoder's identity digests: safetensors when present, else PyTorch pickles.
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def encode_posterior(vae: AutoencoderKL, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE posterior of clips `[B, 3, T, H, W]` in [-1, 1], frame by frame: `(mean, logvar)`, each
    `[B, C, T, h, w]` in float32, unscaled (`logvar` clamped as diffusers' `DiagonalGaussianDistribution` does)."""
    batch_size, _, frames = video.shape[:3]
    images = video.transpose(1, 2).flatten(0, 1).to(device=vae.device, dtype=vae.dtype)
    posterior = vae.encode(images).latent_dist
    return tuple(
        parameter.float().unflatten(0, (batch_size, frames)).transpose(1, 2)
        for parameter in (posterior.mean, posterior.logvar)
    )


def sample_posterior(
    mean: torch.Tensor, logvar: torch.Tensor, scaling_factor: float, generator: torch.Generator
) -> torch.Tensor:
    """Scaled latents `[B, C, T, h, w]` (float32): a draw from the posterior, frames in the order the VAE saw them."""
    frames_first = mean.transpose(1, 2).shape
    noise = torch.randn(frames_first, generator=generator, device=generator.device, dtype=torch.float32)
    noise = noise.to(mean.device).transpose(1, 2)
    return (mean.float() + torch.exp(0.5 * logvar.float()) * noise) * scaling_factor


def encode_video(vae: AutoencoderKL, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Latents `[B, C, T, h, w]` (float32) of clips `[B, 3, T, H, W]` in [-1, 1]: a scaled posterior sample a frame."""
    mean, logvar = encode_posterior(vae, video)
    return sample_posterior(mean, logvar, vae.config.scaling_factor, generator)


def encode_captions(
    pipeline: MVDiTPipeline, captions: Sequence[str], device: torch.device, max_length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """T5 hidden states `[B, max_length, C]` (in T5's dtype) and masks `[B, max_length]`, captions cleaned.

    Captions longer than `max_length` tokens are truncated, as the original training did, without the pipeline's
    warning per prompt (OpenVid-1M's captions often are).
    """
    from ..pipelines import pipeline_mvdit

    with torch.no_grad(), _quiet(pipeline_mvdit.logger):
        hidden_states, mask, _, _ = pipeline.encode_prompt(
            list(captions),
            do_classifier_free_guidance=False,
            device=device,
            clean_caption=True,
            max_sequence_length=max_length,
        )
    return hidden_states.to(pipeline.text_encoder.dtype), mask


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class EncoderIdentity:
    """Where an encoder was loaded from (`repo`, the commit, the subfolders) and a SHA-256 over its weight files.

    Two identities name the same encoder when their `weights_sha256` are equal, wherever each was loaded from: a
    trainer compares its pipeline's VAE and text encoder with a latent dataset's this way, reading only file hashes
    (the Hub's LFS pointers, or the local files).
    """

    repo: str
    revision: str | None
    subfolders: tuple[str, ...]
    weights_sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"subfolders": list(self.subfolders)}

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> EncoderIdentity:
        return cls(payload["repo"], payload["revision"], tuple(payload["subfolders"]), payload["weights_sha256"])

    def describe(self) -> str:
        where = "/".join(part for part in (self.repo, ",".join(self.subfolders)) if part)
        at = f"@{self.revision[:7]}" if self.revision else ""
        return f"{where}{at} (weights {self.weights_sha256[:12]})"


def encoder_identity(name: str, subfolders: Sequence[str], revision: str | None = None) -> EncoderIdentity:
    """The identity of the encoder stored in `subfolders` of the folder or Hub model repository `name`.

    The digest covers each weight file's name within its subfolder and its SHA-256, so the same weights give the
    same digest whether they sit in a pipeline's `vae/` or at the root of a VAE repository.
    """
    commit = None if Path(name).exists() else _commit(name, revision)
    files = _weight_files(name, commit)
    digest = hashlib.sha256()
    found = False
    for subfolder in subfolders:
        prefix = f"{subfolder}/" if subfolder else ""
        chosen = _chosen_weights({path[len(prefix) :]: sha for path, sha in files.items() if path.startswith(prefix)})
        for relative, sha256 in sorted(chosen.items()):
            digest.update(f"{relative}:{sha256()}\n".encode())
            found = True
    if not found:
        raise OpenVidError(f"{name}: no weight files ({', '.join(WEIGHT_SUFFIXES)}) in {list(subfolders)}")
    return EncoderIdentity(name, commit, tuple(subfolders), digest.hexdigest())


def _commit(name: str, revision: str | None) -> str:
    from huggingface_hub import HfApi

    from ..publish.verify import commit_sha

    return commit_sha(HfApi(), name, revision, repo_type="model")


def _chosen_weights(files: dict[str, Any]) -> dict[str, Any]:
    """The weight files directly in one folder, of the first suffix present (diffusers loads safetensors first)."""
    for suffix in WEIGHT_SUFFIXES:
        chosen = {path: sha for path, sha in files.items() if "/" not in path and path.endswith(suffix)}
        if chosen:
            return chosen
    return {}


def _weight_files(name: str, commit: str | None) -> dict[str, Any]:
    """`{path: callable returning its SHA-256}` of every weight file of a folder or a Hub model repository."""
    from ..publish.manifest import local_tree
    from ..publish.verify import remote_tree

    if Path(name).exists():
        tree = local_tree(name)
    else:
        from huggingface_hub import HfApi

        tree = remote_tree(HfApi(), name, commit, repo_type="model")
    return {path: file.sha256 for path, file in tree.items() if path.endswith(WEIGHT_SUFFIXES)}
