"""Fitting a small diffusers `AutoencoderKL` to the frames it will encode, for a tiny model world that can learn.

A pipeline's VAE is frozen while MVDiT trains, so its latents must already carry the content: the SD VAE does for real
video, and a VAE small enough to train on a CPU in a minute does only once it is fitted to the frames at hand (the
demo's sample release; a test's clips). The loss is the `AutoencoderKL` paper's without its perceptual and adversarial
terms: L1 between the frames and the reconstruction of a posterior sample, plus `kl_weight` times the KL to N(0, I).
Afterwards the scaling factor is set to 1 / std of the latents (Stable Diffusion's 0.18215 came from the same rule), so
the transformer sees latents of unit variance, as the IDDPM schedule assumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..errors import UsageError

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

#: Frames a VAE call encodes or decodes at once when measuring (bounds memory, not results).
EVAL_CHUNK = 64


@dataclass(frozen=True)
class VaeFit:
    """What a fit did: steps, the final training loss, the round trip's error and the latents' scaling factor."""

    steps: int
    final_loss: float
    #: Mean absolute error, in [0, 255] pixel levels, of every frame decoded from its posterior mean.
    reconstruction_error: float
    scaling_factor: float
    seconds: float

    def line(self) -> str:
        return (
            f"fitted in {self.steps} steps ({self.seconds:.1f} s): round trip off by {self.reconstruction_error:.1f} "
            f"levels of 255 on average, scaling factor {self.scaling_factor:.3f}"
        )


def fit_vae(
    vae: AutoencoderKL,
    frames: torch.Tensor,
    steps: int,
    learning_rate: float = 2e-3,
    batch_size: int = 16,
    kl_weight: float = 1e-6,
    seed: int = 0,
) -> VaeFit:
    """Train `vae` in place on `frames` (`[N, 3, H, W]` in [-1, 1]), then set its `scaling_factor`; returns the fit.

    Batches are drawn with replacement from one seeded generator, so a fit is reproducible on one machine.
    """
    from ..progress import progress_bar

    if frames.ndim != 4 or frames.shape[1] != 3 or not len(frames):
        raise UsageError(f"fit_vae needs frames [N, 3, H, W], got {tuple(frames.shape)}")
    if steps < 1 or batch_size < 1:
        raise UsageError(f"fit_vae needs positive steps and batch_size (got {steps}, {batch_size})")
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    vae.train().requires_grad_(True)
    loss = torch.tensor(float("nan"))
    with progress_bar(range(steps), desc="Fitting the VAE", unit="step") as bar:
        for _ in bar:
            batch = frames[torch.randint(0, len(frames), (batch_size,), generator=generator)]
            posterior = vae.encode(batch).latent_dist
            reconstruction = vae.decode(posterior.sample(generator=generator)).sample
            loss = (reconstruction - batch).abs().mean() + kl_weight * posterior.kl().mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    vae.eval().requires_grad_(False)
    latents, decoded = vae_round_trip(vae, frames)
    error = (decoded - frames).abs().mean().item() * 127.5
    scaling_factor = 1.0 / latents.std().item()
    vae.register_to_config(scaling_factor=scaling_factor)
    return VaeFit(steps, loss.item(), error, scaling_factor, time.perf_counter() - started)


@torch.no_grad()
def vae_round_trip(vae: AutoencoderKL, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The unscaled posterior means of `frames` (`[N, 3, H, W]` in [-1, 1]) and their decodings, clamped to [-1, 1]."""
    means, decoded = [], []
    for chunk in frames.split(EVAL_CHUNK):
        mean = vae.encode(chunk.to(vae.dtype)).latent_dist.mode()
        means.append(mean)
        decoded.append(vae.decode(mean).sample.clamp(-1, 1).float())
    return torch.cat(means), torch.cat(decoded)
