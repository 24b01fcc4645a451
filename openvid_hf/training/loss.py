"""MVDiT's training objective: the hybrid loss of improved DDPM (noise MSE + the variational bound of the variance).

The original (`openvid/schedulers/iddpm/gaussian_diffusion.py`, `training_losses` with `LossType.MSE` and a
learned-range variance) computes, per sample, `mse = mean((noise - eps)^2)` and `vb`, the KL divergence in bits per
dimension between the true posterior `q(x_{t-1} | x_t, x_0)` and the model's `p(x_{t-1} | x_t)`, or at `t = 0` the
decoder's discretised Gaussian negative log-likelihood. `vb` sees the predicted noise detached, so it trains only
the variance channels; the loss is `mse + vb`.

The schedule comes from the pipeline's scheduler config (`DEFAULT_SCHEDULER_CONFIG`, the one home of the 1000
linear betas), is computed in float64 like the original, and is kept in float32 tables: the original hands its
float64 coefficients out as float32 (`_extract_into_tensor`), so inputs in float64 reproduce its numbers exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

#: What the hybrid loss needs from a scheduler config, and the values it supports.
SUPPORTED_BETA_SCHEDULES = ("linear",)
SUPPORTED_PREDICTION_TYPES = ("epsilon",)


@dataclass
class LossTerms:
    """Per-sample terms `[batch]`: `loss = mse + vb`."""

    loss: torch.Tensor
    mse: torch.Tensor
    vb: torch.Tensor


def linear_betas(num_train_timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """The linear beta schedule in float64 (the original's `get_beta_schedule("linear", ...)`)."""
    return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float64)


def mean_over_non_batch_dims(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.mean(dim=tuple(range(1, tensor.ndim)))


def normal_kl(
    mean1: torch.Tensor, log_var1: torch.Tensor, mean2: torch.Tensor, log_var2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean1, exp(log_var1)) || N(mean2, exp(log_var2))), elementwise, in nats."""
    return 0.5 * (
        -1.0 + log_var2 - log_var1 + torch.exp(log_var1 - log_var2) + (mean1 - mean2) ** 2 * torch.exp(-log_var2)
    )


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of the standard normal CDF that the original's likelihood uses."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Log-likelihood (nats) of `x` under a Gaussian discretised to bins of width 2/255, open-ended beyond ±0.999."""
    centered = x - mean
    inverse_std = torch.exp(-log_scale)
    cdf_plus = approx_standard_normal_cdf(inverse_std * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inverse_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta))


