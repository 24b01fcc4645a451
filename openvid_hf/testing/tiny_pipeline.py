"""A complete `MVDiTPipeline` of tiny real components, built offline in about a second, deterministic from a seed.

Tests, the training tests and the demo use it where the real checkpoints (T5-XXL, the SD VAE, MVDiT-XL/2) are far
too big: a T5 tokenizer trained here with `tokenizers` (SentencePiece-style Unigram with `<pad>`, `</s>`, `<unk>`), a
2-layer `T5EncoderModel`, a 4-block `AutoencoderKL` (so the VAE factor is 8, as the SD VAE's) and a 2-layer
`MVDiTTransformer3DModel` with every parameter drawn at random (the original init zeroes some), so every module
shapes the output.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, SchedulerMixin
    from transformers import T5EncoderModel, T5TokenizerFast

    from ..pipelines import MVDiTPipeline, MVDiTTransformer3DModel

#: Frame size and frame count the tiny pipeline is built for (2x2 latents: one 2x2 patch a frame).
TINY_HEIGHT = TINY_WIDTH = 16
TINY_NUM_FRAMES = 2
TINY_TEXT_CHANNELS = 32
TINY_VOCAB_SIZE = 160
#: Standard deviation of every random weight: outputs of about unit scale, so a few guided steps stay finite.
TINY_WEIGHT_STD = 0.05
#: The SD VAE's latent scaling, so latents are scaled as in the real pipeline.
SD_VAE_SCALING_FACTOR = 0.18215

#: What the tiny tokenizer's vocabulary is trained on: caption words, each once (HF's Unigram trainer keeps whole
#: words from a list of distinct words; from repetitive sentences it keeps mostly characters).
TINY_WORDS = """
the a an of in on at with under over near through across beside behind between slowly quickly gently cat cats dog dogs
bird birds horse horses man woman child children car cars boat boats train trains city cities forest forests river
rivers mountain mountains beach beaches ocean lake lakes street streets garden gardens running walking jumping sleeping
flying swimming dancing playing singing cooking reading painting driving sunset sunrise night morning evening rain snow
fog light lights shadow shadows camera pans zooms tilts shot close-up aerial view slow motion static wide angle bright
dark colorful red blue green yellow white black golden old young small large tall short beautiful quiet busy crowded
empty ancient modern wooden stone glass
"""


def tiny_tokenizer(vocab_size: int = TINY_VOCAB_SIZE, words: Iterable[str] | None = None) -> T5TokenizerFast:
    """A T5 tokenizer (pad 0, eos 1, unk 2) with a Unigram vocabulary trained on `words` (deterministic).

    `words` default to `TINY_WORDS`; a model that must tell captions apart passes their words (the default vocabulary
    has no digits, so "Shot 2." and "Shot 12." both read as `<unk>`).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import T5TokenizerFast

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>", show_progress=False
    )
    tokenizer.train_from_iterator(TINY_WORDS.split() if words is None else list(words), trainer=trainer)
    vocabulary = [tuple(entry) for entry in json.loads(tokenizer.to_str())["model"]["vocab"]]
    return T5TokenizerFast(vocab=vocabulary, extra_ids=0, model_max_length=512)


def tiny_text_encoder(vocab_size: int, seed: int = 0) -> T5EncoderModel:
    """A 2-layer T5 v1.1-style encoder (gated GELU) of width `TINY_TEXT_CHANNELS`."""
    import torch
    from transformers import T5Config, T5EncoderModel

    config = T5Config(
        vocab_size=vocab_size,
        d_model=TINY_TEXT_CHANNELS,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        feed_forward_proj="gated-gelu",
        dropout_rate=0.0,
        is_encoder_decoder=False,
        use_cache=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return T5EncoderModel(config).eval()


def tiny_vae(seed: int = 0, **config: Any) -> AutoencoderKL:
    """A 4-block `AutoencoderKL` (3 downsamplings: factor 8, 4 latent channels, the SD VAE's scaling factor);
    `config` overrides, the block types following `block_out_channels`."""
    import torch
    from diffusers import AutoencoderKL

    config = {
        "block_out_channels": (8, 8, 16, 16),
        "layers_per_block": 1,
        "latent_channels": 4,
        "norm_num_groups": 4,
        "sample_size": TINY_HEIGHT,
        "scaling_factor": SD_VAE_SCALING_FACTOR,
        **config,
    }
    blocks = len(config["block_out_channels"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * blocks,
            up_block_types=("UpDecoderBlock2D",) * blocks,
            **config,
        ).eval()


def tiny_transformer(seed: int = 0, **config: Any) -> MVDiTTransformer3DModel:
    """A 2-layer, width-32 MVDiT with every parameter (and the null caption) random; `config` overrides."""
    import torch

    from ..pipelines import MVDiTTransformer3DModel

    config = {
        "num_attention_heads": 2,
        "attention_head_dim": 16,
        "num_layers": 2,
        "caption_channels": TINY_TEXT_CHANNELS,
        "max_text_length": 120,
        "sample_size": (TINY_HEIGHT // 8, TINY_WIDTH // 8),
        "num_frames": TINY_NUM_FRAMES,
        **config,
    }
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MVDiTTransformer3DModel(**config)
        with torch.no_grad():
            for tensor in [*model.parameters(), model.null_encoder_hidden_states]:
                tensor.normal_(0, TINY_WEIGHT_STD)
    return model.eval()


def tiny_components(seed: int = 0, **transformer_config: Any) -> dict[str, Any]:
    """The five components of `MVDiTPipeline`, the scheduler being the default (the original sampler's)."""
    from ..pipelines import default_scheduler

    tokenizer = tiny_tokenizer()
    return {
        "tokenizer": tokenizer,
        "text_encoder": tiny_text_encoder(len(tokenizer), seed),
        "vae": tiny_vae(seed),
        "transformer": tiny_transformer(seed, **transformer_config),
        "scheduler": default_scheduler(),
    }


def tiny_pipeline(seed: int = 0, scheduler: SchedulerMixin | None = None, **transformer_config: Any) -> MVDiTPipeline:
    """`MVDiTPipeline` of `tiny_components`; generate with `height=TINY_HEIGHT, width=TINY_WIDTH` and a few steps."""
    from ..pipelines import MVDiTPipeline

    components = tiny_components(seed, **transformer_config)
    if scheduler is not None:
        components["scheduler"] = scheduler
    pipeline = MVDiTPipeline(**components)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
