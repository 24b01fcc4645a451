"""The demo's tiny model world: frames of the streamed training split, a VAE fitted to them, an MVDiT to train.

The real T5-XXL, SD VAE and MVDiT-XL/2 do not fit a 2-core offline demo, and random tiny ones learn nothing in
minutes: the VAE is frozen during training, so its latents must carry the frames' content before MVDiT can learn it.
So the demo fits a small diffusers `AutoencoderKL` (`openvid_hf.training.vae_fit`) to every frame of the training
clips, streamed back from the Hub with plain `datasets`, and starts MVDiT from the original's training initialisation
(`initialize_weights`). The text encoder stays the tiny random T5 of `testing.tiny_pipeline`, a fixed function of the
tokens, with a vocabulary trained on the captions' words (digits included, so every caption has tokens of its own).
Sizes are chosen for a 2-core CPU (docs/demo.md): 48x48 clips of 4 frames, a VAE with factor 4 (12x12 latents), a
4-layer width-64 MVDiT reading captions of 64 tokens (the released 120 cost a third of a training step for nothing:
the sample's longest caption is 55 tokens of this tokenizer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

    from ..pipelines import MVDiTPipeline

#: Square side of the training clips, of the generated video and of the frames the VAE is fitted to.
RESOLUTION = 48
#: Frames of a training clip and of the generated video, every 2nd source frame: the bar moves two steps a frame.
NUM_FRAMES = 4
FRAME_INTERVAL = 2
#: The VAE: three blocks (two downsamplings, factor 4), 4 latent channels as the SD VAE.
VAE_BLOCK_CHANNELS = (16, 32, 32)
LATENT_CHANNELS = 4
#: The tokenizer's vocabulary, trained on the captions' words (`tiny_tokenizer`).
VOCAB_SIZE = 300
#: Caption tokens: the sample's captions take at most 55 of this tokenizer's tokens, so none is truncated (the
#: "Shot N." that tells two captions apart comes last).
TEXT_TOKENS = 64
#: The transformer: 4 blocks of width 64 (4 heads of 16).
TRANSFORMER_CONFIG = {
    "num_attention_heads": 4,
    "attention_head_dim": 16,
    "num_layers": 4,
    "max_text_length": TEXT_TOKENS,
}


@dataclass(frozen=True)
class TrainingFrames:
    """Every frame of the training clips at `RESOLUTION`, unflipped, and which clip each came from."""

    frames: torch.Tensor  # [N, 3, H, W] in [-1, 1]
    clip_of_frame: torch.Tensor  # [N] index into `captions`
    captions: list[str]
    keys: list[str]


def load_training_frames(repo_id: str, resolution: int = RESOLUTION) -> TrainingFrames:
    """Stream the `train` split of `repo_id` with plain `datasets` and transform every frame as training does."""
    import random

    import datasets

    from ..progress import progress_bar
    from ..video.clips import ClipTransform

    transform = ClipTransform(resolution, flip_probability=0.0)
    stream = datasets.load_dataset(repo_id, split="train", streaming=True)
    frames, clip_of_frame, captions, keys = [], [], [], []
    total = stream.info.splits["train"].num_examples
    for example in progress_bar(stream, total=total, desc="Decoding training frames", unit="clip"):
        decoder = example["mp4"]
        clip = transform(decoder.get_frames_in_range(0, len(decoder)).data, random.Random(0))
        frames.append(clip.transpose(0, 1))
        clip_of_frame.append(torch.full((clip.shape[1],), len(captions)))
        captions.append(example["json"]["caption"])
        keys.append(example["__key__"])
    return TrainingFrames(torch.cat(frames), torch.cat(clip_of_frame), captions, keys)


def demo_vae(seed: int = 0) -> AutoencoderKL:
    """A fresh `AutoencoderKL` of the demo's size (fit it with `fit_vae` before use)."""
    from ..testing.tiny_pipeline import tiny_vae

    return tiny_vae(
        seed,
        block_out_channels=VAE_BLOCK_CHANNELS,
        latent_channels=LATENT_CHANNELS,
        norm_num_groups=8,
        sample_size=RESOLUTION,
    )


def base_pipeline(vae: AutoencoderKL, captions: Sequence[str], seed: int = 0) -> MVDiTPipeline:
    """The pipeline the demo trains: a tokenizer of the `captions`' words, tiny random T5, the fitted `vae`, and MVDiT
    at its training initialisation."""
    from ..pipelines import MVDiTPipeline, MVDiTTransformer3DModel, default_scheduler
    from ..testing.tiny_pipeline import TINY_TEXT_CHANNELS, TINY_WORDS, tiny_text_encoder, tiny_tokenizer

    words = sorted({*TINY_WORDS.split(), *(word for caption in captions for word in caption.split())})
    tokenizer = tiny_tokenizer(VOCAB_SIZE, words)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = MVDiTTransformer3DModel(
            in_channels=vae.config.latent_channels,
            out_channels=2 * vae.config.latent_channels,
            caption_channels=TINY_TEXT_CHANNELS,
            sample_size=(RESOLUTION // factor, RESOLUTION // factor),
            num_frames=NUM_FRAMES,
            **TRANSFORMER_CONFIG,
        ).initialize_weights()
    return MVDiTPipeline(
        tokenizer=tokenizer,
        text_encoder=tiny_text_encoder(len(tokenizer), seed),
        vae=vae.eval(),
        transformer=transformer.eval(),
        scheduler=default_scheduler(),
    )
