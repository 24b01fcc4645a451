"""The default scheduler against the original IDDPM sampler's tensors (`../shared/reference/iddpm_100.safetensors`)."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler
from diffusers.schedulers import scheduling_ddpm

from openvid_hf.pipelines import DEFAULT_SCHEDULER_CONFIG, default_scheduler
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, TINY_WIDTH, tiny_pipeline

# The reference README's tolerance for a float32 DDPMScheduler configured like the original (its betas are float32).
STEP_ATOL = 1e-4
SAMPLE = dict(height=TINY_HEIGHT, width=TINY_WIDTH, num_frames=TINY_NUM_FRAMES, num_inference_steps=4)


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline()


def reference_steps(scheduler: DDPMScheduler, reference: dict[str, torch.Tensor], noise_key: str | None, monkeypatch):
    """`scheduler.step` over the 100 reference steps in float32; the step's noise is the reference's (or zeros).

    DDPMScheduler draws its noise with `randn_tensor` and takes no noise argument, so the library's draw is replaced
    by the given noise: everything else is the unmodified step.
    """
    outputs = []
    for index, timestep in enumerate(scheduler.timesteps):
        noise = torch.zeros_like(reference["x_t"][index]) if noise_key is None else reference[noise_key][index]
        monkeypatch.setattr(scheduling_ddpm, "randn_tensor", lambda shape, noise=noise, **_: noise.float())
        outputs.append(
            scheduler.step(
                reference["model_output"][index].float(), timestep, reference["x_t"][index].float(), return_dict=True
            )
        )
    return outputs


def test_default_scheduler_is_the_documented_ddpm_config():
    scheduler = default_scheduler()
    assert isinstance(scheduler, DDPMScheduler)
    assert {key: scheduler.config[key] for key in DEFAULT_SCHEDULER_CONFIG} == DEFAULT_SCHEDULER_CONFIG


def test_timesteps_are_the_respaced_original_ones(iddpm_reference):
    scheduler = default_scheduler()
    scheduler.set_timesteps(100)
    assert torch.equal(scheduler.timesteps, iddpm_reference["step_timesteps"])
    assert torch.equal(scheduler.timesteps.flip(0), iddpm_reference["timesteps"])


def test_every_step_reproduces_the_original_sampler(iddpm_reference, monkeypatch):
    scheduler = default_scheduler()
    scheduler.set_timesteps(100)
    steps = reference_steps(scheduler, iddpm_reference, "noise", monkeypatch)
    for index, step in enumerate(steps):
        expected = iddpm_reference["x_prev"][index]
        error = (step.prev_sample.double() - expected).abs().max().item()
        assert error <= STEP_ATOL, f"step {index} (t={scheduler.timesteps[index]}): x_prev off by {error:.2e}"
        error = (step.pred_original_sample.double() - iddpm_reference["pred_xstart"][index]).abs().max().item()
        assert error <= STEP_ATOL * (1 + iddpm_reference["pred_xstart"][index].abs().max().item()), index


def test_posterior_mean_and_learned_variance_separately(iddpm_reference, monkeypatch):
    """Zero noise isolates the mean; the noise's coefficient must then be the original's exp(log_variance / 2)."""
    scheduler = default_scheduler()
    scheduler.set_timesteps(100)
    means = reference_steps(scheduler, iddpm_reference, None, monkeypatch)
    noisy = reference_steps(scheduler, iddpm_reference, "noise", monkeypatch)
    for index in range(len(means) - 1):  # the last step adds no noise (in the original too)
        mean = means[index].prev_sample.double()
        assert (mean - iddpm_reference["mean"][index]).abs().max().item() <= STEP_ATOL, index
        scale = (noisy[index].prev_sample.double() - mean) / iddpm_reference["noise"][index]
        expected_scale = torch.exp(0.5 * iddpm_reference["log_variance"][index])
        relative = ((scale - expected_scale) / expected_scale).abs()
        assert relative[iddpm_reference["noise"][index].abs() > 0.1].max().item() < 1e-3, index
    assert torch.equal(means[-1].prev_sample, noisy[-1].prev_sample)


def test_pipeline_loop_steps_with_the_learned_variance(pipe):
    """A denoising step of the pipeline is the guided prediction, variance channels included, stepped by DDPM."""
    latents = torch.randn(1, 4, TINY_NUM_FRAMES, 2, 2, generator=torch.Generator().manual_seed(3))
    after_first_step = {}

    def capture(pipeline, step, timestep, tensors):
        after_first_step.setdefault("latents", tensors["latents"].clone())
        return {}

    pipe("a cat", **SAMPLE, latents=latents, generator=torch.Generator().manual_seed(5), callback_on_step_end=capture)

    timestep = pipe.scheduler.timesteps[0]
    with torch.no_grad():
        embeds, mask, negative, negative_mask = pipe.encode_prompt("a cat")
        output = pipe.guided_model_output(latents, timestep, embeds, mask, negative, negative_mask)
    assert output.shape[1] == 8
    expected = pipe.scheduler.step(output, timestep, latents, generator=torch.Generator().manual_seed(5)).prev_sample
    torch.testing.assert_close(after_first_step["latents"], expected, rtol=0, atol=1e-6)
    other_variance = torch.cat([output[:, :4], -output[:, 4:]], dim=1)
    other = pipe.scheduler.step(other_variance, timestep, latents, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(after_first_step["latents"], other.prev_sample)


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda config: DDIMScheduler.from_config(config),
        lambda config: DPMSolverMultistepScheduler.from_config(config, variance_type=None),
    ],
    ids=["ddim", "dpm-solver"],
)
def test_other_schedulers_step_on_the_noise_channels(pipe, make_scheduler):
    pipe.scheduler = make_scheduler(pipe.scheduler.config)
    try:
        latents = pipe("a cat", **SAMPLE, output_type="latent", generator=torch.Generator().manual_seed(0)).frames
    finally:
        pipe.scheduler = default_scheduler()
    assert latents.shape == (1, 4, TINY_NUM_FRAMES, 2, 2)
    assert torch.isfinite(latents).all()


def test_dpm_solver_with_a_learned_variance_is_refused(pipe):
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)
    try:
        assert pipe.scheduler.config.variance_type == "learned_range"
        with pytest.raises(ValueError, match=r"`scheduler`.*variance_type=None"):
            pipe("a cat", **SAMPLE)
    finally:
        pipe.scheduler = default_scheduler()
