"""MVDiTPipeline end to end on tiny real components, and its guidance against the original implementation."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from diffusers.utils import export_to_video
from diffusers.utils import logging as diffusers_logging
from torch.utils.hooks import RemovableHandle

from openvid_hf import MVDiTPipeline, MVDiTTransformer3DModel
from openvid_hf.pipelines import DEFAULT_SCHEDULER_CONFIG, clean_caption
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, TINY_WIDTH, tiny_pipeline
from openvid_hf.video.decoding import probe_video

SAMPLE = dict(height=TINY_HEIGHT, width=TINY_WIDTH, num_frames=TINY_NUM_FRAMES, num_inference_steps=3)
LATENT_SHAPE = (4, TINY_NUM_FRAMES, TINY_HEIGHT // 8, TINY_WIDTH // 8)
PROMPTS = ["a cat running on the beach at sunset", "two birds flying over a lake, aerial view"]
# The reference `cfg_output` (guidance 7 on 3 channels, at most 7.0 in magnitude) is the original's math in float64;
# this pipeline's guided prediction matches it to 5.2e-6 on both samples (the original in float32: 6.1e-6). The
# smallest semantic error the reference README lists (a LayerNorm eps of 1e-5) moves it by 8e-4.
GUIDED_ATOL = 5e-5
# A 10-step guided DDIM trajectory of the pipeline (float32) against the same loop written out in float64: measured
# 5.4e-7 relative (norm of the difference over the norm of the float64 latents) at the worst step.
TRAJECTORY_RTOL = 1e-4


@pytest.fixture(scope="module")
def pipe() -> MVDiTPipeline:
    return tiny_pipeline()


def seeded(*seeds: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed) for seed in seeds]


def latents_of(pipe: MVDiTPipeline, prompt, generator, **kwargs) -> torch.Tensor:
    return pipe(prompt, **{**SAMPLE, **kwargs}, generator=generator, output_type="latent").frames


def record_batch_sizes(transformer: MVDiTTransformer3DModel, batch_sizes: list[int]) -> RemovableHandle:
    """Append the batch size of every transformer call (the pipeline passes `hidden_states` by keyword)."""
    return transformer.register_forward_hook(
        lambda module, args, kwargs, output: batch_sizes.append(len(kwargs["hidden_states"])), with_kwargs=True
    )


# Outputs -------------------------------------------------------------------------------------------------------------


def test_outputs_of_every_type(pipe):
    video = pipe(PROMPTS, **SAMPLE, generator=seeded(0, 1)).frames
    assert video.shape == (2, TINY_NUM_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3) and video.dtype == np.float32
    assert video.min() >= 0 and video.max() <= 1 and video.std() > 0

    tensors = pipe(PROMPTS, **SAMPLE, generator=seeded(0, 1), output_type="pt").frames
    assert tensors.shape == (2, TINY_NUM_FRAMES, 3, TINY_HEIGHT, TINY_WIDTH)
    np.testing.assert_allclose(tensors.permute(0, 1, 3, 4, 2).numpy(), video, atol=1e-6)

    images = pipe(PROMPTS[0], **SAMPLE, generator=seeded(0), output_type="pil").frames
    assert len(images) == 1 and len(images[0]) == TINY_NUM_FRAMES and images[0][0].size == (TINY_WIDTH, TINY_HEIGHT)

    latents = pipe(PROMPTS, **SAMPLE, generator=seeded(0, 1), output_type="latent", return_dict=False)[0]
    assert latents.shape == (2, *LATENT_SHAPE)


def test_frames_export_to_a_playable_video(pipe, tmp_path):
    frames = pipe(PROMPTS[0], **{**SAMPLE, "num_frames": 5}, generator=seeded(0)).frames
    path = export_to_video(frames[0], str(tmp_path / "video.mp4"), fps=8)
    probe = probe_video(path)
    assert (probe.num_frames, probe.width, probe.height, probe.fps) == (5, TINY_WIDTH, TINY_HEIGHT, 8)


def test_decode_chunk_size_does_not_change_the_video(pipe):
    latents = torch.randn(1, *LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        whole = pipe.decode_latents(latents)
        per_frame = pipe.decode_latents(latents, decode_chunk_size=1)
    assert whole.shape == (1, 3, TINY_NUM_FRAMES, TINY_HEIGHT, TINY_WIDTH)
    torch.testing.assert_close(per_frame, whole, atol=1e-5, rtol=0)
    with torch.no_grad():
        first_frame = pipe.decode_latents(latents[:, :, :1])
    torch.testing.assert_close(first_frame[:, :, 0], whole[:, :, 0], atol=1e-5, rtol=0)


# Determinism and batching --------------------------------------------------------------------------------------------


def test_same_seed_same_video_other_seed_other_video(pipe):
    first = latents_of(pipe, PROMPTS[0], seeded(7))
    assert torch.equal(latents_of(pipe, PROMPTS[0], seeded(7)), first)
    assert not torch.allclose(latents_of(pipe, PROMPTS[0], seeded(8)), first)


def test_a_batch_of_two_prompts_equals_each_prompt_alone(pipe):
    batch = latents_of(pipe, PROMPTS, seeded(0, 1))
    alone = torch.cat([latents_of(pipe, PROMPTS[0], seeded(0)), latents_of(pipe, PROMPTS[1], seeded(1))])
    torch.testing.assert_close(batch, alone, atol=1e-4, rtol=1e-4)  # latents reach ~100 at 3 steps
    assert not torch.allclose(batch[0], batch[1])


def test_num_videos_per_prompt(pipe):
    latents = latents_of(pipe, PROMPTS, seeded(0, 1, 2, 3), num_videos_per_prompt=2)
    assert latents.shape == (4, *LATENT_SHAPE)
    torch.testing.assert_close(latents[2], latents_of(pipe, PROMPTS[1], seeded(2))[0], atol=1e-4, rtol=1e-4)


def test_precomputed_embeddings_without_text_encoder(pipe):
    with torch.no_grad():
        embeds, mask, _, _ = pipe.encode_prompt(PROMPTS[0], do_classifier_free_guidance=False)
    text_free = MVDiTPipeline(
        tokenizer=None, text_encoder=None, vae=pipe.vae, transformer=pipe.transformer, scheduler=pipe.scheduler
    )
    text_free.set_progress_bar_config(disable=True)
    from_embeds = text_free(
        prompt_embeds=embeds, prompt_attention_mask=mask, **SAMPLE, generator=seeded(0), output_type="latent"
    ).frames
    torch.testing.assert_close(from_embeds, latents_of(pipe, PROMPTS[0], seeded(0)), atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="`prompt` needs the pipeline's tokenizer and text_encoder"):
        text_free(PROMPTS[0], **SAMPLE)


def test_encode_prompt_needs_no_transformer(pipe):
    text_only = MVDiTPipeline(pipe.tokenizer, pipe.text_encoder, None, None, None)
    null = pipe.transformer.null_encoder_hidden_states
    with torch.no_grad():
        expected = pipe.encode_prompt(PROMPTS, num_videos_per_prompt=2)
        without_null = text_only.encode_prompt(PROMPTS, num_videos_per_prompt=2)
        with_null = text_only.encode_prompt(PROMPTS, num_videos_per_prompt=2, null_prompt_embeds=null)
    assert without_null[2] is None and without_null[3] is None
    for actual, wanted in zip(with_null, expected, strict=True):
        assert torch.equal(actual, wanted)
    assert torch.equal(with_null[2], null.expand(4, -1, -1))

    # The outputs of the text-only pipeline drive a pipeline without text encoder to the same video: without a null
    # caption from encode_prompt, the call pairs the prompts with the transformer's.
    denoiser_only = MVDiTPipeline(None, None, pipe.vae, pipe.transformer, pipe.scheduler)
    denoiser_only.set_progress_bar_config(disable=True)
    embeds, mask, negative, negative_mask = without_null
    from_embeds = denoiser_only(
        prompt_embeds=embeds[::2],
        prompt_attention_mask=mask[::2],
        negative_prompt_embeds=negative,
        negative_prompt_attention_mask=negative_mask,
        **SAMPLE,
        generator=seeded(0, 1),
        output_type="latent",
    ).frames
    torch.testing.assert_close(from_embeds, latents_of(pipe, PROMPTS, seeded(0, 1)), atol=0, rtol=0)


# Callbacks and progress ----------------------------------------------------------------------------------------------


def test_callback_on_step_end_sees_and_replaces_the_latents(pipe):
    seen = []

    def zero_latents_at_last_step(pipeline, step, timestep, tensors):
        seen.append((step, int(timestep), sorted(tensors)))
        if step == pipeline.num_timesteps - 1:
            return {"latents": torch.zeros_like(tensors["latents"])}
        return {}

    latents = latents_of(
        pipe,
        PROMPTS[0],
        seeded(0),
        callback_on_step_end=zero_latents_at_last_step,
        callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
    )
    assert [step for step, _, _ in seen] == [0, 1, 2]
    assert [timestep for _, timestep, _ in seen] == pipe.scheduler.timesteps.tolist() == [999, 500, 0]
    assert seen[0][2] == ["latents", "prompt_embeds"]
    assert torch.equal(latents, torch.zeros_like(latents))

    def halve_latents_after_first_step(pipeline, step, timestep, tensors):
        return {"latents": tensors["latents"] / 2} if step == 0 else {}

    halved = latents_of(pipe, PROMPTS[0], seeded(0), callback_on_step_end=halve_latents_after_first_step)
    assert not torch.allclose(halved, latents_of(pipe, PROMPTS[0], seeded(0)))


def test_progress_bar_counts_the_steps(pipe, capsys):
    pipe.set_progress_bar_config(disable=False)
    try:
        latents_of(pipe, PROMPTS[0], seeded(0))
    finally:
        pipe.set_progress_bar_config(disable=True)
    assert "3/3" in capsys.readouterr().err


# Guidance ------------------------------------------------------------------------------------------------------------


def test_guided_output_is_the_original_formula_on_independent_passes(pipe):
    """cond and uncond from separate transformer calls; guidance on the first channels, the rest conditional."""
    latents = torch.randn(2, *LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    timestep = torch.tensor(700)
    with torch.no_grad():
        embeds, mask, null, null_mask = pipe.encode_prompt(PROMPTS)
        transformer = pipe.transformer
        conditional = transformer(latents, timestep.expand(2), embeds, mask).sample
        null_caption = transformer.null_encoder_hidden_states.expand(2, -1, -1)
        unconditional = transformer(latents, timestep.expand(2), null_caption, mask).sample
        for channels in (3, 4):
            guided = pipe.guided_model_output(
                latents, timestep, embeds, mask, null, null_mask, guidance_scale=5.0, guidance_channels=channels
            )
            expected = torch.cat(
                [
                    unconditional[:, :channels] + 5.0 * (conditional[:, :channels] - unconditional[:, :channels]),
                    conditional[:, channels:],
                ],
                dim=1,
            )
            torch.testing.assert_close(guided, expected, atol=1e-6, rtol=0)
        default = pipe.guided_model_output(latents, timestep, embeds, mask, null, null_mask, guidance_scale=5.0)
        assert transformer.config.guidance_channels == 4
        torch.testing.assert_close(default, guided, atol=0, rtol=0)


def test_unconditional_input_is_the_null_caption_with_the_prompts_mask(pipe):
    with torch.no_grad():
        embeds, mask, null, null_mask = pipe.encode_prompt(PROMPTS)
    assert torch.equal(null, pipe.transformer.null_encoder_hidden_states.expand(2, -1, -1))
    assert torch.equal(null_mask, mask)
    assert mask.shape == (2, 120) and 0 < mask[0].sum() < mask[1].sum() < 120

    latents = torch.randn(2, *LATENT_SHAPE, generator=torch.Generator().manual_seed(0))
    timestep = torch.tensor(300)
    with torch.no_grad():
        guided = pipe.guided_model_output(latents, timestep, embeds, mask, null, null_mask, guidance_scale=3.0)
        conditional = pipe.transformer(latents, timestep.expand(2), embeds, mask).sample
        unconditional_recovered = (3.0 * conditional[:, :4] - guided[:, :4]) / 2.0
        with_prompt_mask = pipe.transformer(latents, timestep.expand(2), null, mask).sample[:, :4]
        with_full_mask = pipe.transformer(latents, timestep.expand(2), null, torch.ones_like(mask)).sample[:, :4]
    torch.testing.assert_close(unconditional_recovered, with_prompt_mask, atol=1e-5, rtol=0)
    # The mask changes the null caption's output (by 7e-4 here), far beyond that tolerance.
    assert (unconditional_recovered - with_full_mask).abs().max() > 2e-4


def test_negative_prompt_replaces_the_null_caption(pipe):
    with torch.no_grad():
        _, _, negative, negative_mask = pipe.encode_prompt(PROMPTS, negative_prompt="blurry, dark")
        tokens = pipe.tokenizer(
            ["blurry, dark"] * 2, max_length=120, padding="max_length", truncation=True, return_tensors="pt"
        )
        expected = pipe.text_encoder(tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    torch.testing.assert_close(negative, expected, atol=0, rtol=0)
    assert torch.equal(negative_mask, tokens.attention_mask)
    with_negative = latents_of(pipe, PROMPTS[0], seeded(0), negative_prompt="blurry, dark")
    assert not torch.allclose(with_negative, latents_of(pipe, PROMPTS[0], seeded(0)))


def test_guidance_scale_at_most_one_runs_no_unconditional_pass(pipe):
    batch_sizes = []
    handle = record_batch_sizes(pipe.transformer, batch_sizes)
    try:
        unguided = latents_of(pipe, PROMPTS[0], seeded(0), guidance_scale=1.0)
        assert batch_sizes == [1, 1, 1]
        batch_sizes.clear()
        latents_of(pipe, PROMPTS[0], seeded(0), guidance_scale=7.0)
        assert batch_sizes == [2, 2, 2]
    finally:
        handle.remove()
    with torch.no_grad():
        _, _, negative, negative_mask = pipe.encode_prompt(PROMPTS[0], do_classifier_free_guidance=False)
    assert negative is None and negative_mask is None
    assert torch.isfinite(unguided).all()


@pytest.fixture(scope="module")
def reference_pipe(mvdit_reference) -> MVDiTPipeline:
    """The converted reference transformer alone (no text encoder, no VAE): latents in, latents out."""
    transformer = MVDiTTransformer3DModel.from_original_checkpoint(
        mvdit_reference.state_dict_path, mvdit_reference.config
    )
    pipe = MVDiTPipeline(None, None, None, transformer.eval(), DDIMScheduler.from_config(DEFAULT_SCHEDULER_CONFIG))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_guidance_matches_the_original_cfg_output(reference_pipe, mvdit_reference):
    io, config = mvdit_reference.io, mvdit_reference.config
    embeds, mask = io["y"][:, 0], io["mask"]
    with torch.no_grad():
        guided = reference_pipe.guided_model_output(
            io["x"],
            io["timestep"],
            embeds,
            mask,
            reference_pipe.null_prompt_embeds(len(embeds)),
            mask,
            guidance_scale=config["cfg_scale"],
            guidance_channels=config["cfg_channel"],
        )
    for sample in range(len(guided)):
        error = (guided[sample] - io["cfg_output"][sample]).abs().max().item()
        assert error <= GUIDED_ATOL, f"sample {sample}: max abs error {error:.2e}"


def float64_guided_ddim(
    transformer: MVDiTTransformer3DModel,
    latents: torch.Tensor,
    embeds: torch.Tensor,
    mask: torch.Tensor,
    steps: int,
    scale: float,
    channels: int,
) -> list[torch.Tensor]:
    """Deterministic DDIM (eta 0) with the original's guidance, written out in float64 from the 1000 linear betas.

    Timesteps `round(linspace(0, 999, steps))` descending, each stepping to `t - 1000 // steps` (alpha 1 below 0),
    as diffusers' DDIM with linspace spacing; cond and uncond (the null caption, the prompt's mask) as two passes.
    """
    model = copy.deepcopy(transformer).double()
    alphas_cumprod = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), dim=0)
    null = model.null_encoder_hidden_states.expand(len(latents), -1, -1)
    sample, trajectory = latents.double(), []
    with torch.no_grad():
        for timestep in torch.linspace(0, 999, steps, dtype=torch.float64).round().flip(0).long().tolist():
            t = torch.full((len(sample),), float(timestep), dtype=torch.float64)
            conditional = model(sample, t, embeds.double(), mask).sample[:, :4]
            unconditional = model(sample, t, null, mask).sample[:, :4]
            noise = conditional.clone()
            noise[:, :channels] += (scale - 1) * (conditional[:, :channels] - unconditional[:, :channels])
            alpha = alphas_cumprod[timestep]
            previous = timestep - 1000 // steps
            alpha_previous = alphas_cumprod[previous] if previous >= 0 else torch.tensor(1.0, dtype=torch.float64)
            original = (sample - (1 - alpha).sqrt() * noise) / alpha.sqrt()
            sample = alpha_previous.sqrt() * original + (1 - alpha_previous).sqrt() * noise
            trajectory.append(sample)
    return trajectory


def test_guided_ddim_trajectory_matches_a_float64_loop(reference_pipe, mvdit_reference):
    io, config = mvdit_reference.io, mvdit_reference.config
    embeds, mask = io["y"][:, 0], io["mask"]
    noise = torch.randn(io["x"].shape, generator=torch.Generator().manual_seed(0))
    frames, height, width = noise.shape[2], noise.shape[3] * 8, noise.shape[4] * 8
    steps = []
    reference_pipe(
        prompt_embeds=embeds,
        prompt_attention_mask=mask,
        latents=noise,
        num_frames=frames,
        height=height,
        width=width,
        num_inference_steps=10,
        guidance_scale=config["cfg_scale"],
        guidance_channels=config["cfg_channel"],
        output_type="latent",
        callback_on_step_end=lambda pipe, step, timestep, tensors: steps.append(tensors["latents"]) or {},
    )
    expected = float64_guided_ddim(
        reference_pipe.transformer, noise, embeds, mask, 10, config["cfg_scale"], config["cfg_channel"]
    )
    assert len(steps) == len(expected) == 10
    for index, (latents, truth) in enumerate(zip(steps, expected, strict=True)):
        relative = ((latents.double() - truth).norm() / truth.norm()).item()
        assert relative < TRAJECTORY_RTOL, f"step {index}: relative error {relative:.2e}"


def test_a_callback_changing_the_guidance_scale_changes_the_output(pipe):
    batch_sizes = []
    handle = record_batch_sizes(pipe.transformer, batch_sizes)

    def stop_guiding_after_the_first_step(pipeline, step, timestep, tensors):
        pipeline._guidance_scale = 1.0
        return {}

    try:
        guided = latents_of(pipe, PROMPTS[0], seeded(0))
        assert batch_sizes == [2, 2, 2]
        batch_sizes.clear()
        changed = latents_of(pipe, PROMPTS[0], seeded(0), callback_on_step_end=stop_guiding_after_the_first_step)
        assert batch_sizes == [2, 1, 1]
    finally:
        handle.remove()
    assert pipe.guidance_scale == 1.0
    assert (changed - guided).abs().max() > 1e-3


# Text ----------------------------------------------------------------------------------------------------------------


def test_prompts_are_cleaned_like_the_training_captions(pipe):
    # Expected strings are what the original `T5Embedder.text_preprocessing` returns for these inputs.
    assert clean_caption("  A <person> walks&amp; on https://example.com/x.png  ") == "a person walks on ."
    assert clean_caption("“Hello” — World 東京 photo.JPG #123 1234567") == '"hello" - world'
    assert clean_caption("this-is-my-cute-cat_video") == "this is my cute cat video"
    with torch.no_grad():
        cleaned = pipe.encode_prompt("A CAT <b>running</b>", do_classifier_free_guidance=False)
        plain = pipe.encode_prompt("a cat running", do_classifier_free_guidance=False)
        raw = pipe.encode_prompt("A CAT <b>running</b>", do_classifier_free_guidance=False, clean_caption=False)
    assert torch.equal(cleaned[0], plain[0])
    assert not torch.equal(raw[0], plain[0])


# Captions that exercise every rule of the cleaner: URLs, HTML, handles, CJK, dashes and quotes of every kind, file
# names, IP addresses, long numbers, sizes, shop boilerplate, escaped new lines, mojibake, hashtags, repeated
# punctuation, separators in words.
HARD_CAPTIONS = [
    "  A <person> walks&amp; on https://example.com/x.png  ",
    "“Hello” — World 東京 photo.JPG #123 1234567",
    "this-is-my-cute-cat_video",
    "Check @someone's post at www.site.org/path?q=1 and http://a.b.co/c",
    "<p>A <b>bold</b> dog</p> &quot;running&quot; on grass",
    "Ð¿Ñ€Ð¸Ð²ÐµÑ‚ a mojibake caption, server 192.168.0.1 at 12:30 ",
    "FREE SHIPPING!!! Buy now *** 30% off ### sale ### 1920x1080 image",
    "A cat\\nand a dog… on a ‘sunny’ day – 2 «friends»",
    "Stock photo - free download - high resolution - royalty free",
    "cute--cat...and,,,dog!!! ??? --- ___ (copy) [1] {x}",
    "img_2023_05_01.jpeg of a sunset over the ocean, 4k uhd",
    "page 1 of 10 - view 12345678 - ID: 99",
    "A caption with émojis 😀🎉 and ünïcödé, ½ cup, © 2020 ™",
    "    ",
    "ALL CAPS CAPTION WITH NUMBERS 42 AND 007",
]


def test_caption_cleaner_equals_diffusers_pixart_cleaner_on_hard_captions():
    """The original cleans captions with PixArt-α's code, which diffusers ships as `PixArtAlphaPipeline`'s (clean
    twice, as its `_text_preprocessing` does); `clean_caption` must stay equal to it."""
    from diffusers import PixArtAlphaPipeline

    pixart = PixArtAlphaPipeline.__new__(PixArtAlphaPipeline)  # the cleaner needs no component
    expected = pixart._text_preprocessing(HARD_CAPTIONS, clean_caption=True)
    assert [clean_caption(caption) for caption in HARD_CAPTIONS] == expected
    assert len(set(expected)) == len(expected)


def test_long_prompts_are_truncated_with_a_warning(pipe, caplog):
    long_prompt = " ".join(["a small red car driving"] * 40)
    diffusers_logging.enable_propagation()
    try:
        with caplog.at_level(logging.WARNING), torch.no_grad():
            embeds, mask, _, _ = pipe.encode_prompt(long_prompt, do_classifier_free_guidance=False)
    finally:
        diffusers_logging.disable_propagation()
    assert embeds.shape == (1, 120, 32) and mask.sum() == 120
    assert "max_sequence_length=120" in caplog.text and "truncated" in caplog.text


# Bad inputs ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"height": 100}, "height"),
        ({"width": 24}, "width"),
        ({"num_frames": 0}, "num_frames"),
        ({"num_inference_steps": 0}, "num_inference_steps"),
        ({"prompt_embeds": torch.zeros(1, 120, 32), "prompt_attention_mask": torch.ones(1, 120)}, "prompt_embeds"),
        ({"prompt": None, "prompt_embeds": torch.zeros(1, 120, 32)}, "prompt_attention_mask"),
        ({"prompt": None}, "prompt"),
        ({"prompt": 3}, "prompt"),
        ({"negative_prompt": "x", "negative_prompt_embeds": torch.zeros(1, 120, 32)}, "negative_prompt_embeds"),
        ({"output_type": "mp4"}, "output_type"),
        ({"guidance_channels": 5}, "guidance_channels"),
        ({"decode_chunk_size": 0}, "decode_chunk_size"),
        ({"max_sequence_length": 60}, "max_sequence_length"),
        ({"callback_on_step_end_tensor_inputs": ["noise"]}, "callback_on_step_end_tensor_inputs"),
        ({"generator": [torch.Generator()] * 2}, "generator"),
        ({"latents": torch.zeros(1, 4, 3, 2, 2)}, "latents"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_inputs_raise_value_error_naming_the_argument(pipe, overrides, argument):
    kwargs = {"prompt": PROMPTS[0], **SAMPLE, **overrides}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        pipe(**kwargs)


# Devices -------------------------------------------------------------------------------------------------------------


def test_model_cpu_offload_gives_the_same_video():
    if not (torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())):
        pytest.skip("model CPU offload moves each model to an accelerator when it runs; this machine has none")
    reference = tiny_pipeline()
    device = "cuda" if torch.cuda.is_available() else "xpu"
    expected = latents_of(reference.to(device), PROMPTS[0], seeded(0))
    offloaded = tiny_pipeline()
    offloaded.enable_model_cpu_offload()
    latents = latents_of(offloaded, PROMPTS[0], seeded(0))
    assert offloaded.transformer.device.type == "cpu"  # back on the CPU after the call
    torch.testing.assert_close(latents.cpu(), expected.cpu(), atol=1e-4, rtol=1e-4)