class HybridDiffusionLoss(nn.Module):
    """IDDPM's hybrid loss for a model predicting noise and learned-range variance values (`[B, 2C, ...]`).

    Args:
        betas: the float64 beta schedule `[num_train_timesteps]`; see `from_scheduler_config`.
    """

    def __init__(self, betas: torch.Tensor) -> None:
        super().__init__()
        betas = betas.to(torch.float64)
        if betas.ndim != 1 or len(betas) < 2 or not bool(((betas > 0) & (betas <= 1)).all()):
            raise ValueError("betas must be a 1-D schedule of at least 2 values in (0, 1]")
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        tables = {
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "sqrt_recip_alphas_cumprod": (1.0 / alphas_cumprod).sqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1.0).sqrt(),
            # The posterior variance is 0 at t = 0: its log is clipped to the value at t = 1.
            "posterior_log_variance_clipped": torch.log(torch.cat([posterior_variance[1:2], posterior_variance[1:]])),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * alphas.sqrt() / (1.0 - alphas_cumprod),
            "log_betas": torch.log(betas),
        }
        for name, table in tables.items():
            self.register_buffer(name, table.to(torch.float32), persistent=False)

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any]) -> HybridDiffusionLoss:
        """The loss of the schedule a diffusers scheduler config describes (`pipeline.scheduler.config`).

        Raises:
            `ValueError` naming the setting when the config is not a linear-beta, epsilon-predicting schedule.
        """
        schedule = config.get("beta_schedule", "linear")
        if schedule not in SUPPORTED_BETA_SCHEDULES or config.get("trained_betas") is not None:
            raise ValueError(
                f"the scheduler's beta_schedule={schedule!r} is not supported by the hybrid loss "
                f"(supported: {', '.join(SUPPORTED_BETA_SCHEDULES)})"
            )
        prediction_type = config.get("prediction_type", "epsilon")
        if prediction_type not in SUPPORTED_PREDICTION_TYPES:
            raise ValueError(f"the scheduler's prediction_type={prediction_type!r} is not supported (epsilon only)")
        return cls(linear_betas(config["num_train_timesteps"], config["beta_start"], config["beta_end"]))

    @property
    def num_train_timesteps(self) -> int:
        return len(self.log_betas)

    def sample_timesteps(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Timesteps drawn uniformly from `[0, num_train_timesteps)`, on the generator's device."""
        device = generator.device if generator is not None else self.log_betas.device
        return torch.randint(0, self.num_train_timesteps, (batch_size,), generator=generator, device=device)

    def _at(self, table: torch.Tensor, timesteps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """`table[timesteps]` shaped to broadcast over `like` (`[B, 1, ...]`)."""
        values = table.to(like.device)[timesteps.to(like.device)]
        return values.reshape(-1, *[1] * (like.ndim - 1))

    def add_noise(self, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        """`x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise`: a sample of `q(x_t | x_0)`."""
        return (
            self._at(self.sqrt_alphas_cumprod, timesteps, latents) * latents
            + self._at(self.sqrt_one_minus_alphas_cumprod, timesteps, latents) * noise
        )

    def _posterior_mean(self, start: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        return (
            self._at(self.posterior_mean_coef1, timesteps, noisy) * start
            + self._at(self.posterior_mean_coef2, timesteps, noisy) * noisy
        )

    def forward(
        self,
        model_output: torch.Tensor,
        latents: torch.Tensor,
        noisy_latents: torch.Tensor,
        noise: torch.Tensor,
        timesteps: torch.Tensor,
    ) -> LossTerms:
        """The per-sample terms for a prediction `model_output [B, 2C, ...]` (noise, then variance values in [-1, 1]).

        Args:
            model_output: the model's output for `noisy_latents` at `timesteps`.
            latents, noise: the clean latents `x_0` and the noise `add_noise` mixed into `noisy_latents`.
            timesteps: `[B]` integer timesteps.
        """
        channels = latents.shape[1]
        if model_output.shape[1] != 2 * channels or model_output.shape[2:] != latents.shape[2:]:
            raise ValueError(
                f"model_output must be [B, {2 * channels}, ...] (noise and variance values) for latents "
                f"{list(latents.shape)}, got {list(model_output.shape)}"
            )
        predicted_noise, variance_values = model_output.split(channels, dim=1)
        mse = mean_over_non_batch_dims((noise - predicted_noise) ** 2)

        # The variational bound trains the variance only: the mean comes from the detached noise prediction.
        min_log = self._at(self.posterior_log_variance_clipped, timesteps, latents)
        max_log = self._at(self.log_betas, timesteps, latents)
        fraction = (variance_values + 1) / 2
        model_log_variance = fraction * max_log + (1 - fraction) * min_log
        predicted_start = (
            self._at(self.sqrt_recip_alphas_cumprod, timesteps, noisy_latents) * noisy_latents
            - self._at(self.sqrt_recipm1_alphas_cumprod, timesteps, noisy_latents) * predicted_noise.detach()
        )
        model_mean = self._posterior_mean(predicted_start, noisy_latents, timesteps)
        true_mean = self._posterior_mean(latents, noisy_latents, timesteps)

        kl = normal_kl(true_mean, min_log, model_mean, model_log_variance)
        decoder_nll = -discretized_gaussian_log_likelihood(latents, model_mean, 0.5 * model_log_variance)
        vb = torch.where(
            timesteps.to(latents.device) == 0,
            mean_over_non_batch_dims(decoder_nll),
            mean_over_non_batch_dims(kl),
        ) / math.log(2.0)
        return LossTerms(loss=mse + vb, mse=mse, vb=vb)
