"""Captions from a vision-language model in transformers, a batch of clips per `generate` call.

Each clip is shown to the model as `frames` images spread over it, in order, followed by the prompt: any model
`AutoModelForImageTextToText` loads whose processor has a chat template and takes several images per prompt works
(LLaVA-OneVision, LLaVA-NeXT, Qwen2-VL, Idefics3, ...). Frames go in as images, not through transformers' video
processors, because those need torchvision, which has no wheel for the pinned CPU torch. Decoding is greedy, so a
re-run gives the same captions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..video.decoding import VideoDecodeError
from .frames import read_clip_frames

DEFAULT_FRAMES = 8


class Captioner:
    def __init__(
        self,
        model_id: str,
        device: str = "cpu",
        prompt: str = "",
        max_new_tokens: int = 256,
        frames: int = DEFAULT_FRAMES,
    ):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.device = device
        self.processor = AutoProcessor.from_pretrained(model_id)
        # Batched generation continues each prompt from its last token: pad on the left.
        self.processor.tokenizer.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(model_id).to(device).eval()
        content = [{"type": "image"}] * frames + [{"type": "text", "text": prompt}]
        conversation = [{"role": "user", "content": content}]
        self.frames = frames
        self.prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        self.max_new_tokens = max_new_tokens

    def __call__(self, paths: list[Path]) -> list[dict[str, Any]]:
        """One row per clip: `caption`, or `error` for a clip that cannot be decoded."""
        import torch

        rows, videos, readable = [], [], []
        for path in paths:
            try:
                clip = read_clip_frames(path, count=self.frames)
                # The prompt holds `frames` images: a clip with fewer frames shows some twice.
                videos.append([clip[round(i * (len(clip) - 1) / max(self.frames - 1, 1))] for i in range(self.frames)])
                readable.append(path)
            except VideoDecodeError as error:
                rows.append({"clip": path.name, "error": str(error).splitlines()[0]})
        if not readable:
            return rows
        prompts = [self.prompt] * len(videos)
        inputs = self.processor(text=prompts, images=videos, return_tensors="pt", padding=True).to(self.device)
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        texts = self.processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        rows.extend({"clip": path.name, "caption": text.strip()} for path, text in zip(readable, texts, strict=True))
        return rows
