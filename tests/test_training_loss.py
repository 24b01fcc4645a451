"""The training objective against the original IDDPM code's tensors, and the draws a training step makes."""

from __future__ import annotations

import pytest
import torch

from openvid_hf.pipelines import DEFAULT_SCHEDULER_CONFIG, default_scheduler
from openvid_hf.testing.tiny_pipeline import tiny_transformer, tiny_vae
from openvid_hf.training.loss import HybridDiffusionLoss
from openvid_hf.training.trainer import drop_captions, encode_video, micro_batch_generator


@pytest.fixture(scope="module")
def loss_fn() -> HybridDiffusionLoss:
    return HybridDiffusionLoss.from_scheduler_config(DEFAULT_SCHEDULER_CONFIG)


def test_add_noise_is_the_original_q_sample(iddpm_reference, loss_fn):
    noisy = loss_fn.add_noise(iddpm_reference["train_x0"], iddpm_reference["train_noise"], iddpm_reference["train_t"])
    torch.testing.assert_close(noisy, iddpm_reference["train_x_t"], rtol=0, atol=1e-12)


def test_loss_terms_reproduce_the_original_training_losses(iddpm_reference, loss_fn):
    terms = loss_fn(
        iddpm_reference["train_model_output"],
        iddpm_reference["train_x0"],
        iddpm_reference["train_x_t"],
        iddpm_reference["train_noise"],
        iddpm_reference["train_t"],
    )
    assert iddpm_reference["train_t"].tolist() == [0, 421, 999]  # the decoder NLL (t = 0) and two KL terms
    for name in ("mse", "vb", "loss"):
        expected = iddpm_reference[f"train_{name}"]
        actual = getattr(terms, name)
        assert actual.dtype == torch.float64
        # The reference README allows 1e-5 relative; measured: 0 (mse, loss) and 1.9e-16 (vb), so hold it tight.
        torch.testing.assert_close(actual, expected, rtol=1e-12, atol=0, msg=name)


def test_the_schedule_is_the_pipeline_schedulers(loss_fn):
    """One home for the 1000 linear betas: the loss reads the default scheduler config, in float64."""
    scheduler = default_scheduler()
    assert loss_fn.num_train_timesteps == scheduler.config.num_train_timesteps == 1000
    torch.testing.assert_close(loss_fn.log_betas.exp(), scheduler.betas, rtol=1e-6, atol=0)
    torch.testing.assert_close(loss_fn.sqrt_alphas_cumprod.square(), scheduler.alphas_cumprod, rtol=1e-5, atol=0)


def test_the_variational_bound_trains_only_the_variance(iddpm_reference, loss_fn):
    output = iddpm_reference["train_model_output"].clone().requires_grad_(True)
    ref = iddpm_reference
    terms = loss_fn(output, ref["train_x0"], ref["train_x_t"], ref["train_noise"], ref["train_t"])
    (vb_gradient,) = torch.autograd.grad(terms.vb.sum(), output, retain_graph=True)
    assert vb_gradient[:, :4].abs().max() == 0 and vb_gradient[:, 4:].abs().min() > 0
    (mse_gradient,) = torch.autograd.grad(terms.mse.sum(), output)
    assert mse_gradient[:, 4:].abs().max() == 0 and mse_gradient[:, :4].abs().max() > 0


@pytest.mark.parametrize(
    ("change", "message"),
    [({"beta_schedule": "scaled_linear"}, "beta_schedule"), ({"prediction_type": "v_prediction"}, "prediction_type")],
)
def test_a_schedule_the_loss_does_not_implement_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        HybridDiffusionLoss.from_scheduler_config({**DEFAULT_SCHEDULER_CONFIG, **change})


def test_a_prediction_without_variance_is_refused(iddpm_reference, loss_fn):
    with pytest.raises(ValueError, match=r"model_output must be \[B, 8"):
        loss_fn(
            iddpm_reference["train_noise"],
            iddpm_reference["train_x0"],
            iddpm_reference["train_x_t"],
            iddpm_reference["train_noise"],
            iddpm_reference["train_t"],
        )


def test_timesteps_are_uniform_over_the_1000(loss_fn):
    timesteps = loss_fn.sample_timesteps(200_000, micro_batch_generator(0, 0, 0, torch.device("cpu")))
    counts = torch.bincount(timesteps // 100, minlength=10).float()
    assert timesteps.min() == 0 and timesteps.max() == 999
    assert ((counts - 20_000).abs() < 20_000 * 0.03).all(), counts


def test_micro_batch_draws_depend_on_seed_rank_and_index_only():
    def draws(*key):
        return torch.randn(8, generator=micro_batch_generator(*key, torch.device("cpu")))

    assert torch.equal(draws(3, 0, 5), draws(3, 0, 5))
    keys = [(3, 0, 5), (4, 0, 5), (3, 1, 5), (3, 0, 6)]
    assert len({tuple(draws(*key).tolist()) for key in keys}) == len(keys)


def test_caption_dropout_swaps_in_the_null_caption():
    transformer = tiny_transformer()
    null = transformer.null_encoder_hidden_states
    captions = torch.randn(4000, *null.shape)
    generator = micro_batch_generator(0, 0, 0, torch.device("cpu"))
    dropped = drop_captions(captions, null, 0.1, generator)
    is_null = (dropped == null).flatten(1).all(dim=1)
    is_kept = (dropped == captions).flatten(1).all(dim=1)
    assert bool((is_null ^ is_kept).all())
    assert 300 < int(is_null.sum()) < 500  # 10 % of 4000, within 5 standard deviations
    assert torch.equal(drop_captions(captions[:8], null, 0.0, generator), captions[:8])
    assert bool((drop_captions(captions[:8], null, 1.0, generator) == null).all())


def test_video_latents_are_a_scaled_posterior_sample_of_each_frame():
    """Frame t of clip b is encoded alone; its sample uses the posterior's noise for image b * T + t."""
    vae = tiny_vae()
    video = torch.rand(2, 3, 3, 32, 32) * 2 - 1  # [B, C, T, H, W]
    with torch.no_grad():
        latents = encode_video(vae, video, micro_batch_generator(0, 0, 0, torch.device("cpu")))
        noise = torch.randn(6, 4, 4, 4, generator=micro_batch_generator(0, 0, 0, torch.device("cpu")))
        assert latents.shape == (2, 4, 3, 4, 4) and latents.dtype == torch.float32
        for clip, frame in [(0, 0), (0, 2), (1, 1)]:
            posterior = vae.encode(video[clip, :, frame][None]).latent_dist
            expected = (posterior.mean + posterior.std * noise[clip * 3 + frame]) * vae.config.scaling_factor
            torch.testing.assert_close(latents[clip, :, frame], expected[0], rtol=1e-4, atol=1e-5)
