"""Train a tiny MVDiT to memorise a few latent clips, then regenerate them from their prompts with the pipeline.

The end-to-end check that the training side (hybrid loss, noising, caption dropout to the null caption) and the
sampling side (IDDPM scheduler, learned variance, guidance against the null caption, `encode_prompt`) agree: a
sign, scale, timestep or null-caption mismatch between them leaves the regenerated latents far from their clips.
The training steps are the trainer's own functions; only the data is latents instead of streamed clips.
"""

from __future__ import annotations

import pytest
import torch

from openvid_hf.pipelines import MVDiTPipeline, MVDiTTransformer3DModel, default_scheduler
from openvid_hf.testing.tiny_pipeline import TINY_TEXT_CHANNELS, tiny_text_encoder, tiny_tokenizer, tiny_vae
from openvid_hf.training.loss import HybridDiffusionLoss
from openvid_hf.training.text_cache import encode_captions
from openvid_hf.training.trainer import drop_captions, micro_batch_generator, training_loss

PROMPTS = ("a red car driving through a forest at sunset", "a white boat on a quiet lake at night")
#: T5 tokens a prompt is padded to: the prompts are short, and fewer tokens make a step cheaper.
TEXT_TOKENS = 16
#: The tiny VAE's factor: latents of `size` are frames of `8 * size` pixels.
VAE_FACTOR = 8


def memorise(
    clips: torch.Tensor, prompts: tuple[str, ...], steps: int, repeats: int = 8, seed: int = 0
) -> MVDiTPipeline:
    """A tiny pipeline whose transformer (from `initialize_weights`) trained `steps` on `clips` and their prompts.

    `clips` are scaled latents `[B, 4, T, h, w]`; every batch holds each clip `repeats` times (at other timesteps and
    noise), which makes a step's gradient less noisy at little cost; captions drop out as in the trainer.
    """
    tokenizer = tiny_tokenizer()
    _, channels, frames, height, width = clips.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = MVDiTTransformer3DModel(
            in_channels=channels,
            out_channels=2 * channels,
            num_attention_heads=4,
            attention_head_dim=16,
            num_layers=2,
            caption_channels=TINY_TEXT_CHANNELS,
            sample_size=(height, width),
            num_frames=frames,
            max_text_length=TEXT_TOKENS,
        ).initialize_weights()
    pipeline = MVDiTPipeline(
        tokenizer=tokenizer,
        text_encoder=tiny_text_encoder(len(tokenizer), seed),
        vae=tiny_vae(seed),
        transformer=transformer,
        scheduler=default_scheduler(),
    )
    pipeline.set_progress_bar_config(disable=True)
    loss_fn = HybridDiffusionLoss.from_scheduler_config(pipeline.scheduler.config)
    batch = clips.repeat(repeats, 1, 1, 1, 1)
    hidden_states, mask = encode_captions(pipeline, list(prompts) * repeats, torch.device("cpu"), TEXT_TOKENS)
    optimizer = torch.optim.AdamW(transformer.parameters(), lr=3e-3)
    transformer.train()
    for step in range(steps):
        generator = micro_batch_generator(seed, 0, step, torch.device("cpu"))
        conditions = drop_captions(hidden_states, transformer.null_encoder_hidden_states, 0.1, generator)
        loss = training_loss(transformer, loss_fn, batch, conditions, mask, generator).loss.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    transformer.eval()
    return pipeline


def regenerate(pipeline: MVDiTPipeline, prompts: tuple[str, ...], like: torch.Tensor, steps: int) -> torch.Tensor:
    """The pipeline's final latents for `prompts`, shaped like the clips `like`."""
    _, _, frames, height, width = like.shape
    return pipeline(
        list(prompts),
        height=VAE_FACTOR * height,
        width=VAE_FACTOR * width,
        num_frames=frames,
        num_inference_steps=steps,
        guidance_scale=4.0,
        output_type="latent",
        max_sequence_length=TEXT_TOKENS,
        generator=torch.Generator().manual_seed(1),
    ).frames


def relative_errors(generated: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """`[i, j]`: distance from generated video i to clip j, relative to clip j's norm."""
    flat_generated, flat_clips = generated.flatten(1), clips.flatten(1)
    return torch.cdist(flat_generated, flat_clips) / flat_clips.norm(dim=1)


def latent_clips(count: int, frames: int, size: int) -> torch.Tensor:
    """Distinct unit-variance latent clips: each a random pattern that shifts one latent column a frame."""
    patterns = torch.randn(count, 4, 1, size, size, generator=torch.Generator().manual_seed(0))
    return torch.cat([patterns.roll(shifts=frame, dims=-1) for frame in range(frames)], dim=2)


def assert_regenerated(generated: torch.Tensor, clips: torch.Tensor, tolerance: float) -> None:
    errors = relative_errors(generated, clips)
    own = errors.diagonal()
    assert bool((own < tolerance).all()), f"relative errors to their own clips {own.tolist()} (tolerance {tolerance})"
    others = errors + torch.eye(len(clips)) * errors.max()
    assert bool((own < others.min(dim=1).values).all()), f"a prompt regenerated another clip: {errors.tolist()}"


def test_a_memorised_clip_comes_back_from_its_prompt():
    clips = latent_clips(len(PROMPTS), frames=2, size=2)
    untrained = memorise(clips, PROMPTS, steps=0)
    pipeline = memorise(clips, PROMPTS, steps=1000)
    untrained_errors = relative_errors(regenerate(untrained, PROMPTS, clips, steps=25), clips).diagonal()
    assert bool((untrained_errors > 0.9).all()), untrained_errors.tolist()
    assert_regenerated(regenerate(pipeline, PROMPTS, clips, steps=25), clips, tolerance=0.3)


@pytest.mark.slow
def test_four_memorised_clips_of_eight_frames_come_back_with_a_hundred_steps():
    prompts = (*PROMPTS, "a small dog running on the beach", "an old stone city in the fog")
    clips = latent_clips(len(prompts), frames=8, size=4)
    pipeline = memorise(clips, prompts, steps=3000)
    assert_regenerated(regenerate(pipeline, prompts, clips, steps=100), clips, tolerance=0.2)
