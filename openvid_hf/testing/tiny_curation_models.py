"""Tiny random-weight models of the real classes the curation's model stages load, for tests served by the local Hub.

A CLIP vision tower with projection and its image processor (temporal consistency, aesthetics), a one-layer
aesthetic head in the predictor's file layout, and a LLaVA-NeXT captioner (CLIP vision + Llama text) with a
word-level tokenizer and a chat template. Each saves to a folder; each builds in well under a second,
deterministically from its seed. `upload_tiny_curation_models` puts them all on a Hub.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from huggingface_hub import HfApi

#: Side of the images the tiny vision towers take.
TINY_IMAGE_SIZE = 32
TINY_EMBED_DIM = 8
#: The aesthetic head `upload_tiny_curation_models` saves: one linear layer over the tiny CLIP's embedding.
TINY_HEAD_WEIGHT = (0.5, -1.0, 2.0, 0.25, -0.75, 1.5, 0.1, -0.3)
TINY_HEAD_BIAS = 5.0
#: The head's file in each format the predictor is read from, beside the tiny CLIP.
TINY_HEAD_FILES = ("head.safetensors", "head.pth")
_SPECIAL_TOKENS = ("<unk>", "<pad>", "<s>", "</s>", "<image>")
_WORDS = "USER ASSISTANT : a the video shows camera pans left right over texture colour detail scene moves slowly"
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: {% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<image> {% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %} {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


def _vision_config():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=TINY_IMAGE_SIZE,
        patch_size=8,
        projection_dim=TINY_EMBED_DIM,
    )


def _image_size() -> dict:
    return {
        "size": {"shortest_edge": TINY_IMAGE_SIZE},
        "crop_size": {"height": TINY_IMAGE_SIZE, "width": TINY_IMAGE_SIZE},
    }


def save_tiny_clip(folder: str | Path, seed: int = 0) -> Path:
    """A `CLIPVisionModelWithProjection` and a `CLIPImageProcessor`, saved to `folder`."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    CLIPVisionModelWithProjection(_vision_config()).eval().save_pretrained(folder)
    CLIPImageProcessor(**_image_size()).save_pretrained(folder)
    return Path(folder)


def save_tiny_aesthetic_head(folder: str | Path, weight: list[float], bias: float, name: str) -> Path:
    """A one-layer linear head over `TINY_EMBED_DIM` features, in the LAION predictor's key layout."""
    import torch
    from safetensors.torch import save_file

    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"layers.0.weight": torch.tensor([weight]), "layers.0.bias": torch.tensor([bias])}
    if name.endswith(".safetensors"):
        save_file(state, path)
    else:
        torch.save(state, path)
    return path


def save_tiny_captioner(folder: str | Path, seed: int = 0) -> Path:
    """A `LlavaNextForConditionalGeneration` and its `LlavaNextProcessor` (word-level tokenizer), saved to `folder`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessorPil,
        LlavaNextProcessor,
        PreTrainedTokenizerFast,
    )

    vocabulary = {token: index for index, token in enumerate((*_SPECIAL_TOKENS, *_WORDS.split()))}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=["<image>"],
    )
    grid = [[TINY_IMAGE_SIZE, TINY_IMAGE_SIZE]]
    processor = LlavaNextProcessor(
        image_processor=LlavaNextImageProcessorPil(**_image_size(), image_grid_pinpoints=grid),
        tokenizer=tokenizer,
        chat_template=_CHAT_TEMPLATE,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
    )
    text = LlamaConfig(
        vocab_size=len(vocabulary),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        pad_token_id=vocabulary["<pad>"],
        bos_token_id=vocabulary["<s>"],
        eos_token_id=vocabulary["</s>"],
    )
    config = LlavaNextConfig(
        vision_config=_vision_config(),
        text_config=text,
        image_token_index=vocabulary["<image>"],
        image_grid_pinpoints=grid,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    LlavaNextForConditionalGeneration(config).eval().save_pretrained(folder)
    processor.save_pretrained(folder)
    return Path(folder)


def upload_tiny_curation_models(api: HfApi, folder: str | Path) -> dict[str, str]:
    """The tiny CLIP (with the aesthetic head in each of `TINY_HEAD_FILES`) and the tiny captioner, saved under
    `folder` and uploaded through `api`: their repo ids, by `clip` and `captioner`."""
    clip = save_tiny_clip(Path(folder) / "clip")
    for name in TINY_HEAD_FILES:
        save_tiny_aesthetic_head(clip, list(TINY_HEAD_WEIGHT), TINY_HEAD_BIAS, name)
    saved = {"clip": clip, "captioner": save_tiny_captioner(Path(folder) / "captioner")}
    repos = {name: f"openvid-tests/curation-tiny-{name}" for name in saved}
    for name, path in saved.items():
        api.create_repo(repos[name], exist_ok=True)
        api.upload_folder(folder_path=path, repo_id=repos[name])
    return repos
