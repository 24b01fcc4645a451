"""Captions from a video-capable vision-language model in transformers, a batch of clips per `generate` call.

Any model `AutoModelForImageTextToText` loads whose processor takes `videos=` and has a chat template works (LLaVA-
NeXT-Video, LLaVA-OneVision, Qwen2-VL, ...). Each clip gives `FRAMES` frames spread over it; decoding is greedy so a
re-run gives the same captions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..video.decoding import VideoDecodeError
from .frames import read_clip_frames

FRAMES = 8


class Captioner:
    def __init__(self, model_id: str, device: str = "cpu", prompt: str = "", max_new_tokens: int = 256):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.device = device
        self.processor = AutoProcessor.from_pretrained(model_id)
        # Batched generation continues each prompt from its last token: pad on the left.
        self.processor.tokenizer.padding_side = "left"
        self.model = AutoModelForImageTextToText.from_pretrained(model_id).to(device).eval()
        conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]}]
        self.prompt = self.processor.apply_chat_template(conversation, add_generation_prompt=True)
        self.max_new_tokens = max_new_tokens

    def __call__(self, paths: list[Path]) -> list[dict[str, Any]]:
        """One row per clip: `caption`, or `error` for a clip that cannot be decoded."""
        import torch

        rows, videos, readable = [], [], []
        for path in paths:
            try:
                videos.append(read_clip_frames(path, count=FRAMES))
                readable.append(path)
            except VideoDecodeError as error:
                rows.append({"clip": path.name, "error": str(error).splitlines()[0]})
        if not readable:
            return rows
        inputs = self.processor(text=[self.prompt] * len(videos), videos=videos, return_tensors="pt", padding=True).to(
            self.device
        )
        with torch.inference_mode():
            output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        texts = self.processor.batch_decode(output[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        rows.extend({"clip": path.name, "caption": text.strip()} for path, text in zip(readable, texts, strict=True))
        return rows
