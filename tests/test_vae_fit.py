"""`fit_vae`: a small AutoencoderKL fitted to frames reconstructs them, and its latents get unit variance."""

from __future__ import annotations

import pytest
import torch

from openvid_hf.errors import UsageError
from openvid_hf.testing.tiny_pipeline import tiny_vae
from openvid_hf.training.vae_fit import fit_vae, vae_round_trip


def striped_frames(count: int = 8, size: int = 16) -> torch.Tensor:
    """Frames in [-1, 1]: a flat colour each, with a bright vertical bar at a position of its own."""
    colours = torch.linspace(-0.8, 0.4, count)[:, None, None, None] * torch.tensor([1.0, -0.5, 0.3])[:, None, None]
    frames = colours.expand(count, 3, size, size).clone()
    for index in range(count):
        frames[index, :, :, 2 * index : 2 * index + 2] = 0.9
    return frames


def mean_error(vae, frames: torch.Tensor) -> float:
    _, decoded = vae_round_trip(vae, frames)
    return (decoded - frames).abs().mean().item() * 127.5


def test_fitting_cuts_the_round_trip_error_and_scales_latents_to_unit_variance():
    frames = striped_frames()
    vae = tiny_vae(seed=0)
    before = mean_error(vae, frames)
    fit = fit_vae(vae, frames, steps=150, learning_rate=5e-3, batch_size=8, seed=0)
    assert fit.reconstruction_error == pytest.approx(mean_error(vae, frames), rel=1e-5)
    assert fit.reconstruction_error < before / 2, (before, fit.reconstruction_error)
    latents, _ = vae_round_trip(vae, frames)
    assert vae.config.scaling_factor == pytest.approx(fit.scaling_factor)
    assert (latents * vae.config.scaling_factor).std().item() == pytest.approx(1.0, rel=1e-4)
    assert not any(parameter.requires_grad for parameter in vae.parameters())


def test_bad_frames_are_refused():
    with pytest.raises(UsageError, match=r"frames \[N, 3, H, W\]"):
        fit_vae(tiny_vae(), torch.zeros(2, 1, 16, 16), steps=1)
    with pytest.raises(UsageError, match="positive steps"):
        fit_vae(tiny_vae(), torch.zeros(2, 3, 16, 16), steps=0)
